"""Shown over the user's screen while no daemon answers; it goes away by itself on reconnect."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

HOW_TO_START = """\
Start the daemon with one of:

  systemctl --user start bexsyncd     per-user service
  sudo systemctl start bexsyncd       system service
  bexsyncd                            in the foreground
  bexsync demo                        or try the demo instead

bexsync keeps retrying and returns you to where you were."""


class DaemonDownScreen(ModalScreen[None]):
    """Explains how to start the daemon and shows that the client keeps retrying."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "app.quit", "Quit", id="down.quit"),
    ]

    def compose(self) -> ComposeResult:
        app: Any = self.app
        with Vertical(classes="dialog down"):
            yield Label("Cannot reach the bexsync daemon", classes="dialog-title")
            yield Static(
                f"Socket: {app.socket_path or '(not set)'}", id="down-socket", markup=False
            )
            yield Static("", id="down-reason", markup=False)
            yield Static(HOW_TO_START, id="down-help", markup=False)
            yield Static("", id="down-retry", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._update()
        self.set_interval(1.0, self._update)

    def _update(self) -> None:
        app: Any = self.app
        try:
            reason = self.query_one("#down-reason", Static)
        except NoMatches:  # dismissed (reconnected) before its first frame
            return
        reason.update(f"Reason: {app.down_reason}")
        since = app.down_since
        seconds = int(app.clock() - since) if since is not None else 0
        waited = f" for {seconds} s" if seconds >= 5 else ""
        self.query_one("#down-retry", Static).update(
            f"State: {app.connection_state}; retrying automatically{waited}…"
        )
