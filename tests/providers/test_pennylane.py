"""Contract tests: the Pennylane adapter against its simulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest

from providers import registry
from providers.base import EntryLine
from providers.context import ProviderContext
from providers.login import LoginContext
from providers.pennylane import PennylaneProvider
from providers.redact import redact
from providers.settings import ProviderSettings
from providers.simulators.base import serve
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.pennylane import (
    PREFIX,
    PennylaneState,
    create_pennylane_app,
    demo_setup,
    error_body,
)
from tests.providers.harness import UNBALANCED, Sleeps, journal_entry, with_unknown_account
from tests.providers.harness import expect_error as expect_provider_error

SPEC = registry.get("pennylane")
assert SPEC is not None

TOKEN = "test-pennylane-token-0123456789"
_auth_ids = itertools.count(1)
entry = journal_entry
expect_error = partial(expect_provider_error, "pennylane")


@dataclass
class Sim:
    state: PennylaneState
    faults: FaultPlan
    api_url: str


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    state = PennylaneState.seeded(TOKEN)
    plan = FaultPlan(error_body=error_body)
    async with serve(create_pennylane_app(state, faults=plan)) as url:
        yield Sim(state, plan, url + PREFIX)


def adapter(
    sim: Sim, tmp_path: Path, token: str = TOKEN, sleeps: Sleeps | None = None
) -> PennylaneProvider:
    ctx = ProviderContext(
        provider_id="pennylane",
        authorisation_id=next(_auth_ids),
        settings=ProviderSettings("pennylane", urls={"api_url": sim.api_url}),
        state_dir=tmp_path,
        credentials={"api_token": token},
    )
    return PennylaneProvider(ctx, sleep=sleeps or Sleeps())


# -- login, verify, options ----------------------------------------------------------------


def test_registered_as_a_credentials_login_with_lookup_idempotency() -> None:
    spec = registry.get("pennylane")
    assert spec is SPEC
    assert spec.login.kind == "credentials"
    assert spec.info.capabilities.idempotency == "lookup"
    assert spec.info.capabilities.max_lines == 1000
    assert not spec.needs_app_registration


async def test_login_form_asks_for_a_secret_token_and_stores_it_as_a_credential() -> None:
    ctx = LoginContext("pennylane", ProviderSettings("pennylane"), "http://x/cb", time.time())
    start = await SPEC.login.begin(ctx)
    assert start.next_step["kind"] == "credentials"
    assert start.next_step["fields"] == [
        {
            "name": "api_token",
            "label": "Pennylane company API token",
            "secret": True,
            "required": True,
            "hint": "the token from Pennylane > Settings > Connectivity > Developers",
        }
    ]
    result = await SPEC.login.complete(
        ctx, None, redirect_url=None, code=None, credentials={"api_token": f"  {TOKEN} "}
    )
    assert result.credentials == {"api_token": TOKEN}
    assert result.options == {}
    err = await expect_error(
        "rejected",
        SPEC.login.complete(ctx, None, redirect_url=None, code=None, credentials={}),
    )
    assert [f.field for f in err.field_errors] == ["credentials.api_token"]


async def test_verify_names_the_company_as_the_only_tenant(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        result = await provider.verify()
        assert result.ok
        assert "Camping Les Pins SAS" in result.message
        assert [(t.id, t.name) for t in result.tenants] == [("424242", "Camping Les Pins SAS")]
        assert [t.id for t in await provider.list_tenants()] == ["424242"]
        headers_ok = all(path.startswith(PREFIX) for _, path in sim.state.requests)
        assert headers_ok


async def test_options_list_journals_accounts_and_the_bex_vat_codes(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        ledgers = await provider.list_ledgers(None)
        assert "BEX" in [led.code for led in ledgers]
        bex = next(led for led in ledgers if led.code == "BEX")
        assert bex.id == str(sim.state.journal("BEX")["id"])
        accounts = {a.code: a for a in await provider.list_accounts(None)}
        for number in ("1000", "1810", "2010", "2060", "4300", "4900", "4910", "8000", "8200"):
            assert number in accounts
        # the disabled twin of 8000 is not offered; the enabled one is
        assert accounts["8000"].id == str(sim.state.account("8000")["id"])
        assert accounts["8000"].name == "Rent turnover"
        codes = {t.code for t in await provider.list_tax_codes(None)}
        assert codes == {"0", "L", "H", "NONE"}


async def test_journals_are_read_across_cursor_pages(sim: Sim, tmp_path: Path) -> None:
    for i in range(230):
        sim.state.journals.append({"id": 50_000 + i, "code": f"J{i}", "label": f"Journal {i}"})
    async with aclosing(adapter(sim, tmp_path)) as provider:
        ledgers = await provider.list_ledgers(None)
        assert len(ledgers) == 235
        gets = [p for m, p in sim.state.requests if p.endswith("/journals")]
        assert len(gets) == 3


# -- posting and lookup ----------------------------------------------------------------------


async def test_post_creates_one_balanced_entry_with_decimal_strings_and_ids(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        posted = await provider.post_entry(entry(), "key-1")
        assert posted.reference == "bexsync:7:2026-03"
        [stored] = sim.state.entries
        assert posted.external_id == str(stored["id"])
        assert stored["journal_id"] == sim.state.journal("BEX")["id"]
        assert stored["date"] == "2026-03-31"
        assert "bexsync:7:2026-03" in stored["label"]
        lines = stored["ledger_entry_lines"]
        assert [ln["ledger_account_id"] for ln in lines] == [
            sim.state.account(n)["id"] for n in ("1300", "8000", "1800")
        ]
        assert [(ln["debit"], ln["credit"]) for ln in lines] == [
            ("1090.00", "0.00"),
            ("0.00", "1000.00"),
            ("0.00", "90.00"),
        ]
        assert lines[1]["label"] == "Rent turnover [VAT L]"
        assert lines[0]["label"] == "Guest debtors"


async def test_find_entry_matches_the_exact_reference_in_the_period_and_journal(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        posted = await provider.post_entry(entry(), "key-1")
        bex_id = str(sim.state.journal("BEX")["id"])
        for ledger in ("BEX", bex_id):
            found = await provider.find_entry("bexsync:7:2026-03", None, ledger)
            assert found is not None and found.external_id == posted.external_id
        # a daily period of the same month, another configuration, another journal: not it
        assert await provider.find_entry("bexsync:7:2026-03-31", None, "BEX") is None
        assert await provider.find_entry("bexsync:77:2026-03", None, "BEX") is None
        assert await provider.find_entry("bexsync:7:2026-03", None, "OD") is None
        assert await provider.find_entry("bexsync:7:2026-03", None, "NOPE") is None
        filters = [p for m, p in sim.state.requests if p.endswith("/ledger_entries")]
        assert filters, "find_entry must ask Pennylane"


async def test_posting_the_same_reference_again_returns_the_first_entry(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        first = await provider.post_entry(entry(), "key-1")
        again = await provider.post_entry(entry(), "key-1")
        other_key = await provider.post_entry(entry(), "key-2")
        assert first == again == other_key
        assert len(sim.state.entries) == 1


async def test_a_lost_answer_is_unavailable_and_the_retry_does_not_duplicate(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        sim.faults.add(Fault.malformed(path="/ledger_entries", nth={2}))  # the POST's answer
        err = await expect_error("unavailable", provider.post_entry(entry(), "key-1"))
        assert "looked up" in err.message
        assert len(sim.state.entries) == 1  # it was created all the same
        posted = await provider.post_entry(entry(), "key-1")
        assert len(sim.state.entries) == 1
        assert posted.external_id == str(sim.state.entries[0]["id"])


async def test_a_post_that_failed_with_a_server_error_is_not_retried_blindly(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        sim.faults.add(Fault.error(502, path="/ledger_entries", nth={2}))
        await expect_error("unavailable", provider.post_entry(entry(), "key-1"))
        posts = [p for m, p in sim.state.requests if m == "POST"]
        assert posts == []  # the fault answered before the app saw it, and no second try
        assert len([i for i in sim.faults.injected if i[0] == "502"]) == 1
        await provider.post_entry(entry(), "key-1")
        assert len(sim.state.entries) == 1


# -- errors mapped to the taxonomy -----------------------------------------------------------


async def test_a_wrong_token_is_auth_expired_without_the_token_in_the_message(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path, token="revoked-token-abcdef")) as provider:
        err = await expect_error("auth_expired", provider.verify())
        assert "revoked-token-abcdef" not in err.message
        assert "missing or invalid" in err.message


async def test_the_token_is_masked_wherever_it_is_logged(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path)):
        assert TOKEN not in redact(f"token={TOKEN!r} in some traceback")


async def test_no_stored_token_is_auth_expired_before_any_request(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path, token="")) as provider:
        await expect_error("auth_expired", provider.list_ledgers(None))
        assert sim.state.requests == []


async def test_429_with_a_long_retry_after_goes_up_as_rate_limited(
    sim: Sim, tmp_path: Path
) -> None:
    sim.faults.add(Fault.rate_limit(retry_after=600, path="/journals", fraction=1.0))
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("rate_limited", provider.list_ledgers(None))
        assert err.retry_after == 600


async def test_the_rate_limit_headers_hold_requests_back_before_pennylane_refuses(
    sim: Sim, tmp_path: Path
) -> None:
    sim.state.rate_calls, sim.state.rate_per = 2, 0.2
    async with aclosing(adapter(sim, tmp_path)) as provider:
        for _ in range(3):
            assert len(await provider.list_ledgers(None)) == 5
        assert sim.state.refused == 0


async def test_a_429_from_pennylane_is_waited_out_and_retried(sim: Sim, tmp_path: Path) -> None:
    sim.state.rate_calls, sim.state.rate_per = 2, 0.2
    for _ in range(2):  # another client of the same token used up the window
        sim.state.throttle(TOKEN)
    async with aclosing(adapter(sim, tmp_path)) as provider:
        assert len(await provider.list_ledgers(None)) == 5
        assert sim.state.refused == 1


async def test_server_errors_are_retried_for_reads_then_unavailable(
    sim: Sim, tmp_path: Path
) -> None:
    sim.faults.add(Fault.error(503, path="/ledger_accounts", fraction=1.0))
    sleeps = Sleeps()
    async with aclosing(adapter(sim, tmp_path, sleeps=sleeps)) as provider:
        err = await expect_error("unavailable", provider.list_accounts(None))
        assert err.status == 503
        assert len(sleeps.delays) == 4  # five attempts in all


async def test_pennylane_validation_refusal_is_rejected_with_its_message(
    sim: Sim, tmp_path: Path
) -> None:
    lines = (
        EntryLine("1300", "both sides", Decimal("10.00"), Decimal("10.00")),
        EntryLine("8000", "x", Decimal("5.00"), Decimal("0.00")),
        EntryLine("8100", "y", Decimal("0.00"), Decimal("5.00")),
    )
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("rejected", provider.post_entry(entry(lines=lines), "k"))
        assert err.status == 422
        assert "both a debit and a credit" in err.message
        assert err.field_errors and err.field_errors[0].field == "ledger_entry"
        assert sim.state.entries == []


async def test_unbalanced_and_unknown_accounts_are_rejected_per_line_before_posting(
    sim: Sim, tmp_path: Path
) -> None:
    provider = adapter(sim, tmp_path)
    unbalanced = UNBALANCED
    unknown = with_unknown_account("9999")
    try:
        err = await expect_error("rejected", provider.post_entry(entry(lines=unbalanced), "k"))
        assert "do not balance" in err.message
        err = await expect_error("rejected", provider.post_entry(entry(lines=unknown), "k"))
        assert [(f.field, f.message) for f in err.field_errors] == [
            ("lines[1].account", "Pennylane has no ledger account 9999")
        ]
        err = await expect_error("rejected", provider.post_entry(entry(ledger="ZZ"), "k"))
        assert err.field_errors[0].field == "ledger_id"
        assert not [m for m, _ in sim.state.requests if m == "POST"]
    finally:
        await provider.aclose()


async def test_a_closed_fiscal_period_is_period_locked(sim: Sim, tmp_path: Path) -> None:
    sim.state.closed_until = date(2026, 3, 31)
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("period_locked", provider.post_entry(entry(), "k"))
        assert "2026-03-31" in err.message
        assert sim.state.entries == []
        sim.state.closed_until = None
        await provider.post_entry(entry(), "k")
        assert len(sim.state.entries) == 1


# -- the demo ----------------------------------------------------------------------------------


async def test_demo_setup_serves_a_simulator_the_demo_can_log_in_to_and_post_to(
    tmp_path: Path,
) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.provider_id == "pennylane"
        assert demo.complete is not None and demo.browser_login is None
        settings = ProviderSettings.from_table("pennylane", demo.settings)
        login = LoginContext("pennylane", settings, "http://x/cb", time.time())
        result = await SPEC.login.complete(
            login, None, redirect_url=None, code=None, **demo.complete
        )
        ctx = ProviderContext("pennylane", 99, settings, tmp_path, credentials=result.credentials)
        async with aclosing(SPEC.create(ctx)) as provider:
            assert (await provider.verify()).ok
            posted = await provider.post_entry(entry(), "k")
            found = await provider.find_entry("bexsync:7:2026-03", None, "BEX")
            assert found == posted
    finally:
        await demo.aclose()
