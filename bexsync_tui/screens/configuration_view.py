"""One configuration: its state, next due period, live progress and recent runs, with actions."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import DataTable, Label, Static

from bexsync_tui.actions import confirm_delete_configuration, start_sync
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.state import same_id
from bexsync_tui.widgets.sync_progress import SyncProgressPanel
from bexsync_tui.widgets.tables import PlainTable, fill_table
from bexsync_tui.widgets.times import local_time, local_zone

RUN_STYLES = {"posted": "green", "failed": "bold red", "needs_review": "yellow", "cancelled": "dim"}
FACTS = (
    ("state", "State"),
    ("ledger", "Ledger"),
    ("next_due", "Next due"),
    ("frequency", "Frequency"),
    ("start_date", "Start"),
    ("automatic", "Automatic"),
    ("end_date", "End"),
    ("delay_days", "Delay"),
)


def fact_values(c: dict[str, Any]) -> dict[str, str]:
    due = c.get("next_due") or {}
    next_due = str(due.get("period") or "—")
    if due.get("due_at"):
        next_due += f", due {local_time(due['due_at'])} {local_zone()}"
    return {
        "state": str(c.get("state", ""))
        + ("" if c.get("active") or c.get("state") == "inactive" else " (inactive)"),
        "frequency": str(c.get("frequency", "")),
        "ledger": f"{c.get('ledger_id', '')} {c.get('ledger_name') or ''}".strip()
        + f" at {c.get('provider')}",
        "automatic": "yes" if c.get("automatic") else "no (manual)",
        "start_date": str(c.get("start_date") or "—"),
        "end_date": str(c.get("end_date") or "—"),
        "delay_days": f"{c.get('delay_days', 0)} days",
        "next_due": next_due,
    }


class ConfigurationViewScreen(BexScreen):
    """Sync now, preview and correct, edit, activate/deactivate, delete."""

    RELOAD_ON: ClassVar[frozenset[str]] = frozenset({"configuration.updated", "sync.finished"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="configuration.back"),
        Binding("s", "sync", "Sync", id="configuration.sync"),
        Binding("p", "preview", "Preview", id="configuration.preview"),
        Binding("t", "period", "Period", id="configuration.period"),
        Binding("e", "edit", "Edit", id="configuration.edit"),
        Binding("a", "activate", "Activate", id="configuration.activate"),
        Binding("a", "deactivate", "Deactivate", id="configuration.deactivate"),
        Binding("d", "delete", "Delete", id="configuration.delete"),
        Binding("c", "cancel_run", "Cancel sync", id="configuration.cancel_run"),
    ]

    def __init__(self, configuration: dict[str, Any], authorisation: dict[str, Any]) -> None:
        super().__init__()
        self.configuration = configuration
        self.authorisation = authorisation
        self.runs: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        values = fact_values(self.configuration)
        with Grid(id="facts"):
            for key, label in FACTS:
                yield Label(label, classes="fact-label")
                yield Static(values[key], id=f"fact-{key}", markup=False, classes="fact")
        yield SyncProgressPanel(self.configuration["id"], id="progress")
        yield Static("Recent runs", classes="section-title")
        table = RunsTable(id="runs-table")
        table.add_column("Period", width=10)
        table.add_column("Trigger", width=8)
        table.add_column("State", width=12, key="state")
        table.add_column("Started", width=16)
        table.add_column("Result", key="result")
        yield table

    def on_mount(self) -> None:
        self._heading()
        self.bex.progress_signal.subscribe(self, lambda _: self._progressed())

    def _progressed(self) -> None:
        """A listed run that is going on shows its live state and stage, not "queued"."""
        self.refresh_bindings()
        table = self.query_one("#runs-table", RunsTable)
        for run_id, progress in self.bex.runs.items():
            run = self.runs.get(str(run_id))
            if run is None or not progress.active:
                continue
            run["state"] = progress.state
            run["progress"] = {"stage": progress.stage, "done": progress.done}
            cells = run_cells(run)
            table.update_cell(str(run_id), "state", cells[2])
            table.update_cell(str(run_id), "result", cells[4])

    def _heading(self) -> None:
        c = self.configuration
        self.set_heading(
            f"{self.authorisation.get('name')} › Administration "
            f"{c.get('administration_number')} · {c.get('frequency')} · configuration {c.get('id')}"
        )

    def reload(self) -> None:
        self.load()

    def on_daemon_change(self, topic: str, data: dict[str, Any]) -> None:
        ids = (data.get("id"), data.get("configuration_id"))
        mine = any(same_id(i, self.configuration["id"]) for i in ids)
        if mine and topic == "configuration.updated" and data.get("deleted"):
            number = self.configuration.get("administration_number")
            self.notify(f"The configuration of administration {number} was deleted.")
            self.dismiss(None)
        elif topic == "reconnected" or mine:
            self.load()

    @work(exclusive=True, group="load", exit_on_error=False, description="load the configuration")
    async def load(self) -> None:
        c = await self.call("configurations.get", {"id": self.configuration["id"]})
        self.configuration = c
        self._heading()
        for key, value in fact_values(c).items():
            self.query_one(f"#fact-{key}", Static).update(value)
        runs = await self.call("syncs.list", {"configuration_id": c["id"], "limit": 20})
        self.runs = {str(r["id"]): r for r in runs}
        fill_table(
            self.query_one("#runs-table", RunsTable),
            ((key, run_cells(r)) for key, r in self.runs.items()),
        )
        self.refresh_bindings()

    @property
    def running(self) -> bool:
        return self.bex.run_for_configuration(self.configuration["id"]) is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        active = bool(self.configuration.get("active"))
        if action == "activate":
            return not active
        if action == "deactivate":
            return active
        if action == "cancel_run":
            return self.running or False
        if action in ("sync", "preview", "period"):
            return not self.running  # hidden while a run goes on: room for "Cancel sync"
        return True

    def action_back(self) -> None:
        self.dismiss(None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        run = self.runs.get(str(event.row_key.value))
        if run and run.get("entry_id") is not None:
            self.run_worker(
                self.bex.show_entry(run.get("configuration_id"), run["entry_id"]),
                exit_on_error=False,
            )
        elif run and run.get("error"):
            self.notify(str(run["error"]), title=f"Run {run.get('period')}", severity="error")

    @work(group="sync", exit_on_error=False, description="start the sync")
    async def action_sync(self) -> None:
        await start_sync(self, self.configuration)

    def action_preview(self) -> None:
        self.bex.open("preview", self.configuration)

    def action_period(self) -> None:
        self.bex.open("period", self.configuration)

    def action_edit(self) -> None:
        self.bex.open("configuration_form", self.authorisation, self.configuration)

    @work(group="toggle", exit_on_error=False, description="activate the configuration")
    async def action_activate(self) -> None:
        self.configuration = await self.call(
            "configurations.activate", {"id": self.configuration["id"]}
        )
        self.notify("Configuration active: scheduled syncs run.", title="Activated")
        self.load()

    @work(group="toggle", exit_on_error=False, description="deactivate the configuration")
    async def action_deactivate(self) -> None:
        self.configuration = await self.call(
            "configurations.deactivate", {"id": self.configuration["id"]}
        )
        self.notify("Configuration inactive: no scheduled syncs.", title="Deactivated")
        self.load()

    @work(group="cancel", exit_on_error=False, description="cancel the sync")
    async def action_cancel_run(self) -> None:
        run = self.bex.run_for_configuration(self.configuration["id"])
        if run is not None:
            await self.call("syncs.cancel", {"run_id": run.run_id})

    @work(group="delete", exit_on_error=False, description="delete the configuration")
    async def action_delete(self) -> None:
        if await confirm_delete_configuration(self, self.configuration):
            self.dismiss(None)


def run_cells(run: dict[str, Any]) -> tuple[Any, ...]:
    state = str(run.get("state", ""))
    if run.get("error"):
        result = str(run["error"])
    elif run.get("entry_id") is not None:
        result = f"entry #{run['entry_id']} (Enter: view)"
    else:
        progress = run.get("progress") or {}
        result = str(progress.get("stage") or "")
    started = local_time(run.get("started_at"))
    return (
        str(run.get("period", "")),
        str(run.get("trigger", "")),
        Text(state, style=RUN_STYLES.get(state, "cyan")),
        started,
        result,
    )


class RunsTable(PlainTable):
    """Enter opens a run's entry; the Result column says so, which leaves the footer room."""
