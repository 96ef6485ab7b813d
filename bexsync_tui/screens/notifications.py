"""Notifications: what the daemon wants the user to know; "View" jumps to the entry."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.tables import BexTable, fill_table
from bexsync_tui.widgets.times import local_time

LEVEL_STYLES = {"error": "bold red", "warning": "yellow", "success": "green", "info": "cyan"}


class NotificationsScreen(BexScreen):
    """Newest first; unread rows are marked; the highlighted one's body shows below."""

    HEADING = "Notifications · Enter views the entry it is about"
    RELOAD_ON: ClassVar[frozenset[str]] = frozenset({"notification.created"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "mark_read", "Mark read", id="notifications.mark_read"),
        Binding("M", "mark_all_read", "Mark all read", id="notifications.mark_all_read"),
        Binding("r", "reload", "Refresh", id="notifications.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        table = ViewTable(id="notifications-table")
        table.add_column(" ", width=1, key="unread")
        table.add_column("Level", width=7, key="level")
        table.add_column("Created", width=16, key="created")
        table.add_column("#", width=3, key="configuration")  # the id `bexsync sync` takes
        # Last and as wide as its text: never cut where there is room (a narrow terminal
        # scrolls it sideways; the highlighted one's whole text shows below).
        table.add_column("Title", key="title")
        yield table
        yield Static("", id="notification-body", classes="detail", markup=False)

    def reload(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="load", exit_on_error=False, description="load notifications")
    async def load(self) -> None:
        notes = await self.call("notifications.list", {})
        self.items = {str(n["id"]): n for n in notes}
        self.bex.unread_count = sum(1 for n in notes if not n.get("read"))
        self._fill()

    def _fill(self) -> None:
        fill_table(
            self.query_one("#notifications-table", ViewTable),
            (
                (
                    key,
                    (
                        Text("•" if not n.get("read") else " ", style="bold"),
                        Text(str(n.get("level", "")), style=LEVEL_STYLES.get(n.get("level"), "")),
                        local_time(n.get("created_at")),
                        configuration_of(n),
                        Text(str(n.get("title", "")), style="" if n.get("read") else "bold"),
                    ),
                )
                for key, n in self.items.items()
            ),
        )
        self._show_body()
        if not self.items:
            self.query_one("#notification-body", Static).update("No notifications.")

    @property
    def current(self) -> dict[str, Any] | None:
        key = self.query_one("#notifications-table", ViewTable).current_key
        return self.items.get(key) if key else None

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_body()

    def _show_body(self) -> None:
        note = self.current
        if note is not None:
            self.query_one("#notification-body", Static).update(str(note.get("body") or ""))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        note = self.items.get(str(event.row_key.value))
        if note is not None:
            self.view(note)

    @work(group="view", exit_on_error=False, description="open what the notification is about")
    async def view(self, note: dict[str, Any]) -> None:
        await self._mark(note)
        link = note.get("link") or {}
        kind = link.get("kind")
        if kind == "entries" and link.get("entry_id") is not None:
            await self.bex.show_entry(link.get("configuration_id"), link["entry_id"])
        elif kind == "entries" and link.get("configuration_id") is not None:
            # No entry (a failed or waiting sync): the configuration shows why and what to do.
            self.bex.open_configuration(link["configuration_id"])
        elif kind == "authorisations" and link.get("authorisation_id") is not None:
            auth = await self.call("authorisations.get", {"id": link["authorisation_id"]})
            await self.app.switch_mode("authorisations")
            self.bex.open("configurations", auth)
        else:
            self.notify("This notification links to nothing; its text is all there is.")

    async def _mark(self, note: dict[str, Any]) -> None:
        if note.get("read"):
            return
        await self.call("notifications.mark_read", {"id": note["id"]})
        note["read"] = True
        self.bex.unread_count = sum(1 for n in self.items.values() if not n.get("read"))
        self._fill()

    @work(group="mark", exit_on_error=False, description="mark it read")
    async def action_mark_read(self) -> None:
        note = self.current
        if note is not None:
            await self._mark(note)

    @work(group="mark", exit_on_error=False, description="mark all read")
    async def action_mark_all_read(self) -> None:
        await self.call("notifications.mark_read", {"all": True})
        for note in self.items.values():
            note["read"] = True
        self.bex.unread_count = 0
        self._fill()


def configuration_of(note: dict[str, Any]) -> Text:
    """The id of the configuration a notification is about ("" for a login or the PMS)."""
    link = note.get("link") or {}
    number = link.get("configuration_id") if link.get("kind") == "entries" else None
    return Text("" if number is None else str(number), justify="right")


class ViewTable(BexTable):
    """Enter on a notification is "View"."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,v", "select_cursor", "View", id="notifications.view"),
    ]
