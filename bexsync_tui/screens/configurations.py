"""An authorisation's configurations, one per administration, listed by administration number."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from bexsync_tui.actions import confirm_delete_configuration, start_sync
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.state import progress_text
from bexsync_tui.widgets.tables import BexTable, fill_table

STATE_STYLES = {
    "active": "green",
    "running": "bold cyan",
    "inactive": "yellow",
    "finished": "dim",
}


def state_cell(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, "red" if "authorisation" in state else ""))


def next_due_text(configuration: dict[str, Any]) -> str:
    due = configuration.get("next_due") or {}
    return str(due.get("period") or "—")


def number_key(configuration: dict[str, Any]) -> tuple[int, str]:
    """Sort administration numbers numerically when they are numbers."""
    number = str(configuration.get("administration_number") or "")
    return (int(number), number) if number.isdigit() else (1 << 62, number)


class ConfigurationsScreen(BexScreen):
    """One row per configuration; a running sync shows its progress in the Sync column."""

    RELOAD_ON: ClassVar[frozenset[str]] = frozenset(
        {"configuration.updated", "authorisation.updated", "sync.finished"}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="configurations.back"),
        Binding("n", "new", "New", id="configurations.new"),
        Binding("s", "sync", "Sync now", id="configurations.sync"),
        Binding("d", "delete", "Delete", id="configurations.delete"),
        Binding("r", "reload", "Refresh", id="configurations.refresh"),
    ]

    def __init__(self, authorisation: dict[str, Any]) -> None:
        super().__init__()
        self.authorisation = authorisation
        self.items: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        table = BexTable(id="configurations-table")
        table.add_column("#", width=3, key="id")
        table.add_column("Admin", width=5, key="number")
        table.add_column("Frequency", width=14, key="frequency")
        table.add_column("State", width=9, key="state")
        table.add_column("Next due", width=10, key="next_due")
        table.add_column("Sync", width=13, key="sync")
        table.add_column("Administration", key="name")  # last, never cut where there is room
        yield table
        yield Static("", id="detail", classes="detail", markup=False)

    def on_mount(self) -> None:
        """(BexScreen.on_mount runs too: Textual calls each class's handler.)"""
        self._heading()
        self.bex.progress_signal.subscribe(self, self._on_progress)

    def _heading(self) -> None:
        a = self.authorisation
        self.set_heading(
            f"{a.get('name')} ({a.get('provider')}, {a.get('status')}) › Configurations"
        )

    def reload(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="load", exit_on_error=False, description="load configurations")
    async def load(self) -> None:
        auth_id = self.authorisation["id"]
        self.authorisation = await self.call("authorisations.get", {"id": auth_id})
        self._heading()
        configurations = await self.call("configurations.list", {"authorisation_id": auth_id})
        configurations.sort(key=number_key)
        self.items = {str(c["id"]): c for c in configurations}
        self.bex.remember_configurations(configurations)
        self._fill()
        self.refresh_bindings()  # Sync and Delete are offered once there is something to act on
        detail = self.query_one("#detail", Static)
        if not self.items:
            detail.update("No configurations yet. Press n to add one per administration.")
        else:
            detail.update(
                "Enter opens a configuration: sync now, preview and correct, edit, delete."
            )

    def _fill(self) -> None:
        table = self.query_one("#configurations-table", BexTable)
        rows = []
        for key, c in self.items.items():
            name = c.get("administration_name") or c.get("administration_id") or ""
            run = self.bex.run_for_configuration(c["id"])
            state = "running" if run is not None else str(c.get("state", ""))
            rows.append(
                (
                    key,
                    (
                        str(c.get("id", "")),
                        str(c.get("administration_number", "")),
                        f"{c.get('frequency', '')} " + ("auto" if c.get("automatic") else "manual"),
                        state_cell(state),
                        next_due_text(c),
                        progress_text(run, width=4, counts=False),
                        str(name),
                    ),
                )
            )
        fill_table(table, rows)

    def _on_progress(self, _: object) -> None:
        table = self.query_one("#configurations-table", BexTable)
        for key, c in self.items.items():
            run = self.bex.run_for_configuration(c["id"])
            state = "running" if run is not None else str(c.get("state", ""))
            try:
                table.update_cell(key, "sync", progress_text(run, width=4, counts=False))
                table.update_cell(key, "state", state_cell(state))
            except Exception:  # the row went away between load and progress
                continue

    @property
    def current(self) -> dict[str, Any] | None:
        key = self.query_one("#configurations-table", BexTable).current_key
        return self.items.get(key) if key else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        configuration = self.items.get(str(event.row_key.value))
        if configuration is not None:
            self.bex.open("configuration_view", configuration, self.authorisation)

    def action_new(self) -> None:
        self.bex.open("configuration_form", self.authorisation)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("sync", "delete") and not self.items:
            return None
        return True

    @work(group="sync", exit_on_error=False, description="start the sync")
    async def action_sync(self) -> None:
        configuration = self.current
        if configuration is not None:
            await start_sync(self, configuration)

    @work(group="delete", exit_on_error=False, description="delete the configuration")
    async def action_delete(self) -> None:
        configuration = self.current
        if configuration is None:
            return
        if await confirm_delete_configuration(self, configuration):
            self.load()
