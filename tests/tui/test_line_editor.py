"""Fault 9: the preview's line editor labels its fields and offers the provider's chart with
type-to-filter (also in the mapping editor); the Name column follows a changed account."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from bexsync_tui.client import RpcCallError
from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from bexsync_tui.screens.mappings import MappingsScreen
from bexsync_tui.widgets.accounts import AccountList
from tests.tui.helpers import screen_text, wait_text, wait_until
from tests.tui.test_configurations import open_configuration
from tests.tui.test_preview import open_preview


async def chart(backend: Any, configuration_id: int = 2) -> dict[str, str]:
    accounts = await backend.client.call("configurations.accounts", {"id": configuration_id})
    return {a["code"]: a["name"] for a in accounts}


def row_of(pilot: Any, code: str) -> str:
    """The screen line of the draft line whose account is ``code``."""
    return next(x for x in screen_text(pilot.app).splitlines() if x.startswith(f" {code} "))


async def test_the_daemon_lists_a_configurations_accounts(backend: Any) -> None:
    accounts = await chart(backend)
    assert accounts["8000"] and accounts["1000"]  # the sandbox ledger's chart, with names
    try:
        await backend.client.call("configurations.accounts", {"id": 999})
    except RpcCallError as error:
        assert "999" in str(error)
    else:
        raise AssertionError("an unknown configuration has no accounts")


async def test_the_line_editor_labels_each_field(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_preview(pilot)
        await wait_text(pilot, "✓ balanced")
        await pilot.press("enter")  # edit the first line
        text = await wait_text(pilot, "VAT code")
        lines = text.splitlines()
        labels = next(i for i, line in enumerate(lines) if "VAT code" in line)
        assert lines[labels].split() == ["Account", "Description", "VAT", "code", "Debit", "Credit"]
        # Each label stands above its field: the first line's values, in the same columns.
        fields = lines[labels + 1]
        for label, value in (("Account", "1000"), ("Debit", "8459.50"), ("Credit", "0.00")):
            assert fields.index(value) == lines[labels].index(label), (label, fields)


async def test_typing_filters_the_accounts_and_choosing_sets_the_code_and_name(
    run_app: Any, backend: Any
) -> None:
    accounts = await chart(backend)
    wanted = [code for code, name in accounts.items() if "turnover" in name.casefold()]
    assert len(wanted) >= 2 and len(wanted) < len(accounts)
    async with run_app() as pilot:
        screen = await open_preview(pilot)
        await wait_text(pilot, "✓ balanced")
        assert row_of(pilot, "1000").split()[1] == "Cash"
        await pilot.press("enter")  # edit the first line (1000 Cash)
        choices = screen.query_one("#account-choices", AccountList)
        await wait_until(pilot, lambda: choices.display, what="the account list")
        await pilot.press("ctrl+u", *"turnover")  # part of a name
        await wait_until(pilot, lambda: choices.option_count == len(wanted), what="the filter")
        shown = screen_text(pilot.app)
        assert all(f"{code} " in shown and accounts[code] in shown for code in wanted[:4])
        listed = [str(choices.get_option_at_index(i).id) for i in range(choices.option_count)]
        assert listed == wanted  # 1000 Cash and the other non-turnover accounts are not listed
        await pilot.press("down", "down", "enter")  # the second match
        field = screen.query_one("#edit-account", Input)
        await wait_until(pilot, lambda: field.value == wanted[1], what="the picked code")
        assert field.has_focus
        # The Name column shows the chosen account's name at once, and after the daemon's check.
        await wait_until(pilot, lambda: accounts[wanted[1]][:12] in row_of(pilot, wanted[1]))
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.dirty and not screen.validating)
        assert screen.draft["lines"][0]["account"] == wanted[1]
        assert screen.draft["lines"][0]["account_name"] == accounts[wanted[1]]
        assert accounts[wanted[1]][:12] in row_of(pilot, wanted[1])


async def test_a_typed_code_shows_its_name_too(run_app: Any, backend: Any) -> None:
    accounts = await chart(backend)
    async with run_app() as pilot:
        screen = await open_preview(pilot)
        await wait_text(pilot, "✓ balanced")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.query_one("#editor").display)
        await pilot.press("ctrl+u", *"8000")
        await wait_until(pilot, lambda: accounts["8000"][:12] in row_of(pilot, "8000"))
        assert screen.lines[0]["account_name"] == accounts["8000"]  # not Cash any more
        await pilot.press("ctrl+u", *"9999")  # not in the chart: no name, none of the old one
        await wait_until(pilot, lambda: row_of(pilot, "9999").split()[1:3] == ["Cash", "2025-02"])
        assert screen.lines[0]["account_name"] == ""  # (the description is "Cash 2025-02")


async def test_the_mapping_editor_offers_the_account_picker(run_app: Any, backend: Any) -> None:
    accounts = await chart(backend)
    async with run_app() as pilot:
        await open_configuration(pilot, "102")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationFormScreen))
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, MappingsScreen))
        screen = pilot.app.screen
        await pilot.press("a", *"1000", "enter")  # a new account row: BEX 1000 -> ?
        target = screen.query_one("#edit-target", Input)
        await wait_until(pilot, lambda: target.has_focus)
        choices = screen.query_one(AccountList)
        await pilot.press(*"cash")
        wanted = [c for c, name in accounts.items() if "cash" in name.casefold()]
        await wait_until(pilot, lambda: choices.display and choices.option_count == len(wanted))
        await wait_text(pilot, accounts[wanted[0]])
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: target.value == wanted[0], what="the picked code")
        await pilot.press("enter")  # the row is done
        await wait_until(pilot, lambda: screen.editing is None)
        assert screen.rows[-1] == {"kind": "account", "source": "1000", "target": wanted[0]}
        await pilot.press("v")  # a VAT row: its target is a tax code, no account list
        await wait_until(pilot, lambda: screen.editing is not None)
        assert not choices.display


async def test_enter_on_a_name_of_one_account_takes_its_code(run_app: Any, backend: Any) -> None:
    accounts = await chart(backend)
    name = accounts["8000"]
    assert [c for c, n in accounts.items() if name.casefold() in n.casefold()] == ["8000"]
    async with run_app() as pilot:
        screen = await open_preview(pilot)
        await wait_text(pilot, "✓ balanced")
        await pilot.press("enter")  # edit the first line (1000 Cash)
        await wait_until(pilot, lambda: screen.query_one("#editor").display)
        await pilot.press("ctrl+u", *name.lower(), "enter")
        await wait_until(pilot, lambda: not screen.dirty and not screen.validating)
        assert screen.draft["lines"][0]["account"] == "8000"
        assert screen.draft["lines"][0]["account_name"] == name
        assert not screen.draft["errors"]
