"""Adding an authorisation: unique name, provider, then the provider's login step."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Select

from tests.tui.helpers import choices, screen_text, wait_text, wait_toast, wait_until


async def start_adding(pilot: Any, name: str, provider: str) -> None:
    await wait_text(pilot, "Demo sandbox")
    await pilot.press("n")
    await wait_text(pilot, "New authorisation", "Provider")
    screen = pilot.app.screen
    await wait_until(
        pilot,
        lambda: len(choices(screen.query_one("#provider", Select))) > 5,
        what="the provider list",
    )
    screen.query_one("#name", Input).value = name
    screen.query_one("#provider", Select).value = provider
    await pilot.click("#continue")


def error_of(pilot: Any, field: str) -> str:
    return str(pilot.app.screen.query_one(f"#error-{field}").render())


async def test_the_name_must_be_unique(run_app: Any, backend: Any) -> None:
    async with run_app() as pilot:
        await start_adding(pilot, "demo SANDBOX", "sandbox")
        await wait_until(
            pilot, lambda: "already exists" in error_of(pilot, "name"), what="the name error"
        )
        assert "already exists" in screen_text(pilot.app)
        assert backend.calls("authorisations.create") == []


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
