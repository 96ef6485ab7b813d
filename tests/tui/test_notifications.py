"""Notifications: the unread count is always visible; "View" jumps to the entry."""

from __future__ import annotations

from typing import Any

from bexsync_tui.screens.entries import EntriesScreen
from bexsync_tui.screens.notifications import NotificationsScreen
from bexsync_tui.widgets.virtual_table import VirtualTable
from tests.tui.helpers import screen_text, wait_text, wait_toast, wait_until
from tests.tui.test_configurations import open_configuration


async def open_notifications(pilot: Any) -> NotificationsScreen:
    await wait_text(pilot, "Demo sandbox")
    await pilot.press("3")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, NotificationsScreen))
    await wait_text(pilot, "Sync posted")
    return pilot.app.screen


def top_line(pilot: Any) -> str:
    return screen_text(pilot.app).splitlines()[0]


async def test_unread_count_is_visible_on_every_screen(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "3 Notifications (2)")
        await open_configuration(pilot, "101")
        assert "3 Notifications (2)" in top_line(pilot)
        await pilot.press("2")
        await wait_text(pilot, "Entries overview")
        assert "3 Notifications (2)" in top_line(pilot)


async def test_view_jumps_to_the_entry_and_marks_it_read(run_app: Any) -> None:
    async with run_app() as pilot:
        screen = await open_notifications(pilot)
        posted = next(n for n in screen.items.values() if n["title"].startswith("Sync failed"))
        link = posted["link"]
        keys = list(screen.items)
        await pilot.press(*["down"] * keys.index(str(posted["id"])), "enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntriesScreen))
        table = pilot.app.screen.query_one("#entries-table", VirtualTable)
        await wait_until(
            pilot,
            lambda: table.current_row is not None and table.current_row["id"] == link["entry_id"],
            what="the cursor on the linked entry",
        )
        assert {r["configuration_id"] for r in table.rows} == {link["configuration_id"]}
        await wait_until(pilot, lambda: "3 Notifications (1)" in top_line(pilot), what="(1)")


async def test_mark_all_read_clears_the_count(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_notifications(pilot)
        await pilot.press("M")
        await wait_until(pilot, lambda: "(2)" not in top_line(pilot), what="the count to go")
        assert "3 Notifications " in top_line(pilot) + " "
        assert "•" not in screen_text(pilot.app)


async def test_a_finished_sync_adds_an_unread_notification(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_notifications(pilot)
        await pilot.app.client.call("syncs.run", {"configuration_id": 1})
        await wait_toast(pilot, "entry posted")
        await wait_until(pilot, lambda: "3 Notifications (3)" in top_line(pilot), what="(3)")
        await wait_text(pilot, "Sync posted: 101 2025-03-15")  # the list refreshed itself


async def test_view_without_an_entry_opens_the_configuration(run_app: Any) -> None:
    from bexsync_tui.screens.configuration_view import ConfigurationViewScreen

    async with run_app() as pilot:
        screen = await open_notifications(pilot)
        waiting = next(
            n for n in screen.items.values() if (n.get("link") or {}).get("entry_id") is None
        )
        keys = list(screen.items)
        await pilot.press(*["down"] * keys.index(str(waiting["id"])), "enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
        configuration = pilot.app.screen.configuration
        assert configuration["id"] == waiting["link"]["configuration_id"]
        await wait_text(pilot, f"Administration {configuration['administration_number']}")
