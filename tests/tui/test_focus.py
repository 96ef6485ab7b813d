"""Fault 6: focus is plain to see, forms open on their first field, and a digit in a focused
dropdown does not switch section (throwing the form away)."""

from __future__ import annotations

from typing import Any

from textual.color import Color
from textual.widgets import Input, Select

from bexsync_tui.screens.add_authorisation import AddAuthorisationScreen
from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from tests.tui.helpers import wait_text, wait_until
from tests.tui.test_configurations import open_configurations


def contrast(a: Color, b: Color) -> float:
    return abs(a.brightness - b.brightness) + sum(
        abs(x - y) for x, y in zip(a.rgb, b.rgb, strict=True)
    ) / (3 * 255)


async def test_the_new_authorisation_form_opens_on_its_name_and_shows_it(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, AddAuthorisationScreen))
        name = pilot.app.screen.query_one("#name", Input)
        await wait_until(pilot, lambda: name.has_focus, what="the name focused")
        await pilot.press(*"Dunes")
        assert name.value == "Dunes"
        focused = name.styles.background
        name.blur()
        await pilot.pause()
        assert contrast(focused, name.styles.background) > 0.15


async def test_a_digit_in_a_dropdown_stays_in_the_form(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_configurations(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
        form = pilot.app.screen
        select = form.query_one("#administration_id", Select)
        await wait_until(pilot, lambda: select.has_focus, what="the first field focused")
        await pilot.press("2")
        await pilot.pause()  # the key's messages handled
        assert pilot.app.screen is form
