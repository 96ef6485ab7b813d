"""What every bexsync screen shares: top bar, heading, footer, RPC helper and error reporting.

Screens load in workers (never blocking the UI) and let errors escape the worker; the
``Worker.StateChanged`` handler here turns them into a readable toast, so no screen can
show a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from bexsync_tui.client import RpcCallError
from bexsync_tui.widgets.accounts import AccountList
from bexsync_tui.widgets.topbar import TopBar

if TYPE_CHECKING:
    from bexsync_tui.app import BexsyncApp


class BexScreen(Screen[Any]):
    """Base screen; subclasses implement ``compose_body`` and ``reload``."""

    HEADING: ClassVar[str] = ""
    RELOAD_ON: ClassVar[frozenset[str]] = frozenset()
    """Daemon event topics after which this screen reloads its data."""

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield Static(self.HEADING, id="heading", markup=False)
        yield from self.compose_body()
        yield Footer(compact=True, show_command_palette=False)

    def compose_body(self) -> ComposeResult:
        yield from ()

    @property
    def bex(self) -> BexsyncApp:
        return self.app  # type: ignore[return-value]

    def set_heading(self, text: str) -> None:
        self.query_one("#heading", Static).update(text)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One RPC to the daemon; errors propagate to the worker's error handler."""
        return await self.bex.client.call(method, params or {})

    @work(exclusive=True, group="accounts", exit_on_error=False, description="")
    async def offer_accounts(self, configuration_id: int) -> None:
        """Give this screen's account picker the provider's chart; without it the account
        field still takes a typed code (the daemon checks it when the edit is applied)."""
        try:
            accounts = await self.call("configurations.accounts", {"id": configuration_id})
        except RpcCallError:
            return
        self.query_one(AccountList).set_chart(accounts)

    def on_mount(self) -> None:
        self.bex.change_signal.subscribe(self, self._on_daemon_change)

    def on_screen_resume(self) -> None:
        if self.bex.connection_state == "connected":
            self.reload()

    def _on_daemon_change(self, change: tuple[str, dict[str, Any]]) -> None:
        topic, data = change
        if self.is_current and (topic == "reconnected" or topic in self.RELOAD_ON):
            self.on_daemon_change(topic, data)

    def on_daemon_change(self, topic: str, data: dict[str, Any]) -> None:
        """A relevant event arrived while this screen is visible; by default reload."""
        self.reload()

    def reload(self) -> None:
        """Fetch this screen's data again (in a worker)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.bex.report_error(event.worker.error, doing=_doing(event.worker))


def _doing(worker: Worker[Any]) -> str:
    return worker.description if worker.description and " " in worker.description else ""
