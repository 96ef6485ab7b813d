"""The composition root: builds every unit of the daemon with exactly the collaborators it uses,
and runs them (lock, open, start, stop). Nothing else holds the whole daemon; ``Services`` is
what the RPC methods reach.

The clock and the HTTP transports are constructor parameters: tests pass a frozen clock, and
the simulators are real HTTP servers reached through configured URLs (production passes None).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from daemon.api import build_registry
from daemon.api.backend import ApiBackend
from daemon.background import Background
from daemon.config import DaemonConfig
from daemon.engine import SyncEngine, assemble
from daemon.engine.drafts import Drafts
from daemon.events import EventBus, register_event_methods
from daemon.followups import FollowUps
from daemon.formats import Clock, utc_now
from daemon.logins import LoginCoordinator, LoopbackSettings
from daemon.progress import LiveProgress
from daemon.provider_pool import ProviderPool
from daemon.provider_settings import ProviderSettingsBook
from daemon.rpc.server import Server
from daemon.scheduler import Scheduler
from daemon.sdnotify import Notifier, start_watchdog, stop_task
from daemon.secret_key import secrets_box
from daemon.services.access import AdministrationAccess
from daemon.services.administrations import Administrations, PmsSettings
from daemon.services.authorisations import Authorisations, AuthorisationStatus
from daemon.services.configurations import Configurations
from daemon.services.entries import Entries
from daemon.services.notifications import Notifications
from daemon.services.runs import Runs
from daemon.statelock import StateDirLocked, StateLock, lock_state_dir
from daemon.status import DaemonIdentity, StatusReport, SubscriberSnapshot, server_version
from daemon.store.db import prepare_state_dir
from daemon.store.sqlite import SqliteStore
from daemon.vault import CredentialVault
from providers.ratelimit import LimiterRegistry

if TYPE_CHECKING:
    from providers.simulators.demo import DemoProvider

log = logging.getLogger("bexsync.daemon")


class AlreadyRunning(Exception):
    """Another daemon holds this state dir."""


@dataclass(frozen=True)
class Services:
    """What the RPC methods (``daemon/api``) reach as ``ctx.app``."""

    authorisations: Authorisations
    configurations: Configurations
    administrations: Administrations
    runs: Runs
    entries: Entries
    notifications: Notifications
    engine: SyncEngine
    drafts: Drafts
    report: StatusReport
    provider_settings: ProviderSettingsBook


class DaemonApp:
    def __init__(
        self,
        *,
        state_dir: Path,
        socket_path: Path,
        config: DaemonConfig,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        pms_transport: httpx.AsyncBaseTransport | None = None,
        provider_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.socket_path = socket_path
        self.config = config
        self.notifier = notifier or Notifier()
        clock = self.clock = clock or utc_now
        self.instance_id = uuid.uuid4().hex
        self.server: Server[ApiBackend] | None = None
        self.extra_stop: list[Callable[[], Awaitable[object] | None]] = []  # demo simulators
        self.demo_providers: dict[str, DemoProvider] = {}
        background = self.background = Background()
        limiters = LimiterRegistry()  # one rate limiter per provider account, daemon-wide
        followups = FollowUps()
        store = self.store = SqliteStore(state_dir, clock)
        box = secrets_box(
            state_dir,
            key_file=config.encryption_key_file,
            plain=config.plain_secrets,
            credentials_dir=os.environ.get("CREDENTIALS_DIRECTORY"),
        )
        vault = self.vault = CredentialVault(box)
        settings = self.provider_settings = ProviderSettingsBook(config.providers)
        progress = LiveProgress()
        runs = Runs(store=store, progress=progress)
        bus = self.bus = EventBus(snapshot_provider=SubscriberSnapshot(store=store, runs=runs))
        notifications = Notifications(store=store, events=bus)
        status = self.authorisation_status = AuthorisationStatus(
            store=store, events=bus, notifications=notifications, wake=followups.wake
        )
        pool = self.providers = ProviderPool(
            store=store,
            vault=vault,
            settings=settings,
            state_dir=state_dir,
            background=background,
            on_auth_lost=status.lost,
            limiters=limiters,
            transport=provider_transport,
        )
        logins = self.logins = LoginCoordinator(
            store=store,
            vault=vault,
            settings=settings,
            pool=pool,
            events=bus,
            clock=clock,
            background=background,
            loopback=LoopbackSettings(config.oauth_loopback_port, config.oauth_redirect_uri),
            transport=provider_transport,
        )
        configurations = self.configurations = Configurations(
            store=store, pool=pool, runs=runs, events=bus, clock=clock, wake=followups.wake
        )
        access = AdministrationAccess(
            store=store, notifications=notifications, changed=configurations.changed
        )
        pms = self.administrations = Administrations(
            store=store,
            vault=vault,
            settings=PmsSettings.from_config(config),
            logins=logins,
            notifications=notifications,
            events=bus,
            clock=clock,
            wake=followups.wake,
            access=access,
            limiters=limiters,
            transport=pms_transport,
        )
        authorisations = self.authorisations = Authorisations(
            store=store, logins=logins, pool=pool, status=status, settings=settings, events=bus
        )
        engine = assemble(
            store=store,
            clock=clock,
            pool=pool,
            pms=pms,
            runs=runs,
            progress=progress,
            events=bus,
            notifications=notifications,
            authorisation_status=status,
            followups=followups,
            max_concurrent=config.max_concurrent_syncs,
        )
        report = StatusReport(
            store=store,
            clock=clock,
            identity=DaemonIdentity(self.instance_id, clock(), state_dir, socket_path),
            pms=pms,
            configurations=configurations,
            authorisations=authorisations,
            clients=self._client_count,
            recovering=followups.recovering,
            metrics_file=config.metrics_file,
        )
        self.engine, self.recovery = engine.runs, engine.recovery
        self.corrections, self.outcomes = engine.corrections, engine.outcomes
        self.scheduler = Scheduler(
            store=store,
            clock=clock,
            runs=engine.runs,
            recovery=engine.recovery,
            drift=engine.corrections,
            followups=followups,
            background=background,
            notifier=self.notifier,
            metrics=report if config.metrics_file is not None else None,
        )
        self.services = Services(
            authorisations=authorisations,
            configurations=configurations,
            administrations=pms,
            runs=runs,
            entries=Entries(store=store),
            notifications=notifications,
            engine=engine.runs,
            drafts=engine.drafts,
            report=report,
            provider_settings=settings,
        )
        self._lock: StateLock | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def acquire_lock(self) -> None:
        prepare_state_dir(self.state_dir)
        try:
            self._lock = lock_state_dir(self.state_dir)
        except StateDirLocked:
            raise AlreadyRunning(
                f"another bexsyncd is already running on state dir {self.state_dir}"
            ) from None

    async def open(self) -> None:
        self.acquire_lock()
        await self.store.open()
        sealed = await self.vault.seal_stored_plain(self.store)
        if sealed:
            log.warning("sealed %d secrets that were stored in plain text", sealed)

    async def start(self, *, serve: bool = True) -> None:
        """Open state, recover interrupted runs, then serve and schedule."""
        if self._lock is None:
            await self.open()
        await self.recovery.recover()
        if serve:
            registry = build_registry()
            register_event_methods(registry, self.bus)
            self.server = Server(
                registry,
                app=self.services,
                socket_path=self.socket_path,
                socket_mode=self.config.socket_mode,
                allowed_gid=self.config.admin_gid(),
                max_connections=self.config.max_connections,
                max_connections_per_client=self.config.max_connections_per_client,
                idle_timeout=self.config.idle_timeout_s,
                version=server_version(),
            )
            await self.server.start()
        self._scheduler_task = asyncio.create_task(self._recover_then_schedule(), name="scheduler")
        self._watchdog_task = start_watchdog(self.notifier)
        self.notifier.ready()
        self.scheduler.announce()
        await self.services.report.write_metrics()
        log.info("bexsyncd ready: state dir %s, socket %s", self.state_dir, self.socket_path)

    async def _recover_then_schedule(self) -> None:
        try:
            await self.recovery.recover_posting()
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
            if result is not None:
                with contextlib.suppress(Exception):
                    await result
        with contextlib.suppress(Exception):
            await self.logins.stop()
        await self.providers.aclose()
        with contextlib.suppress(Exception):
            await self.administrations.aclose()
        if self._watchdog_task is not None:
            await stop_task(self._watchdog_task)
        with contextlib.suppress(Exception):
            await self.services.report.write_metrics(up=False)
        await self.store.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _client_count(self) -> int:
        return self.server.clients if self.server is not None else 0
