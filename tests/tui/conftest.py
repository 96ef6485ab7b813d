"""Fixtures: a daemon backend (the in-memory fake, or a real demo daemon) and the app on its client.

Test bodies only use ``backend`` (``client`` plus async controls) and facts of the embedded
demo (the "Demo sandbox" authorisation, administrations 101/102/103: 101 daily automatic,
102 monthly manual, 103 monthly automatic). Every flow test runs on both backends:

- ``fake``: ``FakeDaemon``, in memory, fixed data on 2025-03-15.
- ``real``: a real ``DaemonApp`` in this event loop (the embedded demo: simulated BEX PMS over
  HTTP, sandbox ledger, the real RPC server on a Unix socket) with a ``ReconnectingClient``, the
  daemon's clock frozen at the fake's "now". Its state is built once per session (the start-up
  catch-up done, and 102's 2024-12 and 2025-01 posted, as in the fake's history) and copied for
  each test, so a test starts in about 0.2 s and sees no catch-up of its own.

Tests that need the fake's extra hooks take the ``fake`` fixture (skipped on ``real``); tests
that assert the fake's own data (its notifications, its run stages) are listed in
``FAKE_ONLY`` with the reason.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from bexsync_tui.app import BexsyncApp
from bexsync_tui.client import ReconnectingClient, RpcCallError
from bexsync_tui.fake import FakeDaemon

SOCKET = "/run/bexsync/bexsyncd.sock"
"""The socket the app names on screen (the real backend's client connects to its own)."""
FROZEN_NOW = datetime(2025, 3, 15, 9, 30, tzinfo=UTC)
"""The real daemon's clock: the fake's "now", so both backends share dates."""
ACTIVE = ("queued", "fetching", "building", "posting")

FAKE_ONLY: dict[str, str] = {
    "test_rpc_errors_are_sentences_not_tracebacks": (
        "makes the fake's handlers raise any error, a Python exception included, which a real "
        "daemon never sends over the socket"
    ),
    "test_open_url_login_with_qr_code_and_paste_back": (
        "the shared demo daemon has no Xero app (--demo-providers would add authorisations to "
        "every other test's lists); the real flow runs in test_real_open_url_login.py"
    ),
    "test_logging_in_again_with_a_pasted_redirect": (
        "the same: the real flow runs in test_real_open_url_login.py"
    ),
}

REAL_ONLY: dict[str, str] = {
    "test_a_corrected_preview_of_a_posted_period_posts_the_difference_only": (
        "the daemon's preview of a posted period is the correction itself (issue 16.1: what "
        "changed in the PMS since the last posting), which the bookkeeper writes here; the "
        "fake still shows the whole entry"
    ),
}


UI_ONLY = {
    "test_keys_can_be_remapped_by_binding_id",
    "test_help_lists_the_keys_with_their_ids",
    "test_command_palette_reaches_sections_and_actions",
    "test_ctrl_q_quits",
    "test_sixteen_colour_terminals_get_the_ansi_theme",
}
"""Keymaps, help, palette, quit, colours: nothing the daemon answers differs, so these run on
the fake only (not collected on "real"), to keep the suite's time down."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the real daemon: drop the UI-only tests; skip those that assert the fake's data."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = getattr(item, "originalname", item.name)
        if callspec is None or callspec.params.get("backend") != "real":
            kept.append(item)
            if callspec is not None and name in REAL_ONLY:
                item.add_marker(pytest.mark.skip(reason=f"real only: {REAL_ONLY[name]}"))
            continue
        if name in UI_ONLY:
            dropped.append(item)
            continue
        kept.append(item)
        reason = FAKE_ONLY.get(name)
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"fake only: {reason}"))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


class FakeBackend:
    """The controls a test needs from a daemon, on the fake."""

    kind = "fake"

    def __init__(self, fake: FakeDaemon) -> None:
        self.fake = fake
        self.client = fake

    async def stop(self) -> None:
        """The daemon goes away (killed, crashed, stopped)."""
        self.fake.stop_daemon()

    async def restart(self) -> None:
        """A daemon answers again (a new instance)."""
        self.fake.start_daemon()

    async def hold_runs(self) -> None:
        """Syncs pause before posting, so a test can look at them running."""
        self.fake.hold_runs()

    async def set_status(self, auth_id: int, status: str, message: str) -> None:
        """The daemon marks an authorisation (``error``: its login was refused)."""
        self.fake.set_status(auth_id, status, message)

    async def release_runs(self) -> None:
        self.fake.release_runs()

    async def close(self) -> None:
        pass


# -- the real daemon ---------------------------------------------------------------------------


def frozen_clock() -> datetime:
    return FROZEN_NOW


def socket_of(tmp: Path) -> Path:
    """``/tmp/bx-XXXXXXXX.sock``: short, so messages naming it wrap as the fake's do."""
    return Path(f"{tmp}.sock")


async def start_demo_daemon(tmp: Path) -> Any:
    """A demo ``DaemonApp`` on ``tmp/state`` and ``socket_of(tmp)``, built as
    ``tests.support.daemon.demo_daemon`` builds it; on a seeded state dir ``seed_demo`` only
    starts the PMS simulator and re-points the daemon at it (a restart)."""
    from daemon.app import DaemonApp
    from daemon.config import parse_config
    from daemon.demo import seed_demo

    app = DaemonApp(
        state_dir=tmp / "state",
        socket_path=socket_of(tmp),
        config=parse_config({"pms": {"page_size": 1000}}),
        clock=frozen_clock,
    )
    await app.open()
    await seed_demo(app)
    await app.start()
    return app


async def _wait_idle(client: Any, timeout: float = 30) -> list[dict[str, Any]]:
    """Runs once nothing is queued or running (the catch-up has settled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = await client.call("syncs.list", {"limit": 200})
        if runs and not any(r["state"] in ACTIVE for r in runs):
            return runs
        await asyncio.sleep(0.05)
    raise TimeoutError("the demo daemon's catch-up did not settle")


async def _run_when_free(client: ReconnectingClient, params: dict[str, Any]) -> Any:
    """``syncs.run``, once the scheduler's own run of that configuration (a retry of a failed
    automatic period can start at any moment) has settled."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await client.call("syncs.run", params)
        except RpcCallError as exc:
            if "already running" not in str(exc) or time.monotonic() > deadline:
                raise
        await _wait_idle(client)


