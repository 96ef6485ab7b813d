"""Provider logins in the TUI against a real daemon and the providers' simulators (over HTTP on
127.0.0.1): an open-URL login (Xero) when adding an authorisation and after a refused login, a
device-code login (Business Central), a credentials form (Odoo). The browser's consent is
played by the simulator's demo login; everything else goes through the TUI.

The shared ``backend`` fixture's demo daemon has no provider apps (``--demo-providers`` would add
authorisations to every other test's lists), so these build their own.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.support.daemon import demo_daemon
from tests.test_reauth import refuse_login
from tests.tui.helpers import tui_on_daemon, wait_text, wait_until
from tests.tui.test_add_authorisation import error_of, start_adding


@asynccontextmanager
async def provider_tui(tmp_path: Path, provider: str) -> AsyncIterator[tuple[Any, Any, Pilot[Any]]]:
    """A demo daemon with one provider's simulator, its client, and the TUI on it at 80x24."""
    short = Path(tempfile.mkdtemp(prefix="bx-"))  # the socket path must stay short
    try:
        async with (
            demo_daemon(short, providers=provider) as (daemon, client),
            tui_on_daemon(daemon.socket_path, tmp_path) as pilot,
        ):
            yield daemon, client, pilot
    finally:
        shutil.rmtree(short, ignore_errors=True)


def xero_tui(tmp_path: Path) -> Any:
    return provider_tui(tmp_path, "xero")


async def wait_status(client: Any, name: str, status: str, timeout: float = 20) -> None:
    """The daemon's word, not a toast: the demo's own catch-up toasts may crowd it out."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = {a["name"]: a["status"] for a in await client.call("authorisations.list")}
        if seen.get(name) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name!r} is {seen and seen.get(name)!r}, not {status!r}")


async def paste_consented_redirect(daemon: Any, pilot: Pilot[Any]) -> None:
    """What the user does: open the URL shown, consent, paste the address landed on."""
    screen = pilot.app.screen
    url = str(screen.query_one("#login-url", Static).render())
    assert url.startswith("http://127.0.0.1:")  # the simulator's authorize endpoint
    redirect = await daemon.demo_providers["xero"].browser_login(url)
    screen.query_one("#redirect-url", Input).value = redirect
    await pilot.press("enter")


async def test_adding_a_xero_authorisation_by_pasting_the_redirect(tmp_path: Path) -> None:
    async with xero_tui(tmp_path) as (daemon, client, pilot):
        await start_adding(pilot, "Xero Dunes", "xero")
        await wait_text(pilot, "Paste the final address", "Complete login")
        await paste_consented_redirect(daemon, pilot)
        # The demo's catch-up toasts may cover the status line's end: look for the button.
        await wait_text(pilot, "'Xero Dunes' is saved.", "Activate now")
        await pilot.press("enter")
        await wait_status(client, "Xero Dunes", "active")


async def test_logging_in_again_after_xero_refused_the_login(tmp_path: Path) -> None:
    async with xero_tui(tmp_path) as (daemon, client, pilot):
        auth = next(a for a in await client.call("authorisations.list") if a["provider"] == "xero")
        await client.call("authorisations.activate", {"id": auth["id"]})
        await refuse_login(daemon, client, auth["id"])
        await wait_text(pilot, "Demo Xero", "error")
        await pilot.press("down")  # "Demo sandbox" sorts first
        await wait_text(pilot, "l Log in again")
        await pilot.press("l")
        await wait_text(pilot, "Log in again to 'Demo Xero' (xero)", "Paste the final address")
        await paste_consented_redirect(daemon, pilot)
        await wait_text(pilot, "Activate now")
        await pilot.press("enter")
        await wait_status(client, "Demo Xero", "active")
        config = (await client.call("configurations.list", {"authorisation_id": auth["id"]}))[0]
        draft = await client.call("syncs.preview", {"configuration_id": config["id"]})
        assert draft["configuration_id"] == config["id"]  # Xero answers again


async def test_a_device_code_login_finishes_when_the_daemon_sees_the_approval(
    tmp_path: Path,
) -> None:
    async with provider_tui(tmp_path, "business_central") as (_, client, pilot):
        await start_adding(pilot, "BC Dunes", "business_central")
        # The simulator approves every device code at once; the daemon's next poll sees it.
        await wait_text(pilot, "'BC Dunes' is saved.", "Activate now", timeout=30)
        await pilot.press("enter")
        await wait_status(client, "BC Dunes", "active")


async def test_the_credentials_form_shows_missing_fields(tmp_path: Path) -> None:
    async with provider_tui(tmp_path, "odoo") as (daemon, client, pilot):
        assert daemon.demo_providers["odoo"].complete is not None
        real = daemon.demo_providers["odoo"].complete["credentials"]
        await start_adding(pilot, "Odoo Dunes", "odoo")
        await wait_text(pilot, "Odoo URL", "Database", "API key")
        screen = pilot.app.screen
        screen.query_one("#cred-url", Input).value = real["url"]
        screen.query_one("#cred-database", Input).value = real["database"]
        screen.query_one("#cred-username", Input).value = real["username"]
        assert screen.query_one("#cred-api_key", Input).password  # secrets are masked
        await pilot.click("#complete")
        await wait_until(
            pilot, lambda: "required" in error_of(pilot, "api_key"), what="the api_key error"
        )
        key = screen.query_one("#cred-api_key", Input)
        key.value = real["api_key"]
        key.focus()
        await pilot.press("enter")  # Enter in the last field logs in
        await wait_text(pilot, "'Odoo Dunes' is saved.", "Activate now")
        await pilot.press("enter")
        await wait_status(client, "Odoo Dunes", "active")
