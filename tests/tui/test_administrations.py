"""Access (the seed's step 1): tick administrations; the configuration form follows."""

from __future__ import annotations

from typing import Any

from textual.widgets import Select

from bexsync_tui.screens.administrations import AdministrationsScreen
from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from bexsync_tui.screens.configuration_view import ConfigurationViewScreen
from tests.tui.helpers import choices, wait_text, wait_toast, wait_until
from tests.tui.test_configurations import (
    open_configuration,
    open_configurations,
    second_authorisation,
    wait_form_loaded,
)


async def open_access(pilot: Any) -> AdministrationsScreen:
    await wait_text(pilot, "Demo sandbox")
    await pilot.press("5")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, AdministrationsScreen))
    await wait_text(pilot, "101", "103", "[x] yes")
    return pilot.app.screen


def row_of(text: str, number: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(number + " "))


async def access_of(backend: Any, admin_id: str) -> bool:
    admins = await backend.client.call("administrations.list")
    return next(a["access"] for a in admins if a["id"] == admin_id)


async def test_access_lists_the_administrations_and_space_toggles_it(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        await open_access(pilot)
        text = await wait_text(
            pilot, "Holiday Park", "EUR", "Europe/Amsterdam", "space Toggle access"
        )
        assert "5 Access" in text.splitlines()[0]  # a section, always one key away
        for number in ("101", "102", "103"):
            assert "[x] yes" in row_of(text, number)
        await pilot.press("down", "down", "space")  # 103
        await wait_toast(pilot, "no longer offered")
        text = await wait_text(pilot, "[ ] no")
        assert "[ ] no" in row_of(text, "103") and "[x] yes" in row_of(text, "102")
        assert not await access_of(backend, "4103")
        await pilot.press("space")
        await wait_toast(pilot, "may now read administration 103")
        await wait_until(pilot, lambda: "[ ] no" not in row_of(_text(pilot), "103"))
        assert await access_of(backend, "4103")


async def test_access_changed_elsewhere_shows_at_once(run_app: Any, backend: Any) -> None:
    async with run_app() as pilot:
        await open_access(pilot)
        # Another admin (another TUI, or a script) removes 102's access.
        await backend.client.call("administrations.set_access", {"id": "4102", "access": False})
        await wait_until(pilot, lambda: "[ ] no" in row_of(_text(pilot), "102"))
        assert "[x] yes" in row_of(_text(pilot), "101")
        await backend.client.call("administrations.set_access", {"id": "4102", "access": True})
        await wait_until(pilot, lambda: "[ ] no" not in row_of(_text(pilot), "102"))


def _text(pilot: Any) -> str:
    from tests.tui.helpers import screen_text

    return screen_text(pilot.app)


async def test_the_form_offers_only_administrations_with_access(run_app: Any, backend: Any) -> None:
    await second_authorisation(backend)
    async with run_app() as pilot:
        await open_access(pilot)
        await pilot.press("down", "space")  # 102 loses its access
        await wait_text(pilot, "[ ] no")
        await pilot.press("1")
        await open_configurations(pilot, row=0)  # "Books": no configurations yet
        await pilot.press("n")
        form = await wait_form_loaded(pilot)
        await wait_until(
            pilot,
            lambda: len(choices(form.query_one("#administration_id", Select))) > 1,
            what="the administrations",
        )
        offered = [c.split()[0] for c in choices(form.query_one("#administration_id", Select))]
        assert "102" not in offered and {"101", "103"} <= set(offered)


async def test_a_configuration_whose_administration_lost_access_cannot_be_saved(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        await open_access(pilot)
        await pilot.press("down", "down", "space")  # 103
        await wait_text(pilot, "[ ] no")
        await pilot.press("1")
        await open_configuration(pilot, "103")
        await pilot.press("e")
        form = await wait_form_loaded(pilot)
        await wait_until(
            pilot,
            lambda: form.query_one("#administration_id", Select).value == "4103",
            what="the administration shown",
        )
        await wait_text(pilot, "(no access)")
        await pilot.press("ctrl+s")
        await wait_text(pilot, "has no access to this administration; tick its access")
        assert isinstance(pilot.app.screen, ConfigurationFormScreen)
        assert form.query_one("#error-administration_id").has_class("-shown")
        # Tick it again: the same save goes through.
        await backend.client.call("administrations.set_access", {"id": "4103", "access": True})
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
        await wait_toast(pilot, "administration 103 saved")
