"""Connecting the PMS over OAuth from the TUI against a real daemon, the BEX simulator and its
OAuth server (over HTTP on 127.0.0.1). The browser's consent is the simulator's demo login;
everything else goes through the Daemon status screen's connect form.

The shared ``backend`` fixture's demo daemon has no ``[pms] client_id``, so these build their
own (the same set-up as tests/test_pms_oauth_daemon.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from bexsync_tui.screens.pms_connect import PmsConnectScreen
from tests.test_pms_oauth_daemon import Clock, Pms, consent, daemon, pms_with_oauth
from tests.tui.helpers import screen_text, tui_on_daemon, wait_text
from tests.tui.test_pms_connect import press_connect


@asynccontextmanager
async def pms_tui(tmp_path: Path) -> AsyncIterator[tuple[Pms, Any, Pilot[Any]]]:
    """The PMS with its OAuth server, a daemon registered as its app, and the TUI on it."""
    clock = Clock()
    short = Path(tempfile.mkdtemp(prefix="bx-"))  # the socket path must stay short
    async with (
        pms_with_oauth(clock) as pms,
        daemon(short, clock) as (app, client),
        tui_on_daemon(app.socket_path, tmp_path) as pilot,
    ):
        yield pms, client, pilot


async def start_oauth_login(pilot: Pilot[Any], pms: Pms) -> tuple[PmsConnectScreen, str]:
    """Daemon status, c, the PMS's URL, OAuth, ctrl+s: returns the screen and the login URL."""
    screen = await press_connect(pilot)
    screen.query_one("#base-url", Input).value = pms.url
    screen.query_one("#auth", Select).value = "oauth"
    await pilot.press("ctrl+s")
    await wait_text(pilot, "Paste the final address")
    return screen, str(screen.query_one("#login-url", Static).render())


async def test_connecting_the_pms_with_oauth_by_pasting_the_redirect(tmp_path: Path) -> None:
    async with pms_tui(tmp_path) as (pms, client, pilot):
        screen, url = await start_oauth_login(pilot, pms)
        assert url.startswith(f"{pms.url}/oauth/authorize?")
        redirect = await consent(url)  # the user's browser: log in, approve, land somewhere
        screen.query_one("#redirect-url", Input).value = redirect
        await pilot.press("enter")
        text = await wait_text(pilot, "Daemon status", "connected", pms.url)
        assert not isinstance(pilot.app.screen, PmsConnectScreen)
        assert not any(secret in text for secret in pms.secrets())
        status = await client.call("pms.get")
        assert (status["auth"], status["status"], status["login_pending"]) == (
            "oauth",
            "connected",
            False,
        )
        assert await client.call("administrations.list")  # BEX answers the stored token


async def test_a_redirect_of_another_login_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    async with pms_tui(tmp_path) as (pms, client, pilot):
        before = await client.call("pms.get")
        screen, url = await start_oauth_login(pilot, pms)
        redirect = await consent(url)
        query = dict(parse_qsl(urlsplit(redirect).query))
        forged = redirect.split("?")[0] + "?" + urlencode({**query, "state": "not-this-login"})
        screen.query_one("#redirect-url", Input).value = forged
        await pilot.press("enter")
        await wait_text(pilot, "this redirect belongs to another login attempt")
        assert pilot.app.screen is screen
        assert "Traceback" not in screen_text(pilot.app)
        after = await client.call("pms.get")
        assert (after["auth"], after["status"]) == (before["auth"], before["status"])
