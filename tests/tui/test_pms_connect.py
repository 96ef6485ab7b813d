"""Connecting the PMS from the Daemon status screen: API key, a bad URL, the OAuth login."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Label, Select

from bexsync_tui.screens.pms_connect import PmsConnectScreen
from tests.tui.helpers import screen_text, wait_text, wait_until


async def demo_key(backend: Any) -> str:
    """The key the demo's PMS accepts (the one the demo planted)."""
    admins = backend.app.administrations
    return str(admins._key(await admins.pms_row()))


async def press_connect(pilot: Any) -> PmsConnectScreen:
    """Daemon status (4), then Connect PMS (c)."""
    await pilot.press("4")
    await wait_text(pilot, "Daemon status", "Next runs", "c Connect PMS")
    await pilot.press("c")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PmsConnectScreen))
    screen = pilot.app.screen
    assert isinstance(screen, PmsConnectScreen)
    return screen


async def open_connect(pilot: Any) -> PmsConnectScreen:
    await wait_text(pilot, "Demo sandbox")
    screen = await press_connect(pilot)
    await wait_until(pilot, lambda: screen.query_one("#base-url", Input).value, what="prefill")
    return screen


async def test_connect_with_an_api_key(run_app: Any, backend: Any) -> None:
    key = await demo_key(backend)
    async with run_app() as pilot:
        screen = await open_connect(pilot)
        before = await pilot.app.client.call("pms.get", {})
        assert screen.query_one("#base-url", Input).value == before["base_url"]
        await wait_text(pilot, "PMS API base URL", "API key", "Connect")
        screen.query_one("#api-key", Input).focus()
        await pilot.press(*key)
        assert key not in screen_text(pilot.app)
        await pilot.press("ctrl+s")
        text = await wait_text(pilot, "Daemon status", "connected", before["base_url"])
        assert key not in text
        assert not isinstance(pilot.app.screen, PmsConnectScreen)
        after = await pilot.app.client.call("pms.get", {})
    assert (after["status"], after["auth"], after["base_url"]) == (
        "connected",
        "api_key",
        before["base_url"],
    )


async def test_a_bad_url_is_shown_beside_the_field_and_changes_nothing(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        screen = await open_connect(pilot)
        before = await pilot.app.client.call("pms.get", {})
        field = screen.query_one("#base-url", Input)
        field.value = "ftp:/nowhere"
        field.focus()
        await pilot.press("ctrl+s")
        await wait_text(pilot, "must be an http(s) URL")
        error = screen.query_one("#error-base_url", Label)
        assert error.has_class("-shown")
        assert pilot.app.screen is screen
        assert await pilot.app.client.call("pms.get", {}) == before


async def test_oauth_without_client_id_says_why(run_app: Any, backend: Any) -> None:
    """The demo daemon has no [pms] client_id: its invalid-params error is shown readably.
    (The OAuth login itself: test_real_pms_oauth.py, with the BEX simulator's OAuth server.)"""
    async with run_app() as pilot:
        screen = await open_connect(pilot)
        before = await pilot.app.client.call("pms.get", {})
        screen.query_one("#auth", Select).value = "oauth"
        await pilot.press("ctrl+s")
        error = screen.query_one("#error-general", Label)
        await wait_until(pilot, lambda: error.has_class("-shown"), what="the error")
        text = screen_text(pilot.app)
        assert "client_id" in text and "Traceback" not in text
        assert pilot.app.screen is screen
        assert await pilot.app.client.call("pms.get", {}) == before


async def test_help_lists_the_connect_keys(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_connect(pilot)
        await pilot.press("escape")
        await wait_text(pilot, "Daemon status")
        await pilot.press("question_mark")
        await wait_text(pilot, "status.connect_pms", "Connect PMS")
