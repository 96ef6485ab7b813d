"""The daemon application: wires store, services, engine, scheduler and the RPC server together.

This is the composition root; everything else receives ``app`` and asks it for collaborators,
so tests can swap the clock or the HTTP transports without touching production paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from daemon.api import build_registry
from daemon.background import Background
from daemon.config import DaemonConfig
from daemon.engine import SyncEngine
from daemon.events import EventBus, register_event_methods
from daemon.formats import iso
from daemon.logins import LoginCoordinator, LoopbackSettings
from daemon.logsetup import log_sync_outcome
from daemon.provider_pool import ProviderPool
from daemon.provider_settings import ProviderSettingsBook
from daemon.rpc.server import Server
from daemon.scheduler import Scheduler
from daemon.sdnotify import Notifier, start_watchdog, status_line, stop_task
from daemon.services.administrations import Administrations
from daemon.services.authorisations import Authorisations
from daemon.services.configurations import Configurations
from daemon.services.entries import Entries
from daemon.services.notifications import Notifications
from daemon.services.runs import Runs
from daemon.status import DaemonIdentity, StatusReport, SubscriberSnapshot, server_version
from daemon.store.db import prepare_state_dir
from daemon.store.sqlite import SqliteStore
from daemon.vault import CredentialVault

log = logging.getLogger("bexsync.daemon")

LOCK_NAME = "bexsyncd.lock"


class AlreadyRunning(Exception):
    """Another daemon holds this state dir."""


class DaemonApp:
    def __init__(
        self,
        *,
        state_dir: Path,
        socket_path: Path,
        config: DaemonConfig,
        clock: Callable[[], datetime] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.socket_path = socket_path
        self.config = config
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.notifier = notifier or Notifier()
        # Production leaves these None; the demo points them at nothing special either: the
        # simulators are real HTTP servers on 127.0.0.1 reached through configured URLs.
        self.pms_transport: httpx.AsyncBaseTransport | None = None
        self.provider_transport: httpx.AsyncBaseTransport | None = None
        self.background = Background()
        self.store = SqliteStore(state_dir, lambda: self.clock())
        self.vault = CredentialVault.from_key_file(config.encryption_key_file)
        self.provider_settings = ProviderSettingsBook(config.providers)
        self.runs = Runs(self)
        self.bus = EventBus(snapshot_provider=SubscriberSnapshot(store=self.store, runs=self.runs))
        self.administrations = Administrations(self)
        self.authorisations = Authorisations(self)
        self.providers = ProviderPool(
            store=self.store,
            vault=self.vault,
            settings=self.provider_settings,
            state_dir=state_dir,
            background=self.background,
            on_auth_lost=self.authorisations.auth_lost,
            transport=self.provider_transport,
        )
        self.logins = LoginCoordinator(
            store=self.store,
            vault=self.vault,
            settings=self.provider_settings,
            pool=self.providers,
            events=self.bus,
            clock=lambda: self.clock(),
            background=self.background,
            loopback=LoopbackSettings(config.oauth_loopback_port, config.oauth_redirect_uri),
            transport=self.provider_transport,
        )
        self.configurations = Configurations(self)
        self.notifications = Notifications(self)
        self.entries = Entries(self)
        self.engine = SyncEngine(self)
        self.scheduler = Scheduler(self)
        self.server: Server | None = None
        self.instance_id = uuid.uuid4().hex
        self.started_at = self.clock()
        self.report = StatusReport(
            store=self.store,
            clock=lambda: self.clock(),
            identity=DaemonIdentity(self.instance_id, self.started_at, state_dir, socket_path),
            pms=self.administrations,
            configurations=self.configurations,
            authorisations=self.authorisations,
            clients=self._client_count,
            metrics_file=config.metrics_file,
        )
        self._lock_fd: int | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self.extra_stop: list[Callable[[], Any]] = []
        self.demo_providers: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def acquire_lock(self) -> None:
        prepare_state_dir(self.state_dir)
        path = self.state_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"another bexsyncd is already running on state dir {self.state_dir}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    async def open(self) -> None:
        self.acquire_lock()
        await self.store.open()

    async def start(self, *, serve: bool = True) -> None:
        """Open state, recover interrupted runs, then serve and schedule."""
        if self._lock_fd is None:
            await self.open()
        await self.engine.recover()
        if serve:
            registry = build_registry()
            register_event_methods(registry, self.bus)
            self.server = Server(
                registry,
                app=self,
                socket_path=self.socket_path,
                socket_mode=self.config.socket_mode,
                allowed_gid=self.config.admin_gid(),
                version=server_version(),
            )
            await self.server.start()
        self._scheduler_task = asyncio.create_task(self._recover_then_schedule(), name="scheduler")
        self._watchdog_task = start_watchdog(self.notifier)
        self.notifier.ready()
        self.scheduler_status_changed()
        if self.config.metrics_file is not None:
            await self.report.write_metrics()
        log.info("bexsyncd ready: state dir %s, socket %s", self.state_dir, self.socket_path)

    async def _recover_then_schedule(self) -> None:
        try:
            await self.engine.recover_posting()
        except Exception:  # recovery is retried per run; the scheduler must still start
            log.exception("recovering runs left in posting failed")
        await self.scheduler.run_forever()

    async def stop(self) -> None:
        self.notifier.stopping()
        log.info("bexsyncd stopping")
        if self._scheduler_task is not None:
            self._scheduler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler_task
        await self.engine.shutdown()
        if self.server is not None:
            await self.server.stop()
        self.background.cancel_all()
        for hook in self.extra_stop:
            result = hook()
            if asyncio.iscoroutine(result):
                with contextlib.suppress(Exception):
                    await result
        with contextlib.suppress(Exception):
            await self.logins.stop()
        await self.providers.aclose()
        with contextlib.suppress(Exception):
            await self.administrations.aclose()
        if self._watchdog_task is not None:
            await stop_task(self._watchdog_task)
        if self.config.metrics_file is not None:
            with contextlib.suppress(Exception):
                await self.report.write_metrics(up=False)
        await self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self.background.spawn(coro, name)

    def _client_count(self) -> int:
        return self.server.clients if self.server is not None else 0

    # -- hooks the services call -----------------------------------------------------------
    def wake_scheduler(self) -> None:
        self.scheduler.wake()

    def on_run_finished(self, run: dict[str, Any]) -> None:
        self.scheduler.wake()
        log_sync_outcome(log, run)
        if self.config.metrics_file is not None:
            self.spawn(self.report.write_metrics(), "metrics")
        if run["state"] == "posted" and run.get("kind") == "entry" and run["trigger"] == "schedule":
            self.spawn(self._drift_after(run), f"drift-{run['id']}")

    async def _drift_after(self, run: dict[str, Any]) -> None:
        """Once caught up, look whether the period before the last one changed in the PMS.

        Not during a catch-up: each check re-fetches a whole period, and the PMS's rate limit is
        better spent on the periods still waiting.
        """
        from daemon.periods import Period
        from daemon.services.configurations import schedule_of

        cfg = await self.configurations.row(run["configuration_id"])
        done = await self.store.periods.done(cfg.id)
        nxt = schedule_of(cfg).next_due(self.clock(), done)
        if nxt is not None and nxt[1] <= self.clock():
            return
        previous = Period.parse(cfg.frequency, run["period"]).prev().key
        try:
            await self.engine.check_drift(cfg.id, previous)
        except Exception as exc:  # a failed check is retried after the next posting
            log.info("drift check of configuration %s %s skipped: %s", cfg.id, previous, exc)

    def retry_recovery_later(self, run_id: int, delay: float = 60.0) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            await self.engine.recover_one(run_id)

        self.spawn(later(), f"recover-{run_id}")

    def scheduler_status_changed(self) -> None:
        if not self.notifier.enabled:
            return
        nxt, item = self.scheduler.next_wake, self.scheduler.next_item
        runs = []
        if nxt is not None and item is not None:
            runs = [{"configuration_id": item[0], "period": item[1], "due_at": iso(nxt)}]
        running = self.engine.running_count()
        self.notifier.status(status_line(runs) + (f"; {running} running" if running else ""))
