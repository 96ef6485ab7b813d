"""Contract tests: the Odoo adapter against its simulator, over real HTTP on 127.0.0.1.

Most tests run twice: against Odoo 19 (JSON-2) and Odoo 17 (JSON-RPC ``execute_kw``), so the
adapter's probe and both wire APIs are exercised.
"""

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
from typing import Any

import pytest

from providers import registry
from providers.base import JournalEntry
from providers.context import ProviderContext
from providers.login import LoginContext
from providers.odoo import OdooProvider, classify
from providers.settings import ProviderSettings
from providers.simulators.base import serve
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.odoo import OdooState, create_odoo_app, demo_setup, error_body
from tests.providers.harness import (
    Sleeps,
    journal_entry,
    standard_lines,
)
from tests.providers.harness import expect_error as expect_provider_error

SPEC = registry.get("odoo")
assert SPEC is not None

LOGIN = "bexsync-bot@example.com"
KEY = "0123456789abcdef0123456789abcdef01234567"
_auth_ids = itertools.count(1)


def entry(reference: str = "bexsync:3:2026-03", **kw: Any) -> JournalEntry:
    kw.setdefault("lines", standard_lines("1234567.89", "1132631.09"))
    return journal_entry(reference, **kw)


expect_error = partial(expect_provider_error, "odoo")


@dataclass
class Sim:
    state: OdooState
    faults: FaultPlan
    url: str

    def api_calls(self, api: str) -> list[tuple[str, str]]:
        return [(model, method) for kind, model, method in self.state.calls if kind == api]


async def _sim(version: int) -> AsyncIterator[Sim]:
    state = OdooState.seeded(LOGIN, KEY, version=version)
    plan = FaultPlan(error_body=error_body)
    async with serve(create_odoo_app(state, faults=plan)) as url:
        yield Sim(state, plan, url)


@pytest.fixture(params=[19, 17], ids=["json2", "jsonrpc"])
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Sim]:
    async for s in _sim(request.param):
        yield s


@pytest.fixture
async def sim19() -> AsyncIterator[Sim]:
    async for s in _sim(19):
        yield s


def adapter(
    sim: Sim,
    tmp_path: Path,
    *,
    key: str = KEY,
    username: str | None = LOGIN,
    database: str = "bexsync",
    sleeps: Sleeps | None = None,
) -> OdooProvider:
    options: dict[str, Any] = {"url": sim.url, "database": database}
    if username:
        options["username"] = username
    ctx = ProviderContext(
        provider_id="odoo",
        authorisation_id=next(_auth_ids),
        settings=ProviderSettings("odoo"),
        state_dir=tmp_path,
        options=options,
        credentials={"api_key": key},
    )
    return OdooProvider(ctx, sleep=sleeps or Sleeps())


# -- login -------------------------------------------------------------------------------------


def test_registered_as_a_credentials_login_with_lookup_idempotency() -> None:
    spec = registry.get("odoo")
    assert spec is SPEC
    assert spec.login.kind == "credentials"
    assert spec.info.capabilities.idempotency == "lookup"
    assert not spec.needs_app_registration


async def test_login_form_keeps_only_the_api_key_secret() -> None:
    ctx = LoginContext("odoo", ProviderSettings("odoo"), "http://x/cb", time.time())
    start = await SPEC.login.begin(ctx)
    fields = {f["name"]: f for f in start.next_step["fields"]}
    assert list(fields) == ["url", "database", "username", "api_key"]
    assert [n for n, f in fields.items() if f["secret"]] == ["api_key"]
    values = {
        "url": "https://park.odoo.com",
        "database": "park",
        "username": LOGIN,
        "api_key": KEY,
    }
    result = await SPEC.login.complete(ctx, None, redirect_url=None, code=None, credentials=values)
    assert result.credentials == {"api_key": KEY}
    assert result.options == {"url": "https://park.odoo.com", "database": "park", "username": LOGIN}
    err = await expect_error(
        "rejected",
        SPEC.login.complete(
            ctx, None, redirect_url=None, code=None, credentials={**values, "url": "park.odoo"}
        ),
    )
    assert [f.field for f in err.field_errors] == ["credentials.url"]


def test_without_a_url_the_odoo_online_address_of_the_database_is_used(tmp_path: Path) -> None:
    ctx = ProviderContext(
        "odoo", 1, ProviderSettings("odoo"), tmp_path, options={"database": "park"}
    )
    assert OdooProvider(ctx).url == "https://park.odoo.com"
    configured = ProviderSettings("odoo", urls={"api_url": "https://erp.example.com/"})
    ctx = ProviderContext("odoo", 1, configured, tmp_path, options={"database": "park"})
    assert OdooProvider(ctx).url == "https://erp.example.com"


# -- probe, verify, options --------------------------------------------------------------------


