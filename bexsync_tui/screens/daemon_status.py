"""Daemon status: health, where its files are, the next runs and what needs attention."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import Label, Static

from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.tables import PlainTable, fill_table
from bexsync_tui.widgets.times import local_time, local_zone

FACTS = (
    ("version", "Version"),
    ("uptime", "Up"),
    ("pms", "PMS"),
    ("counts", "Counts"),
    ("state_dir", "State dir"),
    ("socket", "Socket"),
)


def uptime_text(seconds: Any) -> str:
    try:
        total = int(float(seconds))
    except (TypeError, ValueError):
        return "?"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    return (f"{days}d " if days else "") + f"{hours}h {minutes:02d}m"


def attention_text(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("message") or item.get("title") or item)
    return str(item)


def status_facts(status: dict[str, Any]) -> dict[str, str]:
    pms = status.get("pms") or {}
    counts = status.get("counts") or {}
    return {
        "version": f"{status.get('version', '?')} (started "
        f"{local_time(status.get('started_at')) or '?'} {local_zone()})",
        "uptime": uptime_text(status.get("uptime_s")),
        "pms": f"{pms.get('status', '?')} {pms.get('base_url') or ''}".strip()
        if isinstance(pms, dict)
        else str(pms),
        "counts": ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
        if isinstance(counts, dict)
        else str(counts),
        "state_dir": str(status.get("state_dir", "")),
        "socket": str(status.get("socket", "")),
    }


def short_label(configuration: dict[str, Any] | None, run: dict[str, Any]) -> str:
    """``#1 101 BEX``: id, administration and ledger, so three of 101 are told apart."""
    c = configuration or {}
    number = c.get("administration_number") or run.get("administration_number") or ""
    return f"#{run.get('configuration_id')} {number} {c.get('ledger_id') or ''}".strip()


class DaemonStatusScreen(BexScreen):
    """Refreshes on entry, on ``r`` and every 10 s while shown."""

    HEADING = "Daemon status"
    RELOAD_ON: ClassVar[frozenset[str]] = frozenset({"sync.finished", "configuration.updated"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", id="status.refresh"),
        Binding("c", "connect_pms", "Connect PMS", id="status.connect_pms"),
    ]

    _configurations_known = False

    def compose_body(self) -> ComposeResult:
        with Grid(id="status-facts"):
            for key, label in FACTS:
                yield Label(label, classes="fact-label")
                yield Static("…", id=f"status-{key}", markup=False, classes="fact")
        yield Static("Needs attention", classes="section-title")
        yield Static("", id="attention", markup=False)
        yield Static(f"Next runs (times in {local_zone()})", classes="section-title")
        table = PlainTable(id="next-runs")
        table.add_column("Configuration", width=18)
        table.add_column("Period", width=10)
        table.add_column("Due at")
        yield table

    def on_mount(self) -> None:
        self.set_interval(10, self._tick)

    def _tick(self) -> None:
        if self.is_current and self.bex.connection_state == "connected":
            self.load()

    def reload(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_connect_pms(self) -> None:
        """The screen's result does not matter: resuming here reloads the status."""
        self.bex.open("pms_connect")

    @work(exclusive=True, group="load", exit_on_error=False, description="read the status")
    async def load(self) -> None:
        status = await self.call("daemon.status")
        if not self._configurations_known:
            self.bex.remember_configurations(await self.call("configurations.list"))
            self._configurations_known = True
        for key, value in status_facts(status).items():
            self.query_one(f"#status-{key}", Static).update(value)
        attention = status.get("attention") or []
        self.query_one("#attention", Static).update(
            Text("\n".join(f"• {attention_text(a)}" for a in attention), style="yellow")
            if attention
            else Text("Nothing: all syncs are healthy.", style="green")
        )
        known = self.bex.configurations
        fill_table(
            self.query_one("#next-runs", PlainTable),
            (
                (
                    str(i),
                    (
                        short_label(known.get(str(r.get("configuration_id"))), r),
                        str(r.get("period", "")),
                        local_time(r.get("due_at")),
                    ),
                )
                for i, r in enumerate(status.get("next_runs") or [])
            ),
        )
