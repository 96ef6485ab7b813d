"""Fixtures: a daemon backend (the in-memory fake today) and the app built on its client.

Test bodies only use ``backend`` (``client`` plus async controls) and facts of the embedded
demo (the "Demo sandbox" authorisation, administrations 101/102/103: 101 daily automatic,
102 monthly manual, 103 monthly automatic). A real-daemon backend (``bexsyncd --demo`` plus a
``ReconnectingClient``) can be added as another param of ``backend`` so the same tests run
against it; tests that need the fake's extra hooks take the ``fake`` fixture directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from bexsync_tui.app import BexsyncApp
from bexsync_tui.fake import FakeDaemon

SOCKET = "/run/bexsync/bexsyncd.sock"


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

    async def release_runs(self) -> None:
        self.fake.release_runs()


@pytest.fixture
def daemon_options() -> dict[str, Any]:
    """How the daemon starts; a module overrides it (``bulk_entries``, ``running=False``)."""
    return {}


@pytest.fixture(params=["fake"])
def backend(request: pytest.FixtureRequest, daemon_options: dict[str, Any]) -> FakeBackend:
    """The daemon under test. A real-daemon backend is another param: same ``client`` and
    controls, the embedded demo's data."""
    return FakeBackend(FakeDaemon(**daemon_options))


@pytest.fixture
def fake(backend: FakeBackend) -> FakeDaemon:
    """The fake's own test hooks; tests that use them are skipped on other backends."""
    if getattr(backend, "kind", "") != "fake":
        pytest.skip("needs the in-memory fake's test hooks")
    return backend.fake


AppFactory = Callable[..., BexsyncApp]


@pytest.fixture
def make_app(backend: FakeBackend, tmp_path: Path) -> AppFactory:
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