async def test_the_probe_picks_the_api_the_server_speaks(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        result = await provider.verify()
        assert result.ok
        if sim.state.version >= 19:
            assert provider.flavor == "json2"
            assert "Odoo 19 or later over JSON-2" in result.message
            assert sim.api_calls("jsonrpc") == []
        else:
            assert provider.flavor == "jsonrpc"
            assert "Odoo 17 over JSON-RPC" in result.message
            assert ("common", "authenticate") in sim.api_calls("jsonrpc")
            assert sim.api_calls("json2") == []
        assert "4 journals" in result.message
        assert [(t.id, t.name) for t in result.tenants] == [
            (str(sim.state.company()["id"]), "Vakantiepark De Duinen B.V.")
        ]


async def test_several_companies_are_tenants_and_scope_every_call(sim: Sim, tmp_path: Path) -> None:
    second = sim.state.add_company("Stadshotel B.V.")
    sim.state.users[LOGIN]["company_ids"].append(second["id"])
    sim.state.journals.append(
        {
            "id": 900,
            "code": "BEX",
            "name": "BEX hotel",
            "type": "general",
            "company_id": second["id"],
        }
    )
    for code in ("1300", "8000", "1800"):
        sim.state.add_account(code, f"Hotel {code}", second["id"])
    async with aclosing(adapter(sim, tmp_path)) as provider:
        tenants = await provider.list_tenants()
        assert [t.name for t in tenants] == ["Vakantiepark De Duinen B.V.", "Stadshotel B.V."]
        hotel = str(second["id"])
        assert [led.name for led in await provider.list_ledgers(hotel)] == ["BEX hotel"]
        assert {a.code for a in await provider.list_accounts(hotel)} == {"1300", "8000", "1800"}
        posted = await provider.post_entry(entry(tenant=hotel), "k")
        [move] = sim.state.moves
        assert move["company_id"] == second["id"] and move["journal_id"] == 900
        assert await provider.find_entry("bexsync:3:2026-03", hotel, "BEX") == posted
        first = str(sim.state.company()["id"])
        assert await provider.find_entry("bexsync:3:2026-03", first, "BEX") is None


# -- posting and lookup --------------------------------------------------------------------------


async def test_post_creates_and_posts_one_move_with_exact_amounts(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        posted = await provider.post_entry(entry(), "key-1")
        [move] = sim.state.moves
        assert posted.external_id == str(move["id"])
        assert posted.reference == move["ref"] == "bexsync:3:2026-03"
        assert move["state"] == "posted" and move["name"] == "BEX/2026/0001"
        assert move["journal_id"] == sim.state.journal("BEX")["id"]
        assert move["date"] == "2026-03-31" and move["move_type"] == "entry"
        lines = [
            (sim.state.account_code(ln["account_id"]), ln["name"], ln["debit"], ln["credit"])
            for ln in move["lines"]
        ]
        assert lines == [
            ("1300", "Guest debtors", Decimal("1234567.89"), Decimal("0.00")),
            ("8000", "Rent turnover [VAT L]", Decimal("0.00"), Decimal("1132631.09")),
            ("1800", "VAT low", Decimal("0.00"), Decimal("101936.80")),
        ]
        assert ("account.move", "action_post") in [(m, f) for _, m, f in sim.state.calls]


async def test_a_draft_left_by_a_failed_post_is_replaced_not_duplicated(
    sim19: Sim, tmp_path: Path
) -> None:
    sim19.faults.add(Fault.error(502, path="/account.move/action_post", nth={1}))
    async with aclosing(adapter(sim19, tmp_path)) as provider:
        await expect_error("unavailable", provider.post_entry(entry(), "key-1"))
        [draft] = sim19.state.moves
        assert draft["state"] == "draft"
        assert await provider.find_entry("bexsync:3:2026-03", None, "BEX") is None
        posted = await provider.post_entry(entry(), "key-1")
        [move] = sim19.state.moves
        assert move["state"] == "posted" and move["id"] != draft["id"]
        assert posted.external_id == str(move["id"])


# -- errors mapped to the taxonomy -----------------------------------------------------------------


async def test_json_rpc_needs_the_username(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path, username=None)) as provider:
        if sim.state.version >= 19:
            assert (await provider.verify()).ok  # JSON-2 needs only the key
        else:
            err = await expect_error("auth_expired", provider.verify())
            assert "username" in err.message


async def test_an_unknown_database_is_rejected_on_the_database_field(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path, database="nope")) as provider:
        err = await expect_error("rejected", provider.verify())
        assert [f.field for f in err.field_errors] == ["credentials.database"]


