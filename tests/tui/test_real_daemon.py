"""The seed's workflow by keyboard against a real demo daemon (DESIGN.md, steps 1 to 4).

A fresh embedded demo (simulated BEX PMS over HTTP, sandbox ledger, real RPC server) runs in
this event loop with its clock frozen; the app talks to it through a ``ReconnectingClient``
over the Unix socket, as ``bexsync demo`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bexsync_tui.app import BexsyncApp
from bexsync_tui.client import ReconnectingClient
from bexsync_tui.screens.configuration_view import ConfigurationViewScreen
from bexsync_tui.screens.configurations import ConfigurationsScreen
from bexsync_tui.screens.entries import EntriesScreen
from bexsync_tui.screens.entry_detail import EntryDetailScreen
from bexsync_tui.screens.preview import PreviewScreen
from bexsync_tui.widgets.tables import LinesTable
from tests.support.daemon import demo_daemon
from tests.tui.daemon import frozen_clock, test_daemon_on
from tests.tui.helpers import record_toasts, screen_text, toasts, wait_text, wait_toast, wait_until

NEW_DESCRIPTION = "Cash corrected"
MOVED = Decimal("100.00")


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[Any, ReconnectingClient]]:
    async with demo_daemon(tmp_path, clock=frozen_clock) as (daemon, _):
        client = ReconnectingClient(str(daemon.socket_path), client_name="bexsync-tui-test")
        try:
            yield daemon, client
        finally:
            await client.close()


def hold_posting(daemon: Any) -> asyncio.Event:
    """Runs wait just before posting until the event is set (test-only wrapper)."""
    gate = asyncio.Event()
    post = daemon.engine._post

    async def held(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await post(*args, **kwargs)

    daemon.engine._post = held
    return gate


async def replace_field(pilot: Any, tabs: int, text: str) -> None:
    """In the open line editor: move ``tabs`` fields on, clear the field, type ``text``."""
    await pilot.press(*["tab"] * tabs, "end", "ctrl+u", *text)


async def settle(pilot: Any, screen: PreviewScreen) -> None:
    await wait_until(
        pilot,
        lambda: screen.editing is None and not screen.dirty and not screen.validating,
        what="the daemon to re-validate the draft",
    )


async def test_the_seed_workflow_by_keyboard(
    demo: tuple[Any, ReconnectingClient], tmp_path: Path
) -> None:
    daemon, client = demo
    gate = hold_posting(daemon)  # the catch-up posts once the app is there to see it
    app = BexsyncApp(
        client=client,
        socket_path=daemon.socket_path,
        keymap={},
        keymap_path=tmp_path / "tui.toml",
        sixteen_colours=False,
    )
    record_toasts(app)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        # 1. The authorisations list; the start-up catch-up (101's last ten days) finishes
        #    meanwhile and is summed up in one toast, not one toast per day.
        text = await wait_text(pilot, "Demo sandbox", "● connected")
        row = next(line for line in text.splitlines() if "Demo sandbox" in line)
        assert "sandbox" in row.split("Demo sandbox", 1)[1] and "active" in row
        await wait_until(pilot, lambda: len(app.configurations) == 3, what="the labels")
        gate.set()
        # On a busy machine the catch-up outlasts the gathering window and the summary comes in
        # two parts (the second maybe a few single toasts): still far fewer toasts than days.
        await wait_toast(pilot, "Administration 101 → BEX (configuration 1) 2025-03-14")
        posted = [t for t in toasts(app) if "posted" in t]
        assert any("entries posted" in t for t in posted) and len(posted) <= 4, posted
        app.clear_notifications()

        # 2-3. Open it: its configurations by administration number; open 102 (manual).
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfigurationsScreen))
        text = await wait_text(pilot, "› Configurations", "101", "102", "103")
        rows = [line.split() for line in text.splitlines() if line[:4].strip().isdigit()]
        assert [(row[0], row[1]) for row in rows] == [("1", "101"), ("2", "102"), ("3", "103")]
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfigurationViewScreen))
        text = await wait_text(pilot, "Administration 102", "monthly", "no (manual)")

        # 4. Preview the first due month: lines from the PMS, balanced.
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen))
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        await wait_text(pilot, "Period 2024-12", "✓ balanced")
        lines = preview.draft["lines"] if preview.draft else []
        cash = next(i for i, line in enumerate(lines) if line["account"] == "1000")
        card = next(i for i, line in enumerate(lines) if line["account"] == "1020")
        cash_debit = Decimal(lines[cash]["debit"])
        card_debit = Decimal(lines[card]["debit"])
        table = preview.query_one("#lines-table", LinesTable)

        # Change the cash line's description and move 100.00 of its debit to the card line.
        await pilot.press(*["down"] * (cash - table.cursor_row), "enter")
        await wait_until(pilot, lambda: preview.editing == cash, what="the editor on cash")
        await replace_field(pilot, 1, NEW_DESCRIPTION)
        await replace_field(pilot, 2, str(cash_debit - MOVED))
        await wait_until(pilot, lambda: "off by 100.00" in screen_text(app), what="off by")
        await pilot.press("enter")
        await settle(pilot, preview)
        assert not preview.draft["balanced"]  # the daemon agrees: unbalanced, not postable
        assert not preview.can_post
        await pilot.press(*["down"] * (card - table.cursor_row), "enter")
        await wait_until(pilot, lambda: preview.editing == card, what="the editor on card")
        await replace_field(pilot, 3, str(card_debit + MOVED))
        await pilot.press("enter")
        await settle(pilot, preview)
        assert preview.draft["balanced"] and not preview.draft["errors"]
        assert "✓ balanced" in screen_text(app)
        corrected = preview.draft["lines"]
        assert corrected[cash]["description"] == NEW_DESCRIPTION
        assert corrected[cash]["debit"] == f"{cash_debit - MOVED:.2f}"
        assert corrected[card]["debit"] == f"{card_debit + MOVED:.2f}"

        # Post: the configuration view shows the run's progress (held before posting) until
        # it has posted.
        gate.clear()
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfigurationViewScreen))
        await wait_text(pilot, "Syncing 2024-12 · checking draft", "c Cancel sync")
        text = await wait_text(pilot, "building")  # the recent runs list follows live
        row = next(line for line in text.splitlines() if line.startswith(" 2024-12 "))
        assert "manual" in row and "building" in row and "queued" not in row
        gate.set()
        toast = await wait_toast(
            pilot, "Administration 102 → BEX (configuration 2) 2024-12: entry posted. Press v"
        )
        assert toast.startswith("Sync finished")
        app.clear_notifications()  # toasts cover the right half of the screen
        await wait_until(
            pilot, lambda: "Syncing 2024-12" not in screen_text(app), what="the progress to end"
        )
        # The daemon's notification is counted and listed.
        await pilot.press("3")
        await wait_text(pilot, "Posted 102 2024-12")

        # The entries overview, on the new entry; its lines carry the correction.
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, EntriesScreen))
        entries = app.screen.query_one("#entries-table")
        await wait_until(
            pilot,
            lambda: (entries.current_row or {}).get("period") == "2024-12",
            what="the cursor on 102's 2024-12 entry",
        )
        assert entries.current_row["administration_number"] == "102"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EntryDetailScreen))
        text = await wait_text(pilot, "administration 102", NEW_DESCRIPTION)
        total = Decimal(preview.draft["totals"]["debit"])
        assert f"debit {total:.2f} · credit {total:.2f}" in text
        row = next(line for line in text.splitlines() if NEW_DESCRIPTION in line)
        assert row.split()[0] == "1000" and f"{cash_debit - MOVED:.2f}" in row
        posted = await client.call("entries.get", {"id": entries.current_row["id"]})
        by_account = {line["account"]: line for line in posted["lines"]}
        assert by_account["1000"]["description"] == NEW_DESCRIPTION
        assert by_account["1020"]["debit"] == f"{card_debit + MOVED:.2f}"


async def test_a_new_line_is_checked_against_the_providers_chart(
    real_template: Path, tmp_path: Path
) -> None:
    """A line added by hand: blank VAT means no VAT; an account the sandbox ledger lacks is
    named in the daemon's error and blocks posting until the line is removed."""
    async with test_daemon_on(real_template) as real:
        app = BexsyncApp(
            client=real.client, keymap={}, keymap_path=tmp_path / "tui.toml", sixteen_colours=False
        )
        record_toasts(app)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await wait_text(pilot, "Demo sandbox")
            await pilot.press("enter")
            await wait_text(pilot, "› Configurations", "102")
            await pilot.press("down", "enter")
            await wait_text(pilot, "Administration 102", "p Preview")
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen))
            preview = app.screen
            assert isinstance(preview, PreviewScreen)
            await wait_text(pilot, "Period 2025-02", "✓ balanced")
            await pilot.press("n")  # the editor opens on the new line, in its account field
            await wait_until(pilot, lambda: preview.editing is not None, what="the editor")
            await pilot.press(*"9999", "tab", *"Rounding", "tab", "tab", *"0.01", "enter")
            await settle(pilot, preview)
            problems = [e["message"] for e in preview.draft["errors"]]
            assert any("no account 9999" in m for m in problems), problems
            assert not any("tax code" in m for m in problems), problems  # blank VAT: no VAT
            assert not preview.can_post
            text = screen_text(app)
            assert "Error: " in text and "9999" in text
            await pilot.press("x")  # remove the highlighted (new) line
            await settle(pilot, preview)
            await wait_until(pilot, lambda: preview.can_post, what="postable again")
