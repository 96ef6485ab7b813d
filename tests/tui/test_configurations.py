"""Configurations: the form (live dropdowns, daemon field errors), the view and its actions."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Select, Switch

from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from bexsync_tui.screens.configuration_view import ConfigurationViewScreen
from bexsync_tui.screens.configurations import ConfigurationsScreen
from tests.tui.helpers import choices, toasts, wait_text, wait_toast, wait_until


async def open_configurations(pilot: Any, row: int = 0) -> None:
    await wait_text(pilot, "Demo sandbox")
    await pilot.press(*["down"] * row, "enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationsScreen))
    await wait_text(pilot, "› Configurations")


async def open_configuration(pilot: Any, number: str) -> None:
    await open_configurations(pilot)
    await wait_text(pilot, number)
    rows = ["101", "102", "103"]
    await pilot.press(*["down"] * rows.index(number), "enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
    await wait_text(pilot, f"Administration {number}", "Recent runs")


async def second_authorisation(backend: Any) -> None:
    """An active authorisation without configurations, made over RPC as a user script would."""
    client = backend.client
    await client.start()
    created = await client.call("authorisations.create", {"name": "Books", "provider": "sandbox"})
    await client.call("authorisations.activate", {"id": created["authorisation"]["id"]})


async def wait_form_loaded(pilot: Any) -> ConfigurationFormScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
    screen = pilot.app.screen
    ledger = screen.query_one("#ledger_id", Select)
    await wait_until(pilot, lambda: len(choices(ledger)) > 1, what="the ledger options")
    return screen


async def test_new_configuration_from_the_form(run_app: Any, backend: Any) -> None:
    await second_authorisation(backend)
    async with run_app() as pilot:
        await open_configurations(pilot, row=0)  # "Books" sorts first
        await wait_text(pilot, "Books", "No configurations yet", "n New")
        await pilot.press("n")
        form = await wait_form_loaded(pilot)
        labels = choices(form.query_one("#ledger_id", Select))
        assert any("BEX" in label for label in labels)
        form.query_one("#administration_id", Select).value = "4102"
        # Not BEX: the demo's own configuration of 102 posts there (one ledger, one feed).
        form.query_one("#ledger_id", Select).value = "MEM"
        form.query_one("#frequency", Select).value = "monthly"
        form.query_one("#start_date", Input).value = "2025-01-01"
        form.query_one("#delay_days", Input).value = "3"
        form.query_one("#automatic", Switch).value = False
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "administration 102 saved")
        text = await wait_text(pilot, "› Configurations", "monthly manual")
        assert "102" in text and "No configurations yet" not in text


async def test_the_dropdowns_show_a_loading_state(run_app: Any, backend: Any) -> None:
    ready = backend.hold("configurations", "options")  # answers when the test says so
    async with run_app() as pilot:
        await open_configurations(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
        ledger = pilot.app.screen.query_one("#ledger_id", Select)
        await wait_until(pilot, lambda: ledger.loading, what="the loading state")
        ready.set()
        await wait_until(
            pilot, lambda: not ledger.loading and len(choices(ledger)) > 1, what="the ledgers"
        )


async def test_daemon_field_errors_appear_beside_the_fields(run_app: Any, backend: Any) -> None:
    await second_authorisation(backend)
    async with run_app() as pilot:
        await open_configurations(pilot, row=0)
        await pilot.press("n")
        form = await wait_form_loaded(pilot)
        form.query_one("#administration_id", Select).value = "4101"
        form.query_one("#ledger_id", Select).value = "BEX"
        form.query_one("#start_date", Input).value = "2025-03-01"
        form.query_one("#end_date", Input).value = "2025-02-01"
        form.query_one("#delay_days", Input).value = "15"
        await pilot.press("ctrl+s")
        await wait_text(
            pilot, "the end date must be after the start date", "must be between 0 and 14 days"
        )
        assert isinstance(pilot.app.screen, ConfigurationFormScreen)  # still editing
        # Only the fields the daemon named carry an error.
        assert not form.query_one("#error-ledger_id").has_class("-shown")
        form.query_one("#start_date", Input).value = "01-03-2025"
        await pilot.press("ctrl+s")
        await wait_text(pilot, "not a date: use YYYY-MM-DD")


async def test_configuration_view_shows_state_next_period_and_runs(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "102")
        keys = ("s Sync", "p Preview", "t Period", "e Edit", "a Deactivate", "d Delete")
        # The facts, the recent runs and the footer arrive in separate frames: wait for all.
        await wait_text(pilot, "Next due", "2025-02", "monthly", "no (manual)", "3 days", *keys)
        await wait_text(pilot, "2025-01", "posted")  # the recent runs


async def test_edit_saves_and_the_view_shows_the_change(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "102")
        await pilot.press("e")
        form = await wait_form_loaded(pilot)
        assert form.query_one("#administration_id", Select).disabled
        assert form.query_one("#delay_days", Input).value == "3"
        form.query_one("#delay_days", Input).value = "7"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
        await wait_text(pilot, "7 days")


async def test_deactivate_and_activate(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "101")
        await pilot.press("a")
        text = await wait_text(pilot, "inactive", "a Activate")
        assert "a Deactivate" not in text
        await pilot.press("a")
        text = await wait_text(pilot, "a Deactivate")
        assert "(inactive)" not in text


async def test_delete_asks_first(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "103")
        await pilot.press("d")
        await wait_text(pilot, "Delete the configuration of administration 103?")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationsScreen))
        await wait_until(pilot, lambda: len(pilot.app.screen.items) == 2, what="two left")
        assert "103" not in [c["administration_number"] for c in pilot.app.screen.items.values()]


async def test_sync_now_shows_progress_then_a_toast_with_a_key_to_view(
    run_app: Any, backend: Any
) -> None:
    await backend.hold_runs()
    async with run_app() as pilot:
        await open_configuration(pilot, "102")  # its 2025-02 is due (2025-03-04)
        await pilot.press("s")
        # The footer swaps "s Sync now" for "c Cancel sync" on the frame after the progress bar.
        await wait_text(pilot, "Syncing 2025-02 · building", "c Cancel sync")
        await wait_toast(pilot, "started")
        await pilot.press("s")  # disabled while the run goes on: no second run
        await pilot.pause(0.1)
        assert sum("started" in t for t in toasts(pilot.app)) == 1
        await pilot.press("escape")  # the list shows the same run
        await wait_text(pilot, "running", "building")
        await backend.release_runs()
        toast = await wait_toast(pilot, "entry posted. Press v to view it.")
        assert "Administration 102 → BEX (configuration 2) 2025-02" in toast
        await pilot.press("v")
        await wait_text(pilot, "Entries overview")
        table = pilot.app.screen.query_one("#entries-table")
        await wait_until(pilot, lambda: table.current_row is not None, what="the cursor")
        assert table.current_row["period"] == "2025-02"
        assert table.current_row["administration_number"] == "102"


async def test_sync_now_when_nothing_is_due_says_when(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "101")  # today's 2025-03-15 is due tomorrow
        await pilot.press("s")
        toast = await wait_toast(pilot, "No period of this configuration is due")
        assert "The next one, 2025-03-15, is due at 2025-03-16T" in toast
