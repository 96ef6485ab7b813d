"""Entries overview: newest first, filters, paging for big histories, an entry's lines."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input, Select

from bexsync_tui.screens.entries import PAGE_SIZE, EntriesScreen
from bexsync_tui.screens.entry_detail import EntryDetailScreen
from bexsync_tui.widgets.virtual_table import VirtualTable
from tests.tui.helpers import choices, screen_text, wait_text, wait_until


async def open_entries(pilot: Any) -> tuple[EntriesScreen, VirtualTable]:
    await wait_text(pilot, "Demo sandbox")
    await pilot.press("2")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntriesScreen))
    screen = pilot.app.screen
    table = screen.query_one("#entries-table", VirtualTable)
    await wait_until(pilot, lambda: len(table.rows) > 0, what="entries")
    return screen, table


async def test_overview_lists_entries_newest_first(run_app: Any) -> None:
    async with run_app() as pilot:
        _, table = await open_entries(pilot)
        ids = [row["id"] for row in table.rows]
        assert ids == sorted(ids, reverse=True)
        text = await wait_text(pilot, "Entries overview", "entries · Enter opens")
        first = table.rows[0]
        line = next(x for x in text.splitlines() if str(first["external_id"]) in x)
        # Right-aligned money, exactly as sent (the scrollbar may follow).
        assert line.rstrip().rstrip("▁▂▃▄▅▆▇█▏▕ ").endswith(" " + first["total"])


async def test_filter_by_configuration_and_period(run_app: Any) -> None:
    async with run_app() as pilot:
        screen, table = await open_entries(pilot)
        configurations = {
            c["administration_number"]: c["id"]
            for c in await pilot.app.client.call("configurations.list", {})
        }
        select = screen.query_one("#filter-configuration", Select)
        await wait_until(pilot, lambda: len(choices(select)) > 1, what="the configuration list")
        select.value = str(configurations["102"])
        await wait_until(
            pilot,
            lambda: table.rows and {r["administration_number"] for r in table.rows} == {"102"},
            what="only 102",
        )
        screen.query_one("#filter-period", Input).value = "2025-01"
        await wait_until(
            pilot,
            lambda: [r["period"] for r in table.rows] == ["2025-01"],
            what="only 102 in 2025-01",
        )
        select.value = "*"  # all configurations, still January 2025
        await wait_until(
            pilot,
            lambda: (
                table.rows
                and all(r["period"].startswith("2025-01") for r in table.rows)
                and len({r["administration_number"] for r in table.rows}) > 1
            ),
            what="January of every configuration",
        )


async def test_open_an_entry_to_see_its_lines(run_app: Any) -> None:
    async with run_app() as pilot:
        _, table = await open_entries(pilot)
        entry = table.rows[0]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntryDetailScreen))
        text = await wait_text(pilot, f"Entry #{entry['id']}", "lines · debit")
        assert f"total {entry['total']}" in text
        assert f"debit {entry['total']} · credit {entry['total']}" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntriesScreen))
        assert table.cursor == 0  # the user's place is kept


@pytest.fixture
def daemon_options() -> dict[str, Any]:
    return {"entries": 3 * PAGE_SIZE}


async def test_pages_load_as_the_cursor_nears_the_end(run_app: Any, backend: Any) -> None:
    total = (await backend.client.call("daemon.status"))["counts"]["entries"]
    assert total > 3 * PAGE_SIZE
    async with run_app() as pilot:
        _, table = await open_entries(pilot)
        assert len(table.rows) == PAGE_SIZE and not table.complete
        first_calls = len(backend.calls("entries.list"))
        await pilot.press("end")
        await wait_until(pilot, lambda: len(table.rows) > PAGE_SIZE, what="the second page")
        for _ in range(4):
            await pilot.press("end")
            await pilot.pause(0.05)
        await wait_until(pilot, lambda: table.complete, what="every page")
        assert len(table.rows) == total
        offsets = [c["offset"] for c in backend.calls("entries.list")[first_calls - 1 :]]
        assert offsets == [0, PAGE_SIZE, 2 * PAGE_SIZE, 3 * PAGE_SIZE]
        last = await backend.client.call("entries.list", {"limit": 1, "offset": total - 1})
        assert last[0]["external_id"] in screen_text(pilot.app)  # the last entry is on screen
