"""Resilience: no daemon, a daemon restart, RPC errors: always a readable screen, never a trace."""

from __future__ import annotations

from typing import Any

import pytest

from bexsync_tui.screens.configuration_view import ConfigurationViewScreen
from bexsync_tui.screens.daemon_down import DaemonDownScreen
from daemon.errors import ProviderFailure
from tests.tui.helpers import screen_text, wait_text, wait_toast, wait_until
from tests.tui.test_configurations import open_configuration
from tests.tui.test_entries import open_entries


@pytest.fixture
def daemon_options() -> dict[str, Any]:
    return {"running": False}  # the daemon is not running when the TUI starts


async def test_no_daemon_shows_how_to_start_it_then_connects(run_app: Any, backend: Any) -> None:
    async with run_app() as pilot:
        text = await wait_text(pilot, "Cannot reach the bexsync daemon")
        assert "/run/bexsync/bexsyncd.sock" in text
        assert "systemctl --user start bexsyncd" in text and "bexsync demo" in text
        assert "retrying automatically" in text and "connection refused" in text
        await backend.restart()
        await wait_until(pilot, lambda: not isinstance(pilot.app.screen, DaemonDownScreen))
        await wait_text(pilot, "Demo sandbox", "● connected")


async def test_a_restart_keeps_the_users_place(run_app: Any, backend: Any) -> None:
    await backend.restart()  # this module's daemon starts stopped
    async with run_app() as pilot:
        await open_configuration(pilot, "102")
        await backend.stop()
        await wait_text(pilot, "Cannot reach the bexsync daemon")
        await backend.restart()
        await wait_toast(pilot, "Connected to the daemon again (it restarted).")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
        await wait_text(pilot, "Administration 102", "● connected")
        # Back on the same screen, and it works: its data reloads from the new daemon.
        await pilot.press("escape")
        await wait_text(pilot, "› Configurations", "101", "103")


async def test_rpc_errors_are_sentences_not_tracebacks(run_app: Any, backend: Any) -> None:
    await backend.restart()

    async def refused(entry_id: int) -> Any:
        raise ProviderFailure(
            "Sandbox refused the request.", provider="sandbox", kind="period_locked"
        )

    async def broken(entry_id: int) -> Any:
        raise RuntimeError("boom")

    backend.override("entries", "get", refused)
    async with run_app() as pilot:
        await open_entries(pilot)
        await pilot.press("enter")
        toast = await wait_toast(pilot, "Sandbox refused the request.")
        assert toast.startswith("The provider refused: Could not load the entry:")
        assert "unlock it there first" in toast
        backend.override("entries", "get", broken)
        await pilot.press("escape", "enter")
        toast = await wait_toast(pilot, "internal error")
        assert "its log has the details" in toast and "boom" not in toast
        assert "Traceback" not in screen_text(pilot.app)
        assert pilot.app.is_running
