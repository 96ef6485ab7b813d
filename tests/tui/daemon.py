"""The daemon the TUI tests run against: the real demo ``DaemonApp`` with its real RPC server
and registry, in the test's event loop, on a copy of a caught-up state dir.

For outages and injected errors ``TestDaemon`` overrides only the seam a test names (a service
method that fails or waits, the moment before posting, an authorisation's status, an event on
the real bus); everything else, the socket and the JSON-RPC layer included, is the daemon's own.
A spy on the TUI's client records the calls it made, so a test can say "nothing was sent".
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bexsync_tui.client import ReconnectingClient
from tests.support.waiting import until_async

FROZEN_NOW = datetime(2025, 3, 15, 9, 30, tzinfo=UTC)
"""The daemon's clock in every TUI test, so dates on screen are the same every run."""
ACTIVE = ("queued", "fetching", "building", "posting")


def frozen_clock() -> datetime:
    return FROZEN_NOW


def socket_of(tmp: Path) -> Path:
    """``/tmp/bx-XXXXXXXX.sock``: short, so messages naming it fit one line at 80 columns."""
    return Path(f"{tmp}.sock")


async def start_demo_daemon(tmp: Path, *, one_at_a_time: bool = False) -> Any:
    """A demo ``DaemonApp`` on ``tmp/state`` and ``socket_of(tmp)``, built as
    ``tests.support.daemon.demo_daemon`` builds it; on a seeded state dir ``seed_demo`` only
    starts the PMS simulator and re-points the daemon at it (a restart). ``one_at_a_time``:
    one sync at a time, so the catch-up's runs and notifications come in the same order on
    every build of the template (snapshots show them)."""
    from daemon.app import DaemonApp
    from daemon.config import parse_config
    from daemon.demo import seed_demo

    app = DaemonApp(
        state_dir=tmp / "state",
        socket_path=socket_of(tmp),
        config=parse_config(
            {"pms": {"page_size": 1000}, "daemon": {"max_concurrent_syncs": 1}}
            if one_at_a_time
            else {"pms": {"page_size": 1000}}
        ),
        clock=frozen_clock,
    )
    await app.open()
    await seed_demo(app)
    await app.start()
    return app


async def wait_idle(client: Any, timeout: float = 30) -> list[dict[str, Any]]:
    """Runs once nothing is queued or running (the catch-up has settled)."""

    async def settled() -> list[dict[str, Any]] | None:
        runs = await client.call("syncs.list", {"limit": 200})
        return runs if runs and not any(r["state"] in ACTIVE for r in runs) else None

    return await until_async(settled, "the demo daemon's catch-up to settle", timeout) or []


async def run_when_free(client: ReconnectingClient, params: dict[str, Any]) -> Any:
    """``syncs.run``, once the scheduler's own run of that configuration (a retry of a failed
    automatic period can start at any moment) has settled."""
    from bexsync_tui.client import RpcCallError

    deadline = time.monotonic() + 60
    while True:
        try:
            return await client.call("syncs.run", params)
        except RpcCallError as exc:
            if "already running" not in str(exc) or time.monotonic() > deadline:
                raise
        await wait_idle(client)


