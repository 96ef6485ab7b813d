"""Access (the seed's step 1): the PMS's administrations, each ticked for bexsync or not.

Only administrations with access can get a configuration: the configuration form lists just
those, and the daemon refuses the others. Space toggles the highlighted row's access.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.tables import PlainTable, fill_table

HELP = (
    "Space ticks or unticks access. Only administrations with access can be synced: "
    "the configuration form offers just those."
)


def access_cell(access: bool) -> Text:
    """A mark and a word: readable without colour."""
    return Text("[x] yes", style="bold green") if access else Text("[ ] no", style="yellow")


def number_key(administration: dict[str, Any]) -> tuple[int, str]:
    number = str(administration.get("number") or "")
    return (int(number), number) if number.isdigit() else (1 << 62, number)


class AdministrationsScreen(BexScreen):
    """Number, name, currency, time zone and access of every administration the PMS lists."""

    HEADING = "Access · administrations in the PMS that bexsync may read"
    RELOAD_ON: ClassVar[frozenset[str]] = frozenset({"administration.updated"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_access", "Toggle access", id="administrations.toggle_access"),
        Binding("r", "reload", "Refresh", id="administrations.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        table = PlainTable(id="administrations-table")
        table.add_column("Number", width=8, key="number")
        table.add_column("Name", width=32, key="name")
        table.add_column("Currency", width=8, key="currency")
        table.add_column("Time zone", width=16, key="timezone")
        table.add_column("Access", width=7, key="access")
        yield table
        yield Static(HELP, id="detail", classes="detail", markup=False)

    def reload(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    def on_daemon_change(self, topic: str, data: dict[str, Any]) -> None:
        """Another user changed an administration's access: update its row in place."""
        key = str(data.get("id"))
        if key not in self.items:
            self.load()
            return
        self.items[key] = {**self.items[key], **data}
        self.query_one("#administrations-table", PlainTable).update_cell(
            key, "access", access_cell(bool(self.items[key].get("access")))
        )

    @work(exclusive=True, group="load", exit_on_error=False, description="load administrations")
    async def load(self) -> None:
        administrations = sorted(await self.call("administrations.list"), key=number_key)
        self.items = {str(a["id"]): a for a in administrations}
        fill_table(
            self.query_one("#administrations-table", PlainTable),
            ((key, self._cells(a)) for key, a in self.items.items()),
        )
        if not self.items:
            self.query_one("#detail", Static).update(
                "The PMS lists no administrations yet; check the PMS connection (key 4)."
            )
        self.refresh_bindings()

    @staticmethod
    def _cells(a: dict[str, Any]) -> tuple[Any, ...]:
        return (
            str(a.get("number") or ""),
            str(a.get("name") or ""),
            str(a.get("currency") or ""),
            str(a.get("timezone") or ""),
            access_cell(bool(a.get("access"))),
        )

    @property
    def current(self) -> dict[str, Any] | None:
        key = self.query_one("#administrations-table", PlainTable).current_key
        return self.items.get(key) if key else None

    def on_data_table_row_selected(self, _: DataTable.RowSelected) -> None:
        self.action_toggle_access()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_access" and not self.items:
            return None
        return True

    @work(group="access", exit_on_error=False, description="change the access")
    async def action_toggle_access(self) -> None:
        administration = self.current
        if administration is None:
            return
        access = not bool(administration.get("access"))
        updated = await self.call(
            "administrations.set_access", {"id": administration["id"], "access": access}
        )
        key = str(updated.get("id", administration["id"]))
        self.items[key] = {**administration, **updated}
        table = self.query_one("#administrations-table", PlainTable)
        table.update_cell(key, "access", access_cell(bool(updated.get("access"))))
        name = f"{updated.get('number')} {updated.get('name')}"
        if updated.get("access"):
            self.notify(f"bexsync may now read administration {name}.", title="Access granted")
        else:
            self.notify(
                f"Administration {name} is no longer offered for new configurations; "
                "the daemon refuses to save configurations for it.",
                title="Access removed",
            )
