"""Mapping overrides (account_map, vat_map, no_vat_code): edited by keyboard, judged by the
daemon, and the next preview posts to the mapped accounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from bexsync_tui.screens.mappings import MappingsScreen
from bexsync_tui.screens.preview import PreviewScreen
from tests.tui.helpers import wait_no_text, wait_text, wait_toast, wait_until
from tests.tui.test_configurations import open_configuration, wait_form_loaded


async def open_mappings(pilot: Any, number: str) -> MappingsScreen:
    await open_configuration(pilot, number)
    await pilot.press("e")
    await wait_form_loaded(pilot)
    await wait_text(pilot, "^o Mappings")
    await pilot.press("ctrl+o")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, MappingsScreen))
    await wait_text(pilot, "Account and VAT mappings", "a Add account", "v Add VAT", "^s Save")
    return pilot.app.screen


async def preview_credits(backend: Any) -> dict[str, Decimal]:
    draft = await backend.client.call("syncs.preview", {"configuration_id": 2})
    credits: dict[str, Decimal] = {}
    for line in draft["lines"]:
        credits[line["account"]] = credits.get(line["account"], Decimal(0)) + Decimal(
            line["credit"]
        )
    return credits


async def test_map_an_account_and_the_preview_posts_to_it(run_app: Any, backend: Any) -> None:
    await backend.client.start()
    before = await preview_credits(backend)
    assert "8000" in before  # rent turnover; 8100 is POS turnover
    async with run_app() as pilot:
        screen = await open_mappings(pilot, "102")
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.editing == 0, what="the editor")
        await pilot.press(*"8000", "enter", *"8100", "enter")
        await wait_until(pilot, lambda: screen.editing is None, what="the row applied")
        text = await wait_text(pilot, "Account", "8000", "8100")
        row = next(line for line in text.splitlines() if line.strip().startswith("Account"))
        assert row.split()[1:3] == ["8000", "8100"]
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Mappings of administration 102 saved")
        saved = await backend.client.call("configurations.get", {"id": 2})
        assert saved["account_map"] == {"8000": "8100"}
        # Back to the configuration and preview: the rent turnover now posts to 8100.
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
        await pilot.press("escape")
        await wait_text(pilot, "p Preview")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
        preview = pilot.app.screen
        await wait_text(pilot, "✓ balanced")
        accounts = [line["account"] for line in preview.draft["lines"]]
        assert "8000" not in accounts and "8100" in accounts
        credits = sum(
            (Decimal(x["credit"]) for x in preview.draft["lines"] if x["account"] == "8100"),
            Decimal(0),
        )
        assert credits == before["8000"] + before.get("8100", Decimal(0))


async def test_daemon_errors_appear_beside_the_mappings_and_rows_can_be_removed(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        screen = await open_mappings(pilot, "102")
        await pilot.press("v")
        await wait_until(pilot, lambda: screen.editing == 0, what="the editor")
        await pilot.press(*"L", "enter", "enter")  # no provider code: the daemon refuses
        await wait_until(pilot, lambda: screen.editing is None, what="the row applied")
        await pilot.press("ctrl+s")
        await wait_text(pilot, "must map codes (text) to non-empty codes (text)")
        assert screen.query_one("#error-vat_map").has_class("-shown")
        assert not screen.query_one("#error-account_map").has_class("-shown")
        assert (await backend.client.call("configurations.get", {"id": 2}))["vat_map"] == {}
        # Edit the row: Enter opens it, the provider code is filled in, saved.
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.editing == 0, what="the editor")
        await pilot.press("enter", *"H", "enter")
        await wait_until(pilot, lambda: screen.editing is None, what="the row applied")
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Mappings of administration 102 saved")
        await wait_no_text(pilot, "must map codes")
        assert (await backend.client.call("configurations.get", {"id": 2}))["vat_map"] == {"L": "H"}
        # Remove it and save: no override left.
        await pilot.press("x", "ctrl+s")
        await wait_until(
            pilot, lambda: not screen.rows and not screen.dirty, what="the removal saved"
        )
        assert (await backend.client.call("configurations.get", {"id": 2}))["vat_map"] == {}


async def test_leaving_with_unsaved_mappings_asks_first(run_app: Any, backend: Any) -> None:
    async with run_app() as pilot:
        screen = await open_mappings(pilot, "101")
        await pilot.press("a", *"1000", "enter", *"1020", "enter")
        await wait_until(pilot, lambda: screen.dirty and screen.editing is None)
        await pilot.press("escape")
        await wait_text(pilot, "Leave without saving the mappings?")
        await pilot.press("n")
        await wait_until(pilot, lambda: pilot.app.screen is screen)
        await pilot.press("escape", "y")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
        assert (await backend.client.call("configurations.get", {"id": 1}))["account_map"] == {}