async def test_odoo_validation_errors_are_rejected_with_its_message(
    sim: Sim, tmp_path: Path
) -> None:
    """A refusal the adapter does not check first (here sent past its checks)."""
    async with aclosing(adapter(sim, tmp_path)) as provider:
        journal = await provider._journal_id("BEX", None)
        accounts = {a.code: int(a.id or 0) for a in await provider.list_accounts(None)}
        lines = [
            [0, 0, {"account_id": accounts["1300"], "name": "x", "debit": Decimal("-5.00"),
                    "credit": Decimal("0.00")}],
            [0, 0, {"account_id": accounts["8000"], "name": "y", "debit": Decimal("0.00"),
                    "credit": Decimal("-5.00")}],
        ]  # fmt: skip
        vals = {
            "move_type": "entry",
            "journal_id": journal,
            "date": "2026-03-31",
            "line_ids": lines,
        }
        err = await expect_error(
            "rejected", provider.call("account.move", "create", read=False, vals_list=[vals])
        )
        assert "cannot be negative" in err.message
        assert "UserError" in err.message
        assert err.field_errors and err.field_errors[0].field == "entry"
        assert sim.state.moves == []


async def test_an_entry_in_another_currency_than_the_books_is_refused_before_creating(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("rejected", provider.post_entry(entry(currency="GBP"), "k"))
        assert err.field_errors[0].field == "currency" and "EUR" in err.message
        assert not [c for c in sim.state.calls if c[2] == "create"]


async def test_odoos_own_lock_refusal_is_period_locked(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        await provider.post_entry(entry(reference="bexsync:3:2026-02", day=date(2026, 2, 28)), "k")
        # the books are closed after the adapter read the company (or by a lock it does not
        # read: the pre-18 period_lock_date): Odoo itself refuses
        key = "hard_lock_date" if sim.state.version >= 18 else "period_lock_date"
        sim.state.company()[key] = "2026-03-31"
        err = await expect_error("period_locked", provider.post_entry(entry(), "k"))
        assert "prior to and inclusive of the lock date 2026-03-31" in err.message
        assert len(sim.state.moves) == 1


async def test_a_sales_journal_lock_refuses_instead_of_letting_odoo_move_the_date(
    sim19: Sim, tmp_path: Path
) -> None:
    sim19.state.company()["sale_lock_date"] = "2026-03-31"
    async with aclosing(adapter(sim19, tmp_path)) as provider:
        err = await expect_error("period_locked", provider.post_entry(entry(ledger="INV"), "k"))
        assert "2026-03-31" in err.message
        assert sim19.state.moves == []
        await provider.post_entry(entry(), "k")  # the general BEX journal is not under it
        assert len(sim19.state.moves) == 1


async def test_a_date_odoo_postponed_after_all_is_kept_and_logged(
    sim19: Sim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with aclosing(adapter(sim19, tmp_path)) as provider:
        await provider.post_entry(entry(reference="bexsync:3:2026-02", ledger="INV"), "k")
        sim19.state.company()["sale_lock_date"] = "2026-03-31"  # after the adapter read it
        with caplog.at_level("WARNING", logger="bexsync.odoo"):
            posted = await provider.post_entry(entry(ledger="INV"), "k")
        move = next(m for m in sim19.state.moves if str(m["id"]) == posted.external_id)
        assert move["state"] == "posted" and move["date"] == "2026-04-01"
        assert "bexsync:3:2026-03" in caplog.text and "2026-04-01" in caplog.text


def test_database_conflicts_are_unavailable_and_access_errors_auth_expired() -> None:
    err = classify(
        "psycopg2.errors.SerializationFailure",
        "could not serialize access due to concurrent update",
    )
    assert err.kind == "unavailable" and err.retryable
    assert classify("odoo.exceptions.AccessError", "You are not allowed").kind == "auth_expired"
    assert (
        classify("odoo.exceptions.ValidationError", "The entry is not balanced.")
        .field_errors[0]
        .field
        == "lines"
    )


# -- the demo ------------------------------------------------------------------------------------


async def test_demo_setup_serves_a_simulator_the_demo_can_log_in_to_and_post_to(
    tmp_path: Path,
) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.provider_id == "odoo"
        assert demo.complete is not None and demo.browser_login is None
        settings = ProviderSettings.from_table("odoo", demo.settings)
        login = LoginContext("odoo", settings, "http://x/cb", time.time())
        result = await SPEC.login.complete(
            login, None, redirect_url=None, code=None, **demo.complete
        )
        ctx = ProviderContext(
            "odoo", 99, settings, tmp_path, options=result.options, credentials=result.credentials
        )
        async with aclosing(SPEC.create(ctx)) as provider:
            assert (await provider.verify()).ok
            posted = await provider.post_entry(entry(), "k")
            assert await provider.find_entry("bexsync:3:2026-03", None, "BEX") == posted
    finally:
        await demo.aclose()