async def _build_template(tmp: Path) -> None:
    from tests.support.daemon import wait_run

    app = await start_demo_daemon(tmp)
    client = ReconnectingClient(str(app.socket_path), backoff_max=0.5)
    try:
        await client.start(wait=10)
        deadline = time.monotonic() + 30
        while True:  # 101 catches up to yesterday; 103 stops on its uncategorised 2024-12
            runs = await _wait_idle(client)
            if any(r["configuration_id"] == 1 and r["period"] == "2025-03-14" for r in runs):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("101 did not catch up")
            await asyncio.sleep(0.05)
        for period in ("2024-12", "2025-01"):  # 102's history, as in the fake
            started = await _run_when_free(client, {"configuration_id": 2, "period": period})
            run = await wait_run(client, started["run_id"])  # type: ignore[arg-type]
            assert run["state"] == "posted", run
        # Each month of 103 has an uncategorised BEX line, so its automatic runs fail: post
        # them corrected (to 8000) as a user would, giving it the fake's history to 2025-02.
        for period in ("2024-12", "2025-01", "2025-02"):
            await _wait_idle(client)
            draft = await client.call("syncs.preview", {"configuration_id": 3, "period": period})
            lines = [{**line, "account": line["account"] or "8000"} for line in draft["lines"]]
            await client.call("drafts.update", {"id": draft["id"], "lines": lines})
            started = await _run_when_free(
                client, {"configuration_id": 3, "period": period, "draft_id": draft["id"]}
            )
            run = await wait_run(client, started["run_id"])  # type: ignore[arg-type]
            assert run["state"] == "posted", run
        await _wait_idle(client)
    finally:
        await client.close()
        await app.stop()


