"""The daemon application: wires store, services, engine, scheduler and the RPC server together.

This is the composition root; everything else receives ``app`` and asks it for collaborators,
so tests can swap the clock or the HTTP transports without touching production paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from daemon import metrics
from daemon.api import build_registry
from daemon.api.backend import ApiBackend
from daemon.config import DaemonConfig
from daemon.engine import SyncEngine
from daemon.events import EventBus, register_event_methods
from daemon.logsetup import log_sync_outcome
from daemon.rpc.errors import AuthorisationRequired, NotFound, RpcError
from daemon.rpc.server import Server
from daemon.scheduler import Scheduler
from daemon.sdnotify import Notifier, start_watchdog, status_line, stop_task
from daemon.services.administrations import Administrations
from daemon.services.authorisations import Authorisations
from daemon.services.common import iso, loads, parse_iso
from daemon.services.configurations import Configurations
from daemon.services.entries import Entries
from daemon.services.notifications import Notifications
from daemon.services.runs import ACTIVE_SQL, Runs
from daemon.store import Database, open_database
from daemon.store.db import prepare_state_dir
from providers import registry as provider_registry
from providers.base import Provider
from providers.context import ProviderContext
from providers.oauth import OAuthFlowError, parse_redirect_url
from providers.oauth_loopback import LoopbackCatcher, LoopbackError
from providers.ratelimit import LimiterRegistry
from providers.redact import register_secret
from providers.tokens import SecretBox

log = logging.getLogger("bexsync.daemon")

API_VERSION = "1.0"
LOCK_NAME = "bexsyncd.lock"
SEALED_PREFIX = "sealed:"


@functools.cache  # importlib.metadata scans sys.path: about 0.5 ms a call, and it never changes
def server_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bexsync")
    except PackageNotFoundError:
        return "0+unknown"


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
        self.limiters = LimiterRegistry()  # one rate limiter per provider account, daemon-wide
        self.bus = EventBus(snapshot_provider=self.snapshot)
        self.administrations = Administrations(self)
        self.authorisations = Authorisations(self)
        self.configurations = Configurations(self)
        self.notifications = Notifications(self)
        self.entries = Entries(self)
        self.runs = Runs(self)
        self.engine = SyncEngine(self)
        self.scheduler = Scheduler(self)
        self.db: Database
        self.server: Server[ApiBackend] | None = None
        self.instance_id = uuid.uuid4().hex
        self.started_at = self.clock()
        self._lock_fd: int | None = None
        self._catcher: LoopbackCatcher | None = None
        self._box = (
            SecretBox.from_file(config.encryption_key_file) if config.encryption_key_file else None
        )
        self._providers: dict[int, Provider] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._scheduler_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self.on_started: list[Callable[[], Any]] = []
        self.extra_stop: list[Callable[[], Any]] = []

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
        self.db = await open_database(self.state_dir)

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
        for hook in self.on_started:
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        self.notifier.ready()
        self.scheduler_status_changed()
        if self.config.metrics_file is not None:
            await self.write_metrics()
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
        for task in list(self._background):
            task.cancel()
        for hook in self.extra_stop:
            result = hook()
            if asyncio.iscoroutine(result):
                with contextlib.suppress(Exception):
                    await result
        if self._catcher is not None:
            with contextlib.suppress(Exception):
                await self._catcher.stop()
        for provider in self._providers.values():
            with contextlib.suppress(Exception):
                await provider.aclose()
        with contextlib.suppress(Exception):
            await self.administrations.aclose()
        self._providers.clear()
        if self._watchdog_task is not None:
            await stop_task(self._watchdog_task)
        if self.config.metrics_file is not None:
            with contextlib.suppress(Exception):
                await self.write_metrics(up=False)
        await self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- hooks the services call -----------------------------------------------------------
    def wake_scheduler(self) -> None:
        self.scheduler.wake()

    def on_run_finished(self, run: dict[str, Any]) -> None:
        self.scheduler.wake()
        log_sync_outcome(log, run)
        if self.config.metrics_file is not None:
            self.spawn(self.write_metrics(), "metrics")
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
        done = await self.configurations.done_periods(cfg["id"])
        nxt = schedule_of(cfg).next_due(self.clock(), done)
        if nxt is not None and nxt[1] <= self.clock():
            return
        previous = Period.parse(cfg["frequency"], run["period"]).prev().key
        try:
            await self.engine.check_drift(cfg["id"], previous)
        except Exception as exc:  # a failed check is retried after the next posting
            log.info("drift check of configuration %s %s skipped: %s", cfg["id"], previous, exc)

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

    # -- providers -------------------------------------------------------------------------
    def oauth_redirect_uri(self) -> str:
        if self.config.oauth_redirect_uri:
            return self.config.oauth_redirect_uri
        port = self.config.oauth_loopback_port or 8765
        return f"http://127.0.0.1:{port}/callback"

    def seal(self, data: Any) -> str:
        """Secrets at rest: JSON, encrypted when an encryption key file is configured."""
        text = json.dumps(data)
        if self._box is None:
            return text
        return SEALED_PREFIX + self._box.encrypt(text.encode())

    def unseal(self, text: str) -> Any:
        if text.startswith(SEALED_PREFIX):
            if self._box is None:
                raise AuthorisationRequired(
                    "Stored credentials are encrypted, but no encryption_key_file is configured."
                )
            text = self._box.decrypt(text[len(SEALED_PREFIX) :]).decode()
        value = json.loads(text)
        if isinstance(value, dict):
            for v in value.values():
                if isinstance(v, str):
                    register_secret(v)
        return value

    def expect_redirect(self, auth_id: int | None, pending: Any) -> None:
        """With a loopback port configured, catch the browser's redirect ourselves."""
        if self.config.oauth_loopback_port is None or self._catcher is not None:
            return
        self._catcher = LoopbackCatcher(self.config.oauth_loopback_port, self._caught_redirect)
        self.spawn(self._start_catcher(), "oauth-loopback")

    async def _start_catcher(self) -> None:
        assert self._catcher is not None
        try:
            await self._catcher.start()
        except LoopbackError as exc:
            log.warning("OAuth loopback listener not started: %s", exc)
            self._catcher = None

    async def _caught_redirect(self, url: str) -> None:
        """Find the pending login this redirect belongs to (by its state) and complete it."""
        state = parse_redirect_url(url).get("state")
        for row in await self.db.fetchall("SELECT * FROM pending_logins"):
            pending = self.unseal(row["data"])
            flow = pending.get("flow") if isinstance(pending, dict) else None
            if flow and json.loads(flow).get("state") == state:
                await self.authorisations.complete(row["authorisation_id"], url, None, None)
                return
        if await self.administrations.caught_redirect(url, state):  # the PMS's own login
            return
        raise OAuthFlowError(
            "oauth", "rejected", "this redirect belongs to no login in progress", reason="state"
        )

    def poll_device_login(self, auth_id: int) -> None:
        """Complete a device-code login in the background once the user approves it."""

        async def poll() -> None:
            while True:
                row = await self.db.fetchone(
                    "SELECT data, expires_at FROM pending_logins WHERE authorisation_id = ?",
                    (auth_id,),
                )
                if row is None or self.clock().timestamp() > row["expires_at"]:
                    return
                interval = json.loads(self.unseal(row["data"]).get("device", "{}")).get(
                    "interval", 5
                )
                await asyncio.sleep(max(1.0, float(interval)))
                try:
                    await self.authorisations.complete(auth_id, None, None, None)
                    return
                except RpcError as exc:
                    if "not approved yet" not in exc.message:
                        log.info("device login of authorisation %s ended: %s", auth_id, exc)
                        return

        self.spawn(poll(), f"device-login-{auth_id}")

    def forget_provider(self, auth_id: int) -> None:
        self.engine.forget_chart(auth_id)
        provider = self._providers.pop(auth_id, None)
        if provider is not None:
            self.spawn(provider.aclose(), f"close-provider-{auth_id}")

    async def provider_for(self, auth_id: int) -> Provider:
        if auth_id in self._providers:
            return self._providers[auth_id]
        row = await self.db.fetchone("SELECT * FROM authorisations WHERE id = ?", (auth_id,))
        if row is None:
            raise NotFound(f"No authorisation with id {auth_id}.")
        spec = provider_registry.get(row["provider"])
        if spec is None:
            raise AuthorisationRequired(f"Provider {row['provider']!r} is not known.")
        cred = await self.db.fetchone(
            "SELECT data FROM credentials WHERE authorisation_id = ?", (auth_id,)
        )
        credentials = self.unseal(cred["data"]) if cred else {}

        async def lost(message: str) -> None:
            await self.authorisations.auth_lost(auth_id, message)

        async def save_credentials(creds: dict[str, Any]) -> None:
            async with self.db.transaction() as conn:
                await conn.execute(
                    "UPDATE credentials SET data = ?, updated_at = ? WHERE authorisation_id = ?",
                    (self.seal(creds), iso(self.clock()), auth_id),
                )

        ctx = ProviderContext(
            provider_id=row["provider"],
            authorisation_id=auth_id,
            settings=self.config.provider(row["provider"]),
            state_dir=self.state_dir,
            options=loads(row["settings"], {}),
            credentials=credentials,
            transport=self.provider_transport,
            on_auth_lost=lost,
            save_credentials=save_credentials,
            limiters=self.limiters,
        )
        provider = spec.create(ctx)
        self._providers[auth_id] = provider
        return provider

    def providers_list(self) -> list[dict[str, Any]]:
        out = []
        for spec in provider_registry.all_specs():
            item = spec.info.as_dict()
            item["login"] = spec.login.kind
            item["registered"] = (
                not spec.needs_app_registration or self.config.provider(spec.info.id).registered
            )
            out.append(item)
        return out

    # -- daemon.* --------------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {
            "api_version": API_VERSION,
            "server_version": server_version(),
            "instance_id": self.instance_id,
        }

    async def next_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        configs = await self.configurations.list()
        upcoming = [
            {
                "configuration_id": c["id"],
                "administration_number": c["administration_number"],
                "period": c["next_due"]["period"],
                "due_at": c["next_due"]["due_at"],
                "automatic": c["automatic"],
            }
            for c in configs
            if c["active"] and c["next_due"]
        ]
        upcoming.sort(key=lambda r: r["due_at"])
        return upcoming[:limit]

    async def attention(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        pms = await self.administrations.pms_get()
        if pms["status"] == "error":  # its login was refused: every sync waits for it
            items.append({"kind": "pms", "id": None, "message": f"PMS: {pms['message']}"})
        for auth in await self.authorisations.list():
            if auth["status"] == "error":
                items.append(
                    {
                        "kind": "authorisation",
                        "id": auth["id"],
                        "message": f"Authorisation {auth['name']!r}: {auth['status_message']}",
                    }
                )
        rows = await self.db.fetchall(
            "SELECT r.* FROM runs r WHERE r.id IN (SELECT max(id) FROM runs GROUP BY "
            "configuration_id, period) AND r.state IN ('failed', 'needs_review') "
            "AND NOT EXISTS (SELECT 1 FROM period_status s WHERE s.configuration_id = "
            "r.configuration_id AND s.period = r.period) ORDER BY r.id DESC LIMIT 50"
        )
        for r in rows:
            items.append(
                {
                    "kind": "run",
                    "id": r["id"],
                    "configuration_id": r["configuration_id"],
                    "period": r["period"],
                    "state": r["state"],
                    "message": r["error"] or r["state"],
                }
            )
        return items

    async def status(self) -> dict[str, Any]:
        now = self.clock()
        counts = {}
        for table in ("administrations", "authorisations", "configurations", "entries"):
            counts[table] = int(await self.db.fetchval(f"SELECT count(*) FROM {table}"))
        counts["running"] = int(
            await self.db.fetchval(f"SELECT count(*) FROM runs WHERE state IN {ACTIVE_SQL}")
        )
        counts["unread_notifications"] = await self.notifications.unread_count()
        return {
            "version": server_version(),
            "api_version": API_VERSION,
            "instance_id": self.instance_id,
            "started_at": iso(self.started_at),
            "uptime_s": int((now - self.started_at).total_seconds()),
            "state_dir": str(self.state_dir),
            "socket": str(self.socket_path),
            "pms": await self.administrations.pms_get(),
            "counts": counts,
            "clients": self.server.clients if self.server else 0,
            "next_runs": await self.next_runs(),
            "attention": await self.attention(),
        }

    async def snapshot(self, topics: list[str]) -> dict[str, Any]:
        """What a new subscriber needs first so it misses no run."""
        snap: dict[str, Any] = {}
        if "sync.progress" in topics or "sync.finished" in topics:
            snap["running"] = await self.runs.running()
        if "notification.created" in topics:
            snap["unread_notifications"] = await self.notifications.unread_count()
        return snap

    async def write_metrics(self, up: bool = True) -> None:
        path = self.config.metrics_file
        if path is None:
            return
        runs = {
            r[0]: r[1]
            for r in await self.db.fetchall("SELECT state, count(*) FROM runs GROUP BY state")
        }
        auths = {
            r[0]: r[1]
            for r in await self.db.fetchall(
                "SELECT status, count(*) FROM authorisations GROUP BY status"
            )
        }
        errors = {
            (r[0], r[1]): r[2]
            for r in await self.db.fetchall(
                "SELECT au.provider, r.error_kind, count(*) FROM runs r JOIN configurations c "
                "ON c.id = r.configuration_id JOIN authorisations au ON au.id = "
                "c.authorisation_id WHERE r.error_kind IS NOT NULL GROUP BY 1, 2"
            )
        }
        last = [
            metrics.LastSuccess(r[0], r[1], parse_iso(r[2]).timestamp())
            for r in await self.db.fetchall(
                "SELECT c.id, ad.number, max(r.finished_at) FROM runs r JOIN configurations c "
                "ON c.id = r.configuration_id JOIN administrations ad ON ad.id = "
                "c.administration_id WHERE r.state = 'posted' GROUP BY c.id"
            )
        ]
        snapshot = metrics.MetricsSnapshot(
            runs_by_state=runs,
            last_success=last,
            provider_errors=errors,
            authorisations=auths,
            up=up,
        )
        await asyncio.to_thread(metrics.write_metrics, path, snapshot)