async def build_template(tmp: Path) -> None:
    """The demo caught up on 2025-03-15: 101 (daily, automatic) posted to yesterday, 102
    (monthly, manual) posted for 2024-12 and 2025-01, 103 (monthly, automatic) posted to
    2025-02 with its uncategorised line set to 8000 by hand, as a user would."""
    from tests.support.daemon import wait_run

    app = await start_demo_daemon(tmp, one_at_a_time=True)
    client = ReconnectingClient(str(app.socket_path), backoff_max=0.5)
    try:
        await client.start(wait=10)

        async def caught_up() -> bool:  # 101 to yesterday; 103 stops on its uncategorised 2024-12
            runs = await wait_idle(client)
            return any(r["configuration_id"] == 1 and r["period"] == "2025-03-14" for r in runs)

        await until_async(caught_up, "101 to catch up", 30)
        for period in ("2024-12", "2025-01"):
            started = await run_when_free(client, {"configuration_id": 2, "period": period})
            run = await wait_run(client, started["run_id"])  # type: ignore[arg-type]
            assert run["state"] == "posted", run
        for period in ("2024-12", "2025-01", "2025-02"):
            await wait_idle(client)
            draft = await client.call("syncs.preview", {"configuration_id": 3, "period": period})
            lines = [{**line, "account": line["account"] or "8000"} for line in draft["lines"]]
            await client.call("drafts.update", {"id": draft["id"], "lines": lines})
            started = await run_when_free(
                client, {"configuration_id": 3, "period": period, "draft_id": draft["id"]}
            )
            run = await wait_run(client, started["run_id"])  # type: ignore[arg-type]
            assert run["state"] == "posted", run
        await wait_idle(client)
    finally:
        await client.close()
        await app.stop()


def build_template_in_thread(tmp: Path) -> Path:
    """``build_template`` in its own thread and event loop (a session fixture has no loop)."""
    errors: list[BaseException] = []

    def build() -> None:
        try:
            asyncio.run(build_template(tmp))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=build, name="demo-template")
    thread.start()
    thread.join(120)
    if errors:
        raise errors[0]
    return tmp / "state"


async def add_entries(state_dir: Path, count: int) -> None:
    """``count`` more posted entries of configuration 101, one a day back from 1999-12-31
    (before any demo period), recorded through the store as the engine records a post."""
    from daemon.store.records import NewEntry, NewNotification
    from daemon.store.sqlite import SqliteStore

    store = SqliteStore(state_dir, frozen_clock)
    await store.open()
    try:
        note = NewNotification("success", "Posted", "bulk", {"kind": "entries", "entry_id": None})
        for n in range(count):
            day = date(1999, 12, 31) - timedelta(days=n)
            run_id = await store.runs.queue(
                1, day.isoformat(), trigger="manual", draft_id=None, allow_correction=False
            )
            entry = NewEntry(
                configuration_id=1,
                administration_number="101",
                period=day.isoformat(),
                kind="entry",
                reference=f"BULK-{n}",
                date=day,
                provider="sandbox",
                external_id=f"B-{n}",
                total=Decimal("12.50"),
                lines=BULK_LINES,
            )
            await store.runs.record_posted(run_id, entry, note)
    finally:
        await store.close()


BULK_LINES = [
    {"account": "1000", "account_name": "Cash", "description": "Takings", "vat_code": None,
     "debit": "12.50", "credit": "0.00"},
    {"account": "8000", "account_name": "Sales", "description": "Takings", "vat_code": None,
     "debit": "0.00", "credit": "12.50"},
]  # fmt: skip


