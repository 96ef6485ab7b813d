"""Logging in again to an authorisation in ``error``: the add-authorisation steps, reused."""

from __future__ import annotations

from typing import Any

from bexsync_tui.screens.add_authorisation import AddAuthorisationScreen
from bexsync_tui.screens.authorisations import AuthorisationsScreen
from tests.tui.helpers import screen_text, wait_no_text, wait_text, wait_toast, wait_until

REFUSED = "The provider refused the login (token expired); log in again."


def row_of(pilot: Any, name: str) -> str:
    return next(line for line in screen_text(pilot.app).splitlines() if name in line)


async def test_an_authorisation_in_error_logs_in_again_and_is_active(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        text = await wait_text(pilot, "Demo sandbox")
        assert "l Log in again" not in text  # only offered where a login was refused
        await backend.set_status(1, "error", REFUSED)
        await wait_until(pilot, lambda: "error" in row_of(pilot, "Demo sandbox"), what="error")
        text = await wait_text(pilot, "l Log in again", "Press l to log in again.")
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, AddAuthorisationScreen))
        # The sandbox has nothing to log in to: the step goes straight to activation.
        await wait_text(pilot, "Log in again to 'Demo sandbox' (sandbox)", "Activate now")
        await pilot.press("enter")  # the focused "Activate now"
        await wait_toast(pilot, "'Demo sandbox' is active")
        await wait_text(pilot, "Status: active")
        auth = await backend.client.call("authorisations.get", {"id": 1})
        assert auth["status"] == "active"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, AuthorisationsScreen))
        await wait_until(pilot, lambda: "active" in row_of(pilot, "Demo sandbox"), what="active")
        await wait_no_text(pilot, "l Log in again")


async def test_a_login_left_halfway_can_be_finished(run_app: Any) -> None:
    """New authorisation -> Odoo -> Continue -> esc: it is not stranded; l finishes it."""
    from tests.tui.test_add_authorisation import start_adding

    async with run_app() as pilot:
        await start_adding(pilot, "Odoo Dunes", "odoo")
        await wait_text(pilot, "Odoo URL", "Database", "API key")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, AuthorisationsScreen))
        await wait_until(pilot, lambda: "inactive" in row_of(pilot, "Odoo Dunes"), what="listed")
        await pilot.press("down")  # "Demo sandbox" sorts first
        await wait_text(pilot, "l Log in", "its login was not finished. Press l to log in.")
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, AddAuthorisationScreen))
        await wait_text(pilot, "'Odoo Dunes' (odoo)", "Odoo URL", "API key")
