"""Snapshots of the main screens at 80x24 and 120x35 on the real demo daemon (its clock frozen
on 2025-03-15, the caught-up template state).

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and review the SVG diff (the report opens in a browser).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from bexsync_tui.app import BexsyncApp
from bexsync_tui.client import ReconnectingClient
from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from bexsync_tui.screens.preview import PreviewScreen
from tests.tui.daemon import DaemonThread, TestDaemon
from tests.tui.helpers import choices, wait_settled, wait_text, wait_until
from tests.tui.test_configurations import open_configuration, open_configurations

SOCKET = "/run/bexsync/bexsyncd.sock"
Steps = Callable[[Pilot[Any]], Awaitable[None]]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 35), id="120x35")]


@pytest.fixture(autouse=True)
def amsterdam(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times are shown in local time: the same zone on every machine."""
    monkeypatch.setenv("TZ", "Europe/Amsterdam")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(params=SIZES)
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def daemon_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def daemon(real_template: Path, daemon_options: dict[str, Any]) -> Iterator[DaemonThread]:
    with DaemonThread(real_template, **daemon_options) as thread:
        yield thread


@pytest.fixture
def snap(snap_compare: Any, daemon: DaemonThread, size: tuple[int, int]) -> Callable[..., bool]:
    """``snap(steps)``: the app on the daemon, ``steps`` run, the frame compared."""

    def compare(steps: Steps) -> bool:
        client = ReconnectingClient(str(daemon.socket_path), backoff_max=0.3)
        app = BexsyncApp(
            client=client,
            socket_path=SOCKET,
            keymap={},
            keymap_path=Path("/home/admin/.config/bexsync/tui.toml"),
            down_grace=0.05,
            sixteen_colours=False,
            clock=lambda: 0.0,  # "down for N s" would depend on how busy the machine is
        )

        async def run_before(pilot: Pilot[Any]) -> None:
            await steps(pilot)  # (the app closes the client when it ends)
            await wait_settled(pilot)  # e.g. the footer's keys once the list has loaded
            for field in pilot.app.screen.query(Input):
                field.cursor_blink = False  # a blinking cursor would make frames differ

        return bool(snap_compare(app, terminal_size=size, run_before=run_before))

    return compare


async def first_screen(pilot: Pilot[Any]) -> None:
    await wait_text(pilot, "Demo sandbox", "3 Notifications (18)")


def test_authorisations(snap: Any) -> None:
    assert snap(first_screen)


def test_configurations(snap: Any) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_configurations(pilot)
        await wait_text(pilot, "101", "102", "103")

    assert snap(steps)


def test_configuration_view(snap: Any) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_configuration(pilot, "102")
        await wait_text(pilot, "2025-01")

    assert snap(steps)


def test_configuration_view_while_syncing(snap: Any, daemon: DaemonThread) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await daemon.do(TestDaemon.hold_runs)
        await open_configuration(pilot, "102")  # 2025-02 is due
        await pilot.press("s")
        await wait_text(pilot, "building")
        pilot.app.clear_notifications()

    assert snap(steps)  # (the daemon lets the run post when it stops)


def test_configuration_form(snap: Any) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_configuration(pilot, "102")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
        ledger = pilot.app.screen.query_one("#ledger_id", Select)
        await wait_until(pilot, lambda: ledger.value == "BEX")

    assert snap(steps)


def test_preview(snap: Any) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_configuration(pilot, "102")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
        await wait_text(pilot, "✓ balanced")

    assert snap(steps)


def test_entries(snap: Any) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        await pilot.press("2")
        await wait_text(pilot, "15 entries")

    assert snap(steps)


def test_notifications(snap: Any) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        await pilot.press("3")
        await wait_text(pilot, "Posted")

    assert snap(steps)


async def fixed_places(daemon: TestDaemon) -> None:
    """``daemon.status`` names the usual places, not this test's temporary ones."""
    real = daemon.app.services.report.status

    async def status() -> dict[str, Any]:
        shown = await real()
        pms = {**shown["pms"], "base_url": "http://127.0.0.1:8080"}
        return {**shown, "state_dir": "/var/lib/bexsync", "socket": SOCKET, "pms": pms}

    daemon.override("report", "status", status)


def test_daemon_status(snap: Any, daemon: DaemonThread) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await daemon.do(fixed_places)
        await first_screen(pilot)
        await pilot.press("4")
        await wait_text(pilot, "Next runs")

    assert snap(steps)


def test_add_authorisation(snap: Any) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        await pilot.press("n")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: len(choices(screen.query_one("#provider", Select))) > 5)
        screen.query_one("#name", Input).value = "Dunes ledger"

    assert snap(steps)


class TestDaemonDown:
    @pytest.fixture
    def daemon_options(self) -> dict[str, Any]:
        return {"running": False}

    def test_daemon_down(self, snap: Any) -> None:
        async def steps(pilot: Pilot[Any]) -> None:
            await wait_text(pilot, "Cannot reach the bexsync daemon", "retrying automatically")

        assert snap(steps)


def test_administrations(snap: Any) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        await pilot.press("5")
        await wait_text(pilot, "Access · administrations")

    assert snap(steps)
