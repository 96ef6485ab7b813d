"""The bexsync Textual app: four sections (modes), one event worker, errors as readable toasts.

The client is injected (``BexsyncApp(client=...)``): a ``ReconnectingClient`` on the daemon's
socket (the tests' too, on a real daemon). The only long-lived task is the event worker: it owns
the event stream, follows the client through daemon restarts (showing how to start the daemon
while none answers) and coalesces progress so a slow terminal never falls behind. Everything
else is a short worker started by a screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import time
import tomllib
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer
from textual.widgets import Select
from textual.worker import Worker, WorkerState

from bexsync_tui.client import SNAPSHOT_TOPIC, STATE_TOPIC, DaemonUnavailable
from bexsync_tui.routes import screen_for
from bexsync_tui.screens.administrations import AdministrationsScreen
from bexsync_tui.screens.authorisations import AuthorisationsScreen
from bexsync_tui.screens.daemon_down import DaemonDownScreen
from bexsync_tui.screens.daemon_status import DaemonStatusScreen
from bexsync_tui.screens.entries import EntriesScreen
from bexsync_tui.screens.help import HelpScreen
from bexsync_tui.screens.notifications import NotificationsScreen
from bexsync_tui.widgets.errors import describe_error
from bexsync_tui.widgets.messages import (
    ConnectionChanged,
    DaemonConnected,
    DaemonEvent,
    ProgressPending,
)
from bexsync_tui.widgets.state import RunProgress, same_id

TOPICS = (
    "sync.progress",
    "sync.finished",
    "notification.created",
    "authorisation.updated",
    "configuration.updated",
    "administration.updated",
)
CONNECTION_STATES = ("connecting", "connected", "reconnecting", "down")
TOAST_GATHER_S = 0.5
"""Runs finishing with less than this between them share their toasts: a catch-up finishes
dozens one after another, each a fetch and a post apart, so the window slides with each run."""
TOAST_GATHER_MAX_S = 3.0
"""A burst still gets its toast after this long, however long the catch-up goes on."""
MAX_TOASTS = 3
SECTION_TITLES = {
    "authorisations": "Authorisations",
    "entries": "Entries overview",
    "notifications": "Notifications",
    "status": "Daemon status",
    "administrations": "Access (administrations)",
}


def default_keymap_path() -> Path:
    """``$BEXSYNC_TUI_CONFIG`` or ``<user config dir>/bexsync/tui.toml``."""
    if os.environ.get("BEXSYNC_TUI_CONFIG"):
        return Path(os.environ["BEXSYNC_TUI_CONFIG"])
    import platformdirs

    return Path(platformdirs.user_config_dir("bexsync")) / "tui.toml"


def load_keymap(path: Path) -> dict[str, str]:
    """The ``[keymap]`` table ({binding id: keys}); a missing or broken file means no remaps."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    table = data.get("keymap")
    if not isinstance(table, dict):
        return {}
    return {str(k): str(v) for k, v in table.items() if isinstance(v, str)}


def configuration_label(c: dict[str, Any]) -> str:
    """``Administration 101`` and, when there is more than its number to tell it apart, its
    ledger and id: ``Administration 101 → BEX (configuration 1)``."""
    label = f"Administration {c.get('administration_number', '?')}"
    if c.get("ledger_id"):
        label += f" → {c.get('ledger_id')}"
    return f"{label} (configuration {c.get('id')})"


def binding_ids() -> set[str]:
    """Every binding id a keymap may name: those of the app, its screens and its widgets."""
    import importlib
    import pkgutil

    from textual.dom import DOMNode

    from bexsync_tui import screens, widgets

    for package in (screens, widgets):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    ids: set[str] = set()
    todo: list[type] = [DOMNode]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("bexsync_tui"):
            for binding in cls.__dict__.get("BINDINGS", []):
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
    return ids