@pytest.fixture(scope="session")
def real_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A caught-up demo state dir, built once (in its own thread and event loop)."""
    tmp = tmp_path_factory.mktemp("demo-template")
    errors: list[BaseException] = []

    def build() -> None:
        try:
            asyncio.run(_build_template(tmp))
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=build, name="demo-template")
    thread.start()
    thread.join(60)
    if errors:
        raise errors[0]
    return tmp / "state"


class RealBackend:
    """The same controls on a real demo daemon running in the test's event loop."""

    kind = "real"

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.app: Any = None
        self.client = ReconnectingClient(
            str(socket_of(tmp)), client_name="bexsync-tui-test", backoff_max=0.3
        )
        self._gate: asyncio.Event | None = None

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

    async def set_status(self, auth_id: int, status: str, message: str) -> None:
        """As the daemon does when a provider refuses the login (``auth_lost``)."""
        await self.app.authorisation_status.set(auth_id, status, message)

    async def hold_runs(self) -> None:
        """Runs wait just before posting until ``release_runs()``."""
        self._gate = asyncio.Event()
        self._patch_post()

    async def release_runs(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    def _patch_post(self) -> None:
        """Wrap this instance's ``engine._post`` (test-only; production code is untouched)."""
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


Backend = FakeBackend | RealBackend


@pytest.fixture
def daemon_options() -> dict[str, Any]:
    """How the daemon starts; a module overrides it (``bulk_entries``, ``running=False``)."""
    return {}


@pytest.fixture(params=["fake", "real"])
async def backend(
    request: pytest.FixtureRequest, daemon_options: dict[str, Any]
) -> AsyncIterator[Backend]:
    """The daemon under test: the fake, or a real demo daemon with a ReconnectingClient."""
    if request.param == "fake":
        yield FakeBackend(FakeDaemon(**daemon_options))
        return
    async with real_backend_on(
        request.getfixturevalue("real_template"), daemon_options.get("running", True)
    ) as real:
        yield real


@asynccontextmanager
async def real_backend_on(template: Path, running: bool = True) -> AsyncIterator[RealBackend]:
    """A real demo daemon on a copy of the template state; ``running=False``: not yet."""
    # A short path: the status and down screens show the socket on one line at 80 columns.
    short = Path(tempfile.mkdtemp(prefix="bx-"))
    shutil.copytree(template, short / "state")
    real = RealBackend(short)
    if running:
        await real.restart()
        await real.client.start(wait=10)
    else:
        # A daemon that died: its socket file is left behind and refuses connections.
        import socket

        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(socket_of(short)))
        stale.close()
        await real.client.start()
    try:
        yield real
    finally:
        await real.close()
        shutil.rmtree(short, ignore_errors=True)
        socket_of(short).unlink(missing_ok=True)


@pytest.fixture
def fake(backend: Backend) -> FakeDaemon:
    """The fake's own test hooks; tests that use them are skipped on other backends."""
    if not isinstance(backend, FakeBackend):
        pytest.skip("needs the in-memory fake's test hooks")
    return backend.fake


AppFactory = Callable[..., BexsyncApp]


@pytest.fixture
def make_app(backend: Backend, tmp_path: Path) -> AppFactory:
    def make(**options: Any) -> BexsyncApp:
        options.setdefault("keymap", {})
        options.setdefault("keymap_path", tmp_path / "tui.toml")
        options.setdefault("down_grace", 0.05)
        options.setdefault("sixteen_colours", False)
        return BexsyncApp(client=backend.client, socket_path=SOCKET, **options)

    return make


@pytest.fixture
def run_app(make_app: AppFactory) -> Callable[..., Any]:
    """``async with run_app() as pilot``: the app at 80x24, first screen loaded."""

    @asynccontextmanager
    async def run(size: tuple[int, int] = (80, 24), **options: Any) -> AsyncIterator[Pilot[Any]]:
        app = make_app(**options)
        async with app.run_test(size=size, notifications=True) as pilot:
            yield pilot

    return run


@pytest.fixture(autouse=True)
def quick_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pilot waits for the app to go idle after every key, polling every 20 ms; poll every
    4 ms. Tests wait for outcomes explicitly (``wait_until``), never on a fixed delay."""
    import textual._wait as wait

    monkeypatch.setattr(wait, "SLEEP_GRANULARITY", 0.004)
    monkeypatch.setattr(wait, "SLEEP_IDLE", 0.004 / 20)
