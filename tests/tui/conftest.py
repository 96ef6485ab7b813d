"""Fixtures: the real demo daemon (``tests/tui/daemon.py``) and the app on its client.

Test bodies use ``backend`` (a ``TestDaemon``: its ``client`` plus controls for outages and
injected errors) and facts of the embedded demo: the "Demo sandbox" authorisation,
administrations 101/102/103 (101 daily automatic, 102 monthly manual, 103 monthly automatic),
the daemon's clock frozen on 2025-03-15. The caught-up state is built once per session and
copied for each test, so a test starts in about 0.2 s and sees no catch-up of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from bexsync_tui.app import BexsyncApp
from tests.tui.daemon import FROZEN_NOW, TestDaemon, build_template_in_thread, test_daemon_on
from tests.tui.helpers import record_toasts

SOCKET = "/run/bexsync/bexsyncd.sock"
"""The socket the app names on screen (the client connects to the test daemon's own)."""
__all__ = ["FROZEN_NOW", "SOCKET"]


@pytest.fixture(scope="session")
def real_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A caught-up demo state dir, built once (in its own thread and event loop)."""
    return build_template_in_thread(tmp_path_factory.mktemp("demo-template"))


@pytest.fixture
def daemon_options() -> dict[str, Any]:
    """How the daemon starts; a module overrides it (``entries=N``, ``running=False``)."""
    return {}


@pytest.fixture
async def backend(real_template: Path, daemon_options: dict[str, Any]) -> AsyncIterator[TestDaemon]:
    """The daemon under test: a real demo daemon with a ReconnectingClient."""
    async with test_daemon_on(real_template, **daemon_options) as daemon:
        yield daemon


AppFactory = Callable[..., BexsyncApp]


@pytest.fixture
def make_app(backend: TestDaemon, tmp_path: Path) -> AppFactory:
    def make(**options: Any) -> BexsyncApp:
        options.setdefault("keymap", {})
        options.setdefault("keymap_path", tmp_path / "tui.toml")
        options.setdefault("down_grace", 0.05)
        options.setdefault("sixteen_colours", False)
        app = BexsyncApp(client=backend.client, socket_path=SOCKET, **options)
        record_toasts(app)
        return app

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