class TestDaemon:
    """A real demo daemon on ``tmp/state``, with the controls a TUI test needs."""

    __test__ = False  # not a pytest test class

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.app: Any = None
        self.client = ReconnectingClient(
            str(socket_of(tmp)), client_name="bexsync-tui-test", backoff_max=0.3
        )
        self.sent: list[tuple[str, Any]] = []
        self._gate: asyncio.Event | None = None
        self._overrides: list[tuple[str, str, Callable[..., Awaitable[Any]]]] = []
        call = self.client.call

        async def spied(method: str, params: Any = None, **kwargs: Any) -> Any:
            self.sent.append((method, params))
            return await call(method, params, **kwargs)

        self.client.call = spied  # type: ignore[method-assign]

    def calls(self, method: str) -> list[Any]:
        """The params of every ``method`` call the TUI sent, in order."""
        return [params for name, params in self.sent if name == method]

    async def stop(self) -> None:
        """The daemon stops (its socket goes, connections close)."""
        if self.app is not None:
            app, self.app = self.app, None
            await app.stop()

    async def restart(self) -> None:
        """A new DaemonApp on the same state dir and socket (a new instance id)."""
        await self.stop()
        self.app = await start_demo_daemon(self.tmp)
        self._patch_post()
        for service, method, replacement in self._overrides:
            setattr(getattr(self.app.services, service), method, replacement)

    async def set_status(self, auth_id: int, status: str, message: str) -> None:
        """As the daemon does when a provider refuses the login (``auth_lost``)."""
        await self.app.authorisation_status.set(auth_id, status, message)

    def emit(self, topic: str, data: dict[str, Any]) -> None:
        """An event on the daemon's own bus, to every subscriber, as a unit publishes it."""
        self.app.bus.publish(topic, data)

    def override(self, service: str, method: str, replacement: Callable[..., Any]) -> None:
        """``services.<service>.<method>`` becomes ``replacement`` (async, same arguments)
        for this daemon and any restart: the one seam a test needs, e.g. a failing call."""
        setattr(getattr(self.app.services, service), method, replacement)
        self._overrides.append((service, method, replacement))

    def hold(self, service: str, method: str) -> asyncio.Event:
        """``services.<service>.<method>`` waits until the returned event is set."""
        real = getattr(getattr(self.app.services, service), method)
        gate = asyncio.Event()

        async def held(*args: Any, **kwargs: Any) -> Any:
            await gate.wait()
            return await real(*args, **kwargs)

        self.override(service, method, held)
        return gate

    async def hold_runs(self) -> None:
        """Runs wait just before posting until ``release_runs()``."""
        self._gate = asyncio.Event()
        self._patch_post()

    async def release_runs(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    def _patch_post(self) -> None:
        """Wrap this instance's ``engine._post``: the seam between building and posting."""
        if self.app is None or getattr(self.app.engine, "_held", False):
            return
        engine = self.app.engine
        post = engine._post

        async def held_post(*args: Any, **kwargs: Any) -> Any:
            gate = self._gate
            if gate is not None:
                await gate.wait()
            return await post(*args, **kwargs)

        engine._post = held_post
        engine._held = True

    async def close(self) -> None:
        await self.client.close()
        await self.release_runs()
        await self.stop()


@asynccontextmanager
async def test_daemon_on(
    template: Path, *, running: bool = True, entries: int = 0
) -> AsyncIterator[TestDaemon]:
    """A ``TestDaemon`` on a copy of the template state; ``running=False``: a daemon that died
    (its socket file left behind, refusing connections); ``entries``: that many more posted."""
    short = Path(tempfile.mkdtemp(prefix="bx-"))
    shutil.copytree(template, short / "state")
    if entries:
        await add_entries(short / "state", entries)
    daemon = TestDaemon(short)
    if running:
        await daemon.restart()
        await daemon.client.start(wait=10)
    else:
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(socket_of(short)))
        stale.close()
        await daemon.client.start()
    try:
        yield daemon
    finally:
        await daemon.close()
        shutil.rmtree(short, ignore_errors=True)
        socket_of(short).unlink(missing_ok=True)


test_daemon_on.__test__ = False  # type: ignore[attr-defined]


class DaemonThread:
    """A ``TestDaemon`` in its own thread and event loop, for tests whose app runs its own
    loop (``snap_compare`` calls ``App.run``). ``do`` runs a coroutine on the daemon's loop."""

    __test__ = False

    def __init__(self, template: Path, **options: Any) -> None:
        self.template = template
        self.options = options
        self.daemon: TestDaemon | None = None
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="test-daemon")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._errors.append(exc)
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with test_daemon_on(self.template, **self.options) as daemon:
            self.daemon = daemon
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> DaemonThread:
        self._thread.start()
        self._ready.wait(60)
        if self._errors:
            raise self._errors[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    @property
    def socket_path(self) -> Path:
        assert self.daemon is not None
        return socket_of(self.daemon.tmp)

    async def do(self, action: Callable[[TestDaemon], Awaitable[Any]]) -> Any:
        """``await action(daemon)`` on the daemon's loop, from another loop."""
        assert self.daemon is not None
        future = asyncio.run_coroutine_threadsafe(action(self.daemon), self.loop)
        return await asyncio.wrap_future(future)
