"""Preview and correct: edit lines, live balance with Decimal, post only when balanced."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from bexsync_tui.screens.configuration_view import ConfigurationViewScreen
from bexsync_tui.screens.preview import PreviewScreen
from bexsync_tui.widgets.tables import LinesTable
from tests.tui.helpers import screen_text, wait_text, wait_toast, wait_until
from tests.tui.test_configurations import open_configuration


async def open_preview(pilot: Any) -> PreviewScreen:
    await open_configuration(pilot, "102")
    await pilot.press("p")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.draft is not None, what="the draft")
    return screen


def balance_line(pilot: Any) -> str:
    lines = screen_text(pilot.app).splitlines()
    return next(line for line in lines if line.lstrip().startswith("Debit "))


async def test_preview_lists_lines_sources_and_warnings(run_app: Any) -> None:
    async with run_app() as pilot:
        screen = await open_preview(pilot)
        text = await wait_text(pilot, "Period 2025-02", "✓ balanced")
        assert "transactions" in text and "invoices" in text
        assert "Warning:" in text and "2025-02" in text  # the date split is flagged
        table = screen.query_one("#lines-table", LinesTable)
        assert table.row_count == len(screen.draft["lines"]) >= 2
        # Money stays the daemon's strings, right-aligned in its column.
        first = screen.draft["lines"][0]
        line = next(x for x in text.splitlines() if x.lstrip().startswith(first["account"]))
        assert line.rstrip().endswith(first["credit"])
        assert first["debit"] in line


async def test_an_edit_unbalances_and_post_is_refused_until_fixed(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        screen = await open_preview(pilot)
        await wait_text(pilot, "✓ balanced", "p Post")
        original = screen.draft["lines"][0]["debit"]
        await pilot.press("enter")  # edit the first line
        debit = screen.query_one("#edit-debit", Input)
        await wait_until(pilot, lambda: screen.query_one("#editor").display)
        debit.value = "10.00"
        await wait_until(pilot, lambda: "off by" in balance_line(pilot), what="live balance")
        await pilot.press("enter")  # apply: the daemon re-validates
        await wait_until(pilot, lambda: not screen.dirty and not screen.validating)
        assert not screen.draft["balanced"] and "off by" in balance_line(pilot)
        await pilot.press("p")  # refused, and it says why: nothing is posted
        await wait_toast(pilot, "does not balance")
        assert backend.calls("syncs.run") == []
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.query_one("#editor").display)
        screen.query_one("#edit-debit", Input).value = original
        await wait_until(pilot, lambda: "✓ balanced" in balance_line(pilot))
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.can_post, what="a postable draft")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
        assert backend.calls("syncs.run")[0]["draft_id"] == screen.draft["id"]
        await wait_toast(pilot, "entry posted")


async def test_escape_reverts_an_edit(run_app: Any) -> None:
    async with run_app() as pilot:
        screen = await open_preview(pilot)
        await wait_text(pilot, "✓ balanced")
        before = dict(screen.lines[1])
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: screen.query_one("#editor").display)
        screen.query_one("#edit-credit", Input).value = "0.1"
        screen.query_one("#edit-debit", Input).value = "0.2"
        await wait_until(pilot, lambda: "off by" in balance_line(pilot))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.query_one("#editor").display)
        assert screen.lines[1] == before and "✓ balanced" in balance_line(pilot)
        assert isinstance(pilot.app.screen, PreviewScreen)
        assert screen.can_post


async def test_new_line_with_unknown_account_is_an_error_from_the_daemon(run_app: Any) -> None:
    async with run_app() as pilot:
        screen = await open_preview(pilot)
        await wait_text(pilot, "✓ balanced")
        await pilot.press("n")
        await wait_until(pilot, lambda: screen.query_one("#editor").display)
        screen.query_one("#edit-account", Input).value = "9999"
        screen.query_one("#edit-description", Input).value = "Rounding"
        await pilot.press("enter")
        text = await wait_text(pilot, "Error:", "9999")
        assert "has no account 9999" in text
        assert not screen.can_post
        await pilot.press("x")  # remove the highlighted (new) line
        await wait_until(pilot, lambda: screen.can_post, what="postable again")
