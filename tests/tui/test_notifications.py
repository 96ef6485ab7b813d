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
    screen = pilot.app.screen
    await wait_until(pilot, lambda: bool(screen.items), what="the notifications")
    return screen


async def go_to_row(pilot: Any, screen: NotificationsScreen, note_id: Any) -> None:
    """Move the cursor to a notification by keys (a refresh keeps the cursor on its row)."""
    table = screen.query_one("#notifications-table")
    delta = list(screen.items).index(str(note_id)) - table.cursor_row
    await pilot.press(*(["down"] * delta if delta > 0 else ["up"] * -delta))
    await wait_until(pilot, lambda: screen.current is not None and screen.current["id"] == note_id)


def top_line(pilot: Any) -> str:
    return screen_text(pilot.app).splitlines()[0]


async def unread(pilot: Any) -> int:
    return len(await pilot.app.client.call("notifications.list", {"unread_only": True}))


async def test_unread_count_is_visible_on_every_screen(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        count = await unread(pilot)
        assert count > 0
        await wait_text(pilot, f"3 Notifications ({count})")
        await open_configuration(pilot, "101")
        assert f"3 Notifications ({count})" in top_line(pilot)
        await pilot.press("2")
        await wait_text(pilot, "Entries overview")
        assert f"3 Notifications ({count})" in top_line(pilot)


async def test_view_jumps_to_the_entry_and_marks_it_read(run_app: Any) -> None:
    async with run_app() as pilot:
        screen = await open_notifications(pilot)
        count = await unread(pilot)
        linked = next(
            n
            for n in screen.items.values()
            if not n["read"] and (n.get("link") or {}).get("entry_id") is not None
        )
        link = linked["link"]
        await go_to_row(pilot, screen, linked["id"])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntriesScreen))
        table = pilot.app.screen.query_one("#entries-table", VirtualTable)
        await wait_until(
            pilot,
            lambda: table.current_row is not None and table.current_row["id"] == link["entry_id"],
            what="the cursor on the linked entry",
        )
        assert {r["configuration_id"] for r in table.rows} == {link["configuration_id"]}
        await wait_until(
            pilot, lambda: f"3 Notifications ({count - 1})" in top_line(pilot), what="one less"
        )


async def test_mark_all_read_clears_the_count(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_notifications(pilot)
        count = await unread(pilot)
        assert count > 0 and f"({count})" in top_line(pilot)
        await pilot.press("M")
        await wait_until(pilot, lambda: f"({count})" not in top_line(pilot), what="the count")
        assert "3 Notifications " in top_line(pilot) + " "
        assert "•" not in screen_text(pilot.app)
        assert await unread(pilot) == 0


async def test_a_finished_sync_adds_an_unread_notification(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_notifications(pilot)
        count = await unread(pilot)
        await pilot.app.client.call("syncs.run", {"configuration_id": 2})  # 102's due 2025-02
        await wait_toast(pilot, "entry posted")
        await wait_until(
            pilot, lambda: f"3 Notifications ({count + 1})" in top_line(pilot), what="one more"
        )
        await wait_text(pilot, "Posted 102 2025-02")  # the list refreshed itself


async def test_view_without_an_entry_opens_the_configuration(run_app: Any) -> None:
    from bexsync_tui.screens.configuration_view import ConfigurationViewScreen

    async with run_app() as pilot:
        screen = await open_notifications(pilot)
        # A re-sync of a posted month whose PMS data did not change: nothing to correct, a
        # notification that links to the configuration and no entry.
        client = pilot.app.client
        await client.call("syncs.run", {"configuration_id": 2, "period": "2025-01", "force": True})
        await wait_text(pilot, "Nothing to correct: ")
        waiting = next(n for n in screen.items.values() if n["title"].startswith("Nothing to"))
        assert waiting["link"]["entry_id"] is None
        await go_to_row(pilot, screen, waiting["id"])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
        configuration = pilot.app.screen.configuration
        assert configuration["id"] == waiting["link"]["configuration_id"] == 2
        await wait_text(pilot, "Administration 102")


async def test_each_notification_shows_its_configuration_at_80_columns(
    run_app: Any, backend: Any
) -> None:
    notes = await backend.client.call("notifications.list", {})
    async with run_app(size=(80, 24)) as pilot:
        await open_notifications(pilot)
        text = await wait_text(pilot, "Posted 103 2025-02")
        header = next(line for line in text.splitlines() if "Level" in line)
        assert header.split() == ["Level", "Created", "#", "Title"]
        for note in notes[:10]:  # those in view: the id that `bexsync sync` takes
            line = next(x for x in text.splitlines() if note["title"][:30] in x)
            before_title = line.split(note["title"][:30])[0].split()
            assert before_title[-1] == str(note["link"]["configuration_id"]), line
