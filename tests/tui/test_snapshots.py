"""Snapshots of the main screens at 80x24 on the fake's fixed demo data.

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and review the SVG diff (the report opens in a browser).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from bexsync_tui.app import BexsyncApp
from bexsync_tui.fake import FakeDaemon
from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from bexsync_tui.screens.preview import PreviewScreen
from tests.tui.helpers import wait_text, wait_until
from tests.tui.test_configurations import open_configuration, open_configurations

SIZE = (80, 24)
Steps = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(autouse=True)
def quick_idle() -> None:
    """Snapshots keep Pilot's default idle detection: the frame must have settled."""


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor would make frames differ."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def app(tmp_path: Path, fake: FakeDaemon | None = None, **options: Any) -> BexsyncApp:
    options.setdefault("sixteen_colours", False)
    return BexsyncApp(
        client=fake or FakeDaemon(),
        socket_path="/run/bexsync/bexsyncd.sock",
        keymap={},
        keymap_path=Path("/home/admin/.config/bexsync/tui.toml"),
        down_grace=0.05,
        **options,
    )


async def first_screen(pilot: Pilot[Any]) -> None:
    await wait_text(pilot, "Demo sandbox", "3 Notifications (2)")


def test_authorisations(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=first_screen)


def test_configurations(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_configurations(pilot)
        await wait_text(pilot, "101", "102", "103")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=steps)


def test_configuration_view(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_configuration(pilot, "102")
        await wait_text(pilot, "2025-01")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=steps)


def test_configuration_view_while_syncing(snap_compare: Any, tmp_path: Path) -> None:
    fake = FakeDaemon()

    async def steps(pilot: Pilot[Any]) -> None:
        fake.hold_runs()
        await open_configuration(pilot, "102")  # 2025-02 is due
        await pilot.press("s")
        await wait_text(pilot, "building 3/3")
        pilot.app.clear_notifications()

    assert snap_compare(app(tmp_path, fake), terminal_size=SIZE, run_before=steps)


def test_configuration_form(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_configuration(pilot, "102")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
        ledger = pilot.app.screen.query_one("#ledger_id", Select)
        await wait_until(pilot, lambda: ledger.value == "BEX")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=steps)


def test_preview(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_configuration(pilot, "102")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
        await wait_text(pilot, "✓ balanced")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=steps)


def test_entries(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        await pilot.press("2")
        await wait_text(pilot, "17 entries")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=steps)


def test_notifications(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        await pilot.press("3")
        await wait_text(pilot, "Manual sync waiting")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=steps)


def test_daemon_status(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        await pilot.press("4")
        await wait_text(pilot, "Next runs", "2025-04-06")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=steps)


def test_add_authorisation_login_url_and_qr(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        await pilot.press("n")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: len(screen.query_one("#provider", Select)._options) > 5)
        screen.query_one("#name", Input).value = "Xero Dunes"
        screen.query_one("#provider", Select).value = "xero"
        screen.query_one("#continue").focus()
        await pilot.press("enter")  # no mouse: a hover would depend on timing
        await wait_text(pilot, "Paste the final address")
        await wait_until(pilot, lambda: pilot.app.focused is screen.query_one("#redirect-url"))

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=steps)


def test_daemon_down(snap_compare: Any, tmp_path: Path) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await wait_text(pilot, "Cannot reach the bexsync daemon", "retrying automatically")

    fake = FakeDaemon(running=False)
    assert snap_compare(app(tmp_path, fake), terminal_size=SIZE, run_before=steps)


def test_administrations(snap_compare: Any, tmp_path: Path) -> None:
    fake = FakeDaemon()

    async def steps(pilot: Pilot[Any]) -> None:
        await first_screen(pilot)
        fake.data.administrations["4103"]["access"] = False  # one unticked: both marks show
        await pilot.press("5")
        await wait_text(pilot, "Access · administrations", "[ ] no")

    assert snap_compare(app(tmp_path, fake), terminal_size=SIZE, run_before=steps)
