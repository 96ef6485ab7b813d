"""Fault 8: names and titles are not cut where the terminal has room for them; at 80x24 the
last preview warning can be scrolled to; at 60 columns the amounts stay in view."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widget import Widget
from textual.widgets import DataTable

from bexsync_tui.screens.entry_detail import EntryDetailScreen
from bexsync_tui.screens.preview import PreviewScreen
from tests.tui.helpers import screen_text, wait_text, wait_until
from tests.tui.test_configurations import open_configurations
from tests.tui.test_period import open_period, type_period


async def test_names_and_titles_use_the_room_at_120_columns(run_app: Any, backend: Any) -> None:
    configurations = await backend.client.call("configurations.list", {})
    name = next(c for c in configurations if c["administration_number"] == "102")
    async with run_app(size=(120, 35)) as pilot:
        await open_configurations(pilot)
        await wait_text(pilot, name["administration_name"])  # whole, not cut
        await pilot.press("3")
        notes = await backend.client.call("notifications.list", {})
        newest = notes[0]["title"]
        await wait_text(pilot, newest[:80])  # as much as the room allows, not cut at 44


async def preview_of(pilot: Any, number: str, period: str) -> PreviewScreen:
    """The preview of ``period``, opened as a user does: t, the period, Enter."""
    screen = await open_period(pilot, number)
    await type_period(pilot, screen, period)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
    preview = pilot.app.screen
    await wait_until(pilot, lambda: preview.draft is not None, what="the draft")
    return preview


def in_view(widget: Widget, within: Widget) -> bool:
    """Every cell of ``widget`` is on screen, inside the part of ``within`` that shows."""
    region = widget.region
    return (
        bool(region)
        and within.region.contains_region(region)
        and (widget.screen.region.contains_region(region))
    )


async def test_the_last_preview_warning_can_be_scrolled_to_at_80x24(run_app: Any) -> None:
    async with run_app(size=(80, 24)) as pilot:
        preview = await preview_of(pilot, "103", "2025-03")  # 1 error, 2 warnings
        await wait_text(pilot, "Error:")
        codes = [w["code"] for w in preview.draft["warnings"]]
        assert sorted(codes) == ["date_split", "not_due"]  # not_due is shown first
        last = preview.draft["warnings"][codes.index("date_split")]
        end = " ".join(last["message"].split()[-2:])  # its last words
        assert end not in screen_text(pilot.app).replace("\n ", " ")  # below the panel's end
        await pilot.press("tab")  # from the lines to the warnings
        await pilot.press("end")
        await wait_until(
            pilot,
            lambda: end in " ".join(screen_text(pilot.app).split()),
            what="the last warning's end on screen",
        )
        panel = preview.query_one("#problems")
        assert pilot.app.focused is panel
        shown = panel.query(".problem").last()
        assert str(shown.render()).endswith(last["message"]) and in_view(shown, panel)


@pytest.mark.parametrize("where", ["preview", "entry"])
async def test_debit_and_credit_stay_in_view_at_60_columns(run_app: Any, where: str) -> None:
    async with run_app(size=(60, 24)) as pilot:
        if where == "preview":
            screen = await preview_of(pilot, "102", "2025-02")
            table = screen.query_one("#lines-table", DataTable)
            await wait_text(pilot, "✓ balanced")
        else:
            await pilot.press("2")
            await wait_text(pilot, "entries")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntryDetailScreen))
            table = pilot.app.screen.query_one("#entry-lines", DataTable)
            await wait_until(pilot, lambda: table.row_count > 0, what="the entry's lines")
        text = await wait_text(pilot, "Debit", "Credit")
        header = next(line for line in text.splitlines() if "Account" in line)
        assert header.rstrip().endswith("Credit") and len(header) <= 60, header
        assert table.virtual_size.width <= table.size.width  # nothing to scroll sideways to
        # The amounts show whole, the credit last on each line.
        first = [str(cell) for cell in table.get_row_at(0)]
        line = next(x for x in text.splitlines() if x.lstrip().startswith(first[0] + " "))
        assert line.rstrip().endswith(first[-1]) and first[-2] in line, line


async def test_the_entries_overview_keeps_its_totals_at_60_columns(
    run_app: Any, backend: Any
) -> None:
    entries = await backend.client.call("entries.list", {})
    async with run_app(size=(60, 24)) as pilot:
        await pilot.press("2")
        text = await wait_text(pilot, f"{len(entries)} entries")
        header = next(line for line in text.splitlines() if "Admin" in line)
        assert header.split()[:4] == ["Date", "#", "Admin", "Period"], header
        assert header.rstrip().endswith("Total") and len(header) <= 60, header
        newest = next(x for x in text.splitlines() if x.startswith(f" {entries[0]['date']} "))
        assert newest.rstrip().endswith(entries[0]["total"]), newest