class BexsyncApp(App[None]):
    """Browse authorisations and configurations, correct drafts, watch syncs live."""

    CSS_PATH = "app.tcss"
    TITLE = "bexsync"
    MODES: ClassVar[dict[str, Any]] = {
        "authorisations": AuthorisationsScreen,
        "entries": EntriesScreen,
        "notifications": NotificationsScreen,
        "status": DaemonStatusScreen,
        "administrations": AdministrationsScreen,
    }
    DEFAULT_MODE = "authorisations"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding(
            "1", "section('authorisations')", "Authorisations", id="nav.authorisations", show=False
        ),
        Binding("2", "section('entries')", "Entries", id="nav.entries", show=False),
        Binding(
            "3", "section('notifications')", "Notifications", id="nav.notifications", show=False
        ),
        Binding("4", "section('status')", "Daemon status", id="nav.status", show=False),
        Binding(
            "5",
            "section('administrations')",
            "Access (administrations)",
            id="nav.administrations",
            show=False,
        ),
        # Announced by the sync-finished toast ("Press v"), so it leaves the footer to the screen.
        Binding("v", "view_last_entry", "View synced entry", id="app.view_last_entry", show=False),
    ]

    connection_state: reactive[str] = reactive("connecting")
    unread_count: reactive[int] = reactive(0)

    def __init__(
        self,
        client: Any,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        keymap: dict[str, str] | None = None,
        keymap_path: Path | None = None,
        down_grace: float = 0.75,
        sixteen_colours: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``client``: anything with ReconnectingClient's ``start/call/subscribe/events/state``.

        ``keymap`` ({binding id: keys}) overrides the ``[keymap]`` of ``keymap_path``;
        ``down_grace`` is how long a lost connection may last before the "daemon down" screen
        shows; ``sixteen_colours`` None detects it from the terminal; ``clock`` (seconds)
        times how long the daemon has been down, which that screen shows after 5 s.
        """
        super().__init__()
        self.client = client
        self.socket_path = str(socket_path) if socket_path is not None else ""
        self.keymap_path = keymap_path or default_keymap_path()
        self.sixteen_colours = sixteen_colours
        self.progress_signal: Signal[None] = Signal(self, "progress")
        self.change_signal: Signal[tuple[str, dict[str, Any]]] = Signal(self, "change")
        self.runs: dict[str, RunProgress] = {}
        self.last_finished: RunProgress | None = None
        self.down_reason = ""
        self.down_since: float | None = None
        self.down_grace = down_grace
        self.clock = clock
        self._subscribed = False
        self._connected_once = False
        self.progress_handled = 0
        self._pending_progress: dict[str, RunProgress] = {}
        self._progress_posted = False
        self._finished_runs: set[str] = set()
        self._finished_toasts: list[RunProgress] = []
        self._toast_timer: Timer | None = None
        self._gather_started = 0.0
        self._initial_keymap = keymap
        self.remapped: dict[str, str] = {}
        """The keymap in use ({binding id: keys}), for what shows the keys (the top bar)."""
        self.configuration_labels: dict[str, str] = {}
        self.configurations: dict[str, dict[str, Any]] = {}
        self._corrections: set[str] = set()

    # -- start-up --------------------------------------------------------------------------
    def on_mount(self) -> None:
        keymap = self._initial_keymap
        if keymap is None:
            keymap = load_keymap(self.keymap_path)
        if keymap:
            self.set_keymap(keymap)
            self.remapped = dict(keymap)
            unknown = sorted(set(keymap) - binding_ids())
            if unknown:
                self.notify(
                    f"{self.keymap_path}: no key has the id {', '.join(unknown)}; "
                    "press ? to see the ids.",
                    title="Keymap",
                    severity="warning",
                    timeout=15,
                )
        if self._wants_sixteen_colours():
            self.theme = "ansi-dark"
        self._exit_on_hangup(install=True)
        self.event_worker()

    def _exit_on_hangup(self, *, install: bool) -> None:
        """A closed terminal (SIGHUP) or SIGTERM ends the app normally, so that whoever runs it
        (``bexsync demo``) cleans up; without this Python dies where it stands."""
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop = asyncio.get_running_loop()  # (not on Windows, not off the main thread)
            for signum in (signal.SIGHUP, signal.SIGTERM):
                if install:
                    loop.add_signal_handler(signum, self.exit, None, 128 + signum)
                else:
                    loop.remove_signal_handler(signum)

    def _wants_sixteen_colours(self) -> bool:
        if self.sixteen_colours is not None:
            return self.sixteen_colours
        return self.console.color_system in ("standard", "windows")

    # -- the one event worker --------------------------------------------------------------
    @work(exclusive=True, group="daemon-events", exit_on_error=False, description="events")
    async def event_worker(self) -> None:
        """Own the client's event stream: connection states, snapshots, events.

        The client (``ReconnectingClient``) reconnects and resubscribes by itself;
        its stream carries ``client.state`` on each state change and ``client.snapshot`` after
        each (re)subscription, so this loop never ends while the app runs.
        """
        client = self.client
        # Taken before start(): the stream holds every state change and snapshot from here on.
        stream = client.events()
        start = getattr(client, "start", None)
        if start is not None:
            await start()
        self._subscribed = False
        state = str(getattr(client, "state", "connected"))
        self._on_client_state(state, getattr(client, "error", None))
        await self._ensure_subscribed()
        # Direct iteration: a burst of queued events is handled without yielding to the loop,
        # so all its progress coalesces into one ProgressPending message.
        try:
            async for topic, data in stream:
                await self._handle_stream_item(topic, data if isinstance(data, dict) else {})
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    async def _handle_stream_item(self, topic: str, data: dict[str, Any]) -> None:
        if topic == STATE_TOPIC:
            self._on_client_state(str(data.get("state")), data.get("error"))
            await self._ensure_subscribed()
        elif topic == SNAPSHOT_TOPIC:
            snapshot = data.get("snapshot")
            self.post_message(
                DaemonConnected(
                    snapshot if isinstance(snapshot, dict) else {}, bool(data.get("restarted"))
                )
            )
        else:
            self._route_event(topic, data)

    def _on_client_state(self, state: str, error: str | None) -> None:
        self.post_message(ConnectionChanged(state, error))

    async def _ensure_subscribed(self) -> None:
        """Subscribe once, on the first connection; the client re-subscribes after that."""
        if self._subscribed or str(getattr(self.client, "state", "connected")) != "connected":
            return
        self._subscribed = True
        with contextlib.suppress(DaemonUnavailable):  # it re-subscribes as soon as it is back
            await self.client.subscribe(list(TOPICS))

    def _route_event(self, topic: str, data: dict[str, Any]) -> None:
        """Progress goes to a per-run buffer and one pending message; the rest are messages."""
        if topic == "sync.progress":
            run = RunProgress.parse(data)
            if run is None or str(run.run_id) in self._finished_runs:
                return
            self._pending_progress[str(run.run_id)] = run
            if not self._progress_posted:
                self._progress_posted = True
                self.post_message(ProgressPending())
            return
        self.post_message(DaemonEvent(topic, data))

    # -- state from the daemon -------------------------------------------------------------
    def on_connection_changed(self, message: ConnectionChanged) -> None:
        state = message.state if message.state in CONNECTION_STATES else "connecting"
        self.connection_state = state
        if state == "connected":
            self.down_since = None
            for screen in list(self.screen_stack):
                if isinstance(screen, DaemonDownScreen):
                    screen.dismiss(None)
            return
        self.down_reason = message.error or "no answer yet"
        if self.down_since is None:
            self.down_since = self.clock()
            self.set_timer(self.down_grace, self._show_down_screen)

    def _show_down_screen(self) -> None:
        if self.connection_state == "connected":
            return
        if not any(isinstance(s, DaemonDownScreen) for s in self.screen_stack):
            self.push_screen(DaemonDownScreen())

    def on_daemon_connected(self, message: DaemonConnected) -> None:
        running = message.snapshot.get("running")
        if isinstance(running, list):
            self._replace_runs(running)
        else:
            self.refresh_runs()
        self.refresh_configurations()
        unread = message.snapshot.get("unread_notifications")
        if isinstance(unread, int):
            self.unread_count = unread
        else:
            self.refresh_unread()
        if not self._connected_once:
            # Start-up objects live as long as the app: take them out of the cyclic collector's
            # scans so a full collection never stalls a keystroke (halves its pause).
            gc.freeze()
        if self._connected_once:
            self.notify(
                "Connected to the daemon again"
                + (" (it restarted)." if message.restarted else "."),
                title="bexsync",
                timeout=3,
            )
        self._connected_once = True
        self.change_signal.publish(("reconnected", {}))

    def on_progress_pending(self, _: ProgressPending) -> None:
        self._progress_posted = False
        pending, self._pending_progress = self._pending_progress, {}
        for run_id, run in pending.items():
            if run_id not in self._finished_runs:
                self.runs[run_id] = run
        self.progress_handled += 1
        self.progress_signal.publish(None)

    def on_daemon_event(self, message: DaemonEvent) -> None:
        topic, data = message.topic, message.data
        if topic == "sync.finished":
            self._sync_finished(data)
        elif topic == "notification.created":
            self.refresh_unread()
        self.change_signal.publish((topic, data))

    def _sync_finished(self, data: dict[str, Any]) -> None:
        run = RunProgress.parse(data)
        if run is None:
            return
        self._finished_runs.add(str(run.run_id))
        self._pending_progress.pop(str(run.run_id), None)
        self.runs.pop(str(run.run_id), None)
        self.progress_signal.publish(None)
        if run.entry_id is not None:
            self.last_finished = run
        self._finished_toasts.append(run)
        now = time.monotonic()
        if len(self._finished_toasts) == 1:
            self._gather_started = now
        if self._toast_timer is not None:
            self._toast_timer.stop()
        left = self._gather_started + TOAST_GATHER_MAX_S - now
        self._toast_timer = self.set_timer(
            max(0.0, min(TOAST_GATHER_S, left)), self._toast_finished
        )
        if self.screen_stack:  # none yet at start-up, none left once the user quit
            self.refresh_bindings()  # `v` (view the entry) may have become available

    def _toast_finished(self) -> None:
        """One toast per finished run, or one summary when many finish at once (catch-up)."""
        runs, self._finished_toasts = self._finished_toasts, []
        self._toast_timer = None
        if not runs:
            return
        posted = [r for r in runs if r.state == "posted" and r.entry_id is not None]
        unposted = [r for r in runs if r.state == "posted" and r.entry_id is None]
        others = [r for r in runs if r.state != "posted"]
        if len(posted) > MAX_TOASTS:
            last = posted[-1]
            label = self._configuration_label(last.configuration_id)
            self.notify(
                f"{len(posted)} entries posted, the last {label} {last.period}. "
                "Press v to view it.",
                title="Syncs finished",
                timeout=8,
            )
            posted = []
        for run in posted:
            label = self._configuration_label(run.configuration_id)
            what = "correcting entry" if str(run.run_id) in self._corrections else "entry"
            self.notify(
                f"{label} {run.period}: {what} posted. Press v to view it.",
                title="Sync finished",
                timeout=8,
            )
        for run in unposted[:MAX_TOASTS]:
            label = self._configuration_label(run.configuration_id)
            if str(run.run_id) in self._corrections:
                text = "nothing to correct; the PMS still shows what was posted."
            else:
                text = "no transactions, so nothing was posted."
            self.notify(f"{label} {run.period}: {text}", title="Sync finished", timeout=8)
        for run in others[:MAX_TOASTS]:
            label = self._configuration_label(run.configuration_id)
            if run.state == "cancelled":
                self.notify(f"{label} {run.period}: sync cancelled.", title="Sync cancelled")
            else:
                self.notify(
                    f"{label} {run.period}: {run.state}. {run.error or ''}".strip(),
                    title="Sync did not post",
                    severity="error",
                    timeout=12,
                )
        if len(others) > MAX_TOASTS:
            self.notify(
                f"{len(others) - MAX_TOASTS} more syncs did not post: see Notifications (key 3).",
                title="Syncs did not post",
                severity="error",
                timeout=12,
            )

    def expect_run(self, run_id: Any, *, correction: bool = False) -> None:
        """A run this app started; a forced one is a correction and its toast says so."""
        if correction and run_id is not None:
            self._corrections.add(str(run_id))

    def _configuration_label(self, configuration_id: Any) -> str:
        return self.configuration_labels.get(str(configuration_id), f"#{configuration_id}")

    def remember_configurations(self, configurations: Iterable[dict[str, Any]]) -> None:
        """Screens share what they loaded so toasts can say "1001" instead of an id."""
        for c in configurations:
            self.configuration_labels[str(c.get("id"))] = configuration_label(c)
            self.configurations[str(c.get("id"))] = c

    def _replace_runs(self, runs: Iterable[dict[str, Any]]) -> None:
        parsed = [RunProgress.parse(r) for r in runs if isinstance(r, dict)]
        self.runs = {str(r.run_id): r for r in parsed if r is not None and r.active}
        self.progress_signal.publish(None)

    def run_for_configuration(self, configuration_id: Any) -> RunProgress | None:
        """The active run of a configuration, if one is going on."""
        for run in self.runs.values():
            if same_id(run.configuration_id, configuration_id) and run.active:
                return run
        return None

    @work(exclusive=True, group="runs", exit_on_error=False, description="list running syncs")
    async def refresh_runs(self) -> None:
        runs = await self.client.call("syncs.list", {"limit": 50})
        if isinstance(runs, list):
            self._replace_runs(runs)

    @work(
        exclusive=True,
        group="configurations",
        exit_on_error=False,
        description="list the configurations",
    )
    async def refresh_configurations(self) -> None:
        """For toasts ("Administration 101") and the palette's "Open configuration" commands."""
        self.configurations = {}
        self.remember_configurations(await self.client.call("configurations.list", {}) or [])

    @work(exclusive=True, group="unread", exit_on_error=False, description="count notifications")
    async def refresh_unread(self) -> None:
        unread = await self.client.call("notifications.list", {"unread_only": True})
        self.unread_count = len([n for n in unread or [] if not n.get("read")])

    async def on_unmount(self) -> None:
        """Close the connection while the loop still runs (ReconnectingClient.close is async)."""
        gc.unfreeze()  # what was frozen at start-up may be collected again
        self._exit_on_hangup(install=False)
        close = getattr(self.client, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result

    # -- errors ----------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            if event.worker.group == "daemon-events":
                title, text = describe_error(event.worker.error, "follow the daemon's events")
                self.notify(text + " Restarting the event stream.", title=title, severity="error")
                self.set_timer(2.0, self.event_worker)
                return
            self.report_error(event.worker.error)

    def report_error(self, error: BaseException, doing: str = "") -> None:
        """A toast with a readable message; lost connections are the down screen's job."""
        if isinstance(error, DaemonUnavailable):
            return
        title, message = describe_error(error, doing)
        self.notify(message, title=title, severity="error", timeout=10)

    # -- navigation ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "section" and self.connection_state != "connected":
            return False
        if action == "section" and isinstance(self.focused, Select):
            return None  # a digit in a dropdown must not throw the form away (dimmed, not hidden)
        if action == "view_last_entry":
            return self.last_finished is not None and self.last_finished.entry_id is not None
        return True

    async def action_section(self, name: str) -> None:
        """Go to a section; pressing its key again returns to the section's first screen."""
        if name == self.current_mode:
            while len(self.screen_stack) > 1:
                await self.pop_screen()
            return
        await self.switch_mode(name)

    def open(self, route: str, *args: Any, replace: bool = False, **kwargs: Any) -> None:
        """Go to ``route`` (``bexsync_tui.routes``) on top of the current screen, or in its
        place with ``replace``: how screens navigate, without importing one another."""
        screen = screen_for(route, *args, **kwargs)
        if replace:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def section_key(self, name: str, default: str) -> str:
        """The key that opens section ``name`` now (its first, if remapped to several)."""
        keys = self.remapped.get(f"nav.{name}")
        return keys.split(",")[0].strip() if keys else default

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen, str(self.keymap_path)))

    async def action_view_last_entry(self) -> None:
        run = self.last_finished
        if run is not None and run.entry_id is not None:
            await self.show_entry(run.configuration_id, run.entry_id)

    async def show_entry(self, configuration_id: Any, entry_id: Any) -> None:
        """Open the entries overview filtered to the configuration, cursor on the entry."""
        await self.switch_mode("entries")
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        screen = self.screen
        if isinstance(screen, EntriesScreen):
            screen.focus_entry(configuration_id, entry_id)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every section and every action of the current screen, by name."""
        for name, title in SECTION_TITLES.items():
            yield SystemCommand(
                f"Go to {title}", f"Open the {title} section", partial(self._go, name)
            )
        for c in sorted(
            self.configurations.values(), key=lambda c: str(c.get("administration_number"))
        ):
            yield SystemCommand(
                f"Open configuration {c.get('administration_number')}",
                f"{c.get('administration_name') or ''} · {c.get('frequency')} · "
                f"{c.get('authorisation_name') or ''}",
                partial(self.open_configuration, c["id"]),
            )
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.action in seen or not active.enabled:
                continue
            if binding.action.startswith("section") or binding.action == "quit":
                continue
            seen.add(binding.action)
            yield SystemCommand(
                binding.description,
                f"{binding.description} ({self.get_key_display(binding)})",
                partial(self._run_binding, binding.action, active.node),
            )
        yield from super().get_system_commands(screen)

    @work(group="open", exit_on_error=False, description="open the configuration")
    async def open_configuration(self, configuration_id: Any) -> None:
        """Authorisations › its configurations › this one, as if the user had walked there."""

        configuration = await self.client.call("configurations.get", {"id": configuration_id})
        authorisation = await self.client.call(
            "authorisations.get", {"id": configuration["authorisation_id"]}
        )
        await self.switch_mode("authorisations")
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.push_screen(screen_for("configurations", authorisation))
        await self.push_screen(screen_for("configuration_view", configuration, authorisation))

    def _go(self, name: str) -> None:
        self.run_worker(self.action_section(name), exit_on_error=False)

    def _run_binding(self, action: str, node: Any) -> None:
        self.run_worker(self.run_action(action, node), exit_on_error=False)


def run_tui(
    socket_path: str | os.PathLike[str],
    on_exit: Callable[[], Any] | None = None,
) -> int:
    """Open the TUI against the daemon at ``socket_path``; ``on_exit`` runs however it ends.

    A missing daemon is not an error here: the TUI says how to start it and keeps retrying.
    """
    from bexsync_tui.client import ReconnectingClient

    client = ReconnectingClient(str(socket_path), client_name="bexsync-tui")
    app = BexsyncApp(client=client, socket_path=socket_path)
    try:
        app.run()
    finally:
        if on_exit is not None:
            on_exit()
    return app.return_code or 0
