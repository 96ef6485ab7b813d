"""Adding an authorisation: unique name, provider, then the provider's login step."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from textual.widgets import Input, Select, Static

from bexsync_tui.fake import FakeDaemon
from bexsync_tui.widgets.qr import QrCode
from tests.tui.helpers import screen_text, wait_text, wait_toast, wait_until


async def start_adding(pilot: Any, name: str, provider: str) -> None:
    await wait_text(pilot, "Demo sandbox")
    await pilot.press("n")
    await wait_text(pilot, "New authorisation", "Provider")
    screen = pilot.app.screen
    await wait_until(
        pilot,
        lambda: len(screen.query_one("#provider", Select)._options) > 5,
        what="the provider list",
    )
    screen.query_one("#name", Input).value = name
    screen.query_one("#provider", Select).value = provider
    await pilot.click("#continue")


def error_of(pilot: Any, field: str) -> str:
    return str(pilot.app.screen.query_one(f"#error-{field}").render())


async def test_the_name_must_be_unique(run_app: Any, fake: FakeDaemon) -> None:
    async with run_app() as pilot:
        await start_adding(pilot, "demo SANDBOX", "sandbox")
        await wait_until(
            pilot, lambda: "already exists" in error_of(pilot, "name"), what="the name error"
        )
        assert "already exists" in screen_text(pilot.app)
        assert fake.method_calls("authorisations.create") == []


async def test_a_provider_without_login_is_saved_then_activated(run_app: Any) -> None:
    async with run_app() as pilot:
        await start_adding(pilot, "Local ledger", "sandbox")
        await wait_text(pilot, "Authorisation 'Local ledger' is saved.", "Status: inactive")
        await pilot.click("#activate")
        await wait_toast(pilot, "'Local ledger' is active")
        await wait_text(pilot, "Status: active")
        await pilot.press("escape")
        text = await wait_text(pilot, "Local ledger")
        row = next(line for line in text.splitlines() if "Local ledger" in line)
        assert "sandbox" in row and "inactive" not in row


async def test_open_url_login_with_qr_code_and_paste_back(run_app: Any) -> None:
    async with run_app() as pilot:
        await start_adding(pilot, "Xero Dunes", "xero")
        await wait_text(pilot, "Paste the final address", "Complete login")
        screen = pilot.app.screen
        url = str(screen.query_one("#login-url", Static).render())
        assert url.startswith("https://")
        qr = screen.query_one("#login-qr", QrCode)
        assert qr.data == url and "▀" in str(qr.render())
        # A wrong address: the daemon's error appears beside the field.
        field = screen.query_one("#redirect-url", Input)
        field.value = "http://127.0.0.1:8976/callback?error=denied"
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: "code=" in error_of(pilot, "redirect_url"), what="the redirect_url error"
        )
        state = parse_qs(urlparse(url).query)["state"][0]
        field.value = f"http://127.0.0.1:8976/callback?code=abc123&state={state}"
        await pilot.click("#complete")
        await wait_text(pilot, "'Xero Dunes' is saved.", "Logged in; activate it")


async def test_device_code_login_finishes_when_the_daemon_sees_the_approval(
    run_app: Any, fake: FakeDaemon
) -> None:
    async with run_app() as pilot:
        await start_adding(pilot, "BC Dunes", "business_central")
        text = await wait_text(pilot, "https://microsoft.com/devicelogin", "FKX3-PQ7R")
        assert "expires in 15 minutes" in text
        auth_id = next(
            a["id"] for a in fake.data.authorisations.values() if a["name"] == "BC Dunes"
        )
        fake.approve_device_login(auth_id)
        await wait_text(pilot, "'BC Dunes' is saved.", "Logged in; activate it")


async def test_credentials_form_shows_missing_fields(run_app: Any, fake: FakeDaemon) -> None:
    async with run_app() as pilot:
        await start_adding(pilot, "Odoo Dunes", "odoo")
        await wait_text(pilot, "Odoo URL", "Database", "API key")
        screen = pilot.app.screen
        screen.query_one("#cred-url", Input).value = "https://dunes.odoo.example"
        screen.query_one("#cred-database", Input).value = "dunes"
        screen.query_one("#cred-username", Input).value = "books@dunes.example"
        assert screen.query_one("#cred-api_key", Input).password  # secrets are masked
        await pilot.click("#complete")
        await wait_until(
            pilot, lambda: "required" in error_of(pilot, "api_key"), what="the api_key error"
        )
        key = screen.query_one("#cred-api_key", Input)
        key.value = "k-123"
        key.focus()
        await pilot.press("enter")  # Enter in the last field logs in
        await wait_text(pilot, "'Odoo Dunes' is saved.", "Logged in")
