"""Fault 7: a key that cannot act says why; a toast's v works on the period chooser; a form's
error goes once its field is changed."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Label

from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from bexsync_tui.screens.entries import EntriesScreen
from bexsync_tui.screens.period import PeriodScreen
from tests.support.daemon import wait_run
from tests.tui.helpers import wait_text, wait_toast, wait_until
from tests.tui.test_configurations import open_configuration


async def test_v_after_a_toast_on_the_period_chooser_views_the_entry(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "103")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PeriodScreen))
        field = pilot.app.screen.query_one("#period", Input)
        typed = field.value
        started = await backend.client.call(
            "syncs.run", {"configuration_id": 2, "period": "2025-02"}
        )
        assert (await wait_run(backend.client, started["run_id"]))["state"] == "posted"
        await wait_toast(pilot, "Press v to view it")
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntriesScreen))
        assert field.value == typed  # no v typed into the period


async def test_a_form_error_goes_when_its_field_is_changed(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "102")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
        form = pilot.app.screen
        delay = form.query_one("#delay_days", Input)
        await wait_until(pilot, lambda: delay.value != "", what="the form's values")
        delay.value = "15"
        await pilot.press("ctrl+s")
        error = form.query_one("#error-delay_days", Label)
        await wait_until(pilot, lambda: error.has_class("-shown"), what="the delay error")
        delay.value = "3"
        await wait_until(pilot, lambda: not error.has_class("-shown"), what="the error gone")
        await wait_text(pilot, "Delay")
