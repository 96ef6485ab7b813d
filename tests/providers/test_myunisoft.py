"""Contract tests: the MyUnisoft adapter against its simulator, over real HTTP on 127.0.0.1."""

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
from providers.base import EntryLine
from providers.context import ProviderContext
from providers.errors import ProviderError
from providers.login import LoginContext
from providers.myunisoft import MyUnisoftProvider
from providers.ratelimit import RateLimitSpec
from providers.settings import ProviderSettings
from providers.simulators.base import SimulatorServer
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.myunisoft import (
    MyUnisoftState,
    create_myunisoft_app,
    demo_setup,
    error_body,
    settings_for,
)
from tests.providers.harness import Sleeps, journal_entry
from tests.providers.harness import expect_error as expect_provider_error

SPEC = registry.get("myunisoft")
assert SPEC is not None

PARTNER = "bexsync-partner-secret-0123456789"
GENEROUS = RateLimitSpec(calls=1000, per_seconds=1)  # the documented 20/10 s is tested apart
_auth_ids = itertools.count(1)


entry = journal_entry


expect_error = partial(expect_provider_error, "myunisoft")


@dataclass
class Sim:
    state: MyUnisoftState
    faults: FaultPlan
    settings: ProviderSettings
    token: str


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    state = MyUnisoftState.seeded(PARTNER)
    state.rate_calls = 1000
    token = state.add_key("api")
    plan = FaultPlan(error_body=error_body)
    secret_file = tmp_path / "myunisoft-partner"
    secret_file.write_text(PARTNER + "\n", encoding="utf-8")
    server = SimulatorServer(create_myunisoft_app(state, faults=plan), name="myunisoft-test")
    url = await server.start()
    settings = ProviderSettings.from_table("myunisoft", settings_for(url, str(secret_file)))
    try:
        yield Sim(state, plan, settings, token)
    finally:
        await server.stop()


def adapter(
    sim: Sim,
    tmp_path: Path,
    jwt: str | None = None,
    sleeps: Sleeps | None = None,
    rate_limit: RateLimitSpec = GENEROUS,
    settings: ProviderSettings | None = None,
    **options: Any,
) -> MyUnisoftProvider:
    ctx = ProviderContext(
        provider_id="myunisoft",
        authorisation_id=next(_auth_ids),
        settings=settings or sim.settings,
        state_dir=tmp_path,
        options=options,
        credentials={"jwt": sim.token if jwt is None else jwt},
    )
    return MyUnisoftProvider(ctx, sleep=sleeps or Sleeps(), rate_limit=rate_limit)


@pytest.fixture
async def provider(sim: Sim, tmp_path: Path) -> AsyncIterator[MyUnisoftProvider]:
    p = adapter(sim, tmp_path)
    try:
        yield p
    finally:
        await p.aclose()


def login_ctx() -> LoginContext:
    return LoginContext("myunisoft", ProviderSettings("myunisoft"), "", time.time())


# -- registration and login -----------------------------------------------------------------


def test_registered_as_a_token_form_with_the_partner_secret_as_app_registration() -> None:
    spec = registry.get("myunisoft")
    assert spec is SPEC
    assert spec.login.kind == "credentials"
    assert spec.needs_app_registration
    assert spec.info.capabilities.idempotency == "lookup"
    assert spec.info.capabilities.currencies == ("EUR",)


async def test_login_form_stores_the_jwt_as_a_secret_and_the_society_as_an_option(
    sim: Sim,
) -> None:
    start = await SPEC.login.begin(login_ctx())
    fields = start.next_step["fields"]
    assert [(f["name"], f["secret"], f["required"]) for f in fields] == [
        ("jwt", True, True),
        ("society_id", False, False),
    ]
    result = await SPEC.login.complete(
        login_ctx(), None, redirect_url=None, code=None, credentials={"jwt": f" {sim.token} "}
    )
    assert result.credentials == {"jwt": sim.token} and result.options == {}
    result = await SPEC.login.complete(
        login_ctx(),
        None,
        redirect_url=None,
        code=None,
        credentials={"jwt": sim.token, "society_id": "3127"},
    )
    assert result.options == {"society_id": "3127"}
    err = await expect_error(
        "rejected",
        SPEC.login.complete(
            login_ctx(), None, redirect_url=None, code=None, credentials={"jwt": "not a jwt"}
        ),
    )
    assert [f.field for f in err.field_errors] == ["credentials.jwt"]
    assert "not a jwt" not in err.message


# -- verify, tenants, options ---------------------------------------------------------------


async def test_verify_activates_the_key_and_names_the_society(
    sim: Sim, provider: MyUnisoftProvider
) -> None:
    result = await provider.verify()
    assert result.ok and "Camping Les Pins SAS" in result.message
    assert [(t.id, t.name) for t in result.tenants] == [("3127", "Camping Les Pins SAS")]
    assert sim.state.keys[sim.token].activated
    assert ("GET", "/api/v1/key/info") in sim.state.requests


async def test_a_firm_token_needs_the_society_id_and_sends_it(sim: Sim, tmp_path: Path) -> None:
    firm = sim.state.add_key("firm")
    bare = adapter(sim, tmp_path, jwt=firm)
    try:
        err = await expect_error("rejected", bare.verify())
        assert err.field_errors[0].field == "credentials.society_id"
    finally:
        await bare.aclose()
    chosen = adapter(sim, tmp_path, jwt=firm, society_id="3127")
    try:
        assert [t.id for t in (await chosen.verify()).tenants] == ["3127"]
        assert len(await chosen.list_ledgers(None)) == 5
    finally:
        await chosen.aclose()
    wrong = adapter(sim, tmp_path, jwt=firm, society_id="999")
    try:
        await expect_error("auth_expired", wrong.list_ledgers(None))
    finally:
        await wrong.aclose()


# -- posting and lookup -----------------------------------------------------------------------


async def test_post_sends_account_ids_exact_amounts_and_the_reference_as_partner_id(
    sim: Sim, provider: MyUnisoftProvider
) -> None:
    long = EntryLine("8000", "Rent turnover " + "x" * 60, Decimal("0"), Decimal("1000"), "L")
    lines = (
        EntryLine("1300", "Guest debtors", Decimal("1090.00"), Decimal("0"), "NONE"),
        long,
        EntryLine("1800", "VAT low", Decimal("0"), Decimal("90.00"), "NONE"),
    )
    posted = await provider.post_entry(entry(lines=lines), "ignored-key")
    [stored] = sim.state.entries
    assert posted.external_id == str(stored["id_entry"])
    assert stored["entry_origin_partner_id"] == "bexsync:7:2026-03"
    assert stored["diary_id"] == sim.state.diary("BEX")["diary_id"]
    assert stored["date_piece"] == "2026-03-31"
    assert [(ln["account_id"], ln["debit"], ln["credit"]) for ln in stored["entry_list"]] == [
        (sim.state.account("1300")["account_id"], Decimal("1090.00"), Decimal("0.00")),
        (sim.state.account("8000")["account_id"], Decimal("0.00"), Decimal("1000.00")),
        (sim.state.account("1800")["account_id"], Decimal("0.00"), Decimal("90.00")),
    ]
    assert all(len(ln["label"]) <= 50 for ln in stored["entry_list"])
    assert all(ln["deadline"] == "2026-03-31" for ln in stored["entry_list"])


# -- errors mapped to the taxonomy -------------------------------------------------------------


async def test_no_stored_token_is_auth_expired_before_any_request(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path, jwt="")) as provider:
        await expect_error("auth_expired", provider.list_ledgers(None))
        assert sim.state.requests == []


async def test_a_wrong_partner_secret_points_at_the_config_file(sim: Sim, tmp_path: Path) -> None:
    wrong_file = tmp_path / "wrong-partner"
    wrong_file.write_text("not-the-partner-secret\n", encoding="utf-8")
    table = {**settings_for("http://x", str(wrong_file)), "api_url": sim.settings.urls["api_url"]}
    async with aclosing(
        adapter(sim, tmp_path, settings=ProviderSettings.from_table("myunisoft", table))
    ) as provider:
        err = await expect_error("rejected", provider.verify())
        assert "ERR-INVALID-SECRET" in err.message and "client_secret_file" in err.message
        assert "not-the-partner-secret" not in err.message
    missing = ProviderSettings("myunisoft", client_id="bexsync", urls=dict(sim.settings.urls))
    with pytest.raises(ProviderError) as info:
        adapter(sim, tmp_path, settings=missing)
    assert "client_secret_file" in info.value.message


def test_the_documented_rate_limit_is_20_per_10_seconds_at_most_10_at_once() -> None:
    from providers.myunisoft import RATE_LIMIT

    assert (RATE_LIMIT.calls, RATE_LIMIT.per_seconds, RATE_LIMIT.concurrent) == (20, 10, 10)
    assert RATE_LIMIT.remaining_header == "X-Rate-Limit-Remaining"


async def test_myunisoft_validation_codes_are_rejected_with_the_code(
    sim: Sim, provider: MyUnisoftProvider
) -> None:
    """A journal blocked between the adapter's checks and the post: MyUnisoft's ECR4."""

    def block_bex() -> None:
        sim.state.diary("BEX")["blocked"] = True

    sim.faults.add(Fault.hook(block_bex, path="/entry", nth={2}))  # 1: the lookup
    err = await expect_error("rejected", provider.post_entry(entry(), "k"))
    assert err.status == 400 and "ECR4" in err.message
    assert err.field_errors and "bloqué" in err.field_errors[0].message
    assert sim.state.entries == []


async def test_other_currencies_and_dates_without_a_fiscal_year_are_refused_before_posting(
    sim: Sim, provider: MyUnisoftProvider
) -> None:
    err = await expect_error("rejected", provider.post_entry(entry(currency="CHF"), "k"))
    assert err.field_errors[0].field == "currency" and "EUR" in err.message
    err = await expect_error("rejected", provider.post_entry(entry(day=date(2030, 1, 31)), "k"))
    assert "no MyUnisoft fiscal year covers 2030-01-31" in err.message
    assert sim.state.posts == 0


async def test_myunisofts_own_ecr9_is_period_locked_too(
    sim: Sim, provider: MyUnisoftProvider
) -> None:
    """Closed after the adapter read the fiscal years: ECR9 comes back, and is mapped."""

    def reopened(doc: Any) -> Any:
        for row in doc:
            row["closed"] = False
        return doc

    sim.state.close(2026)
    sim.faults.add(Fault.malformed(reopened, path="/society/exercice", nth={1}))
    err = await expect_error("period_locked", provider.post_entry(entry(), "k"))
    assert "ECR9" in err.message
    assert sim.state.posts == 1 and sim.state.entries == []


# -- the demo ----------------------------------------------------------------------------------


async def test_demo_setup_serves_a_simulator_the_demo_can_log_in_to_and_post_to(
    tmp_path: Path,
) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.provider_id == "myunisoft" and demo.complete is not None
        assert Path(demo.settings["client_secret_file"]).stat().st_mode & 0o077 == 0
        settings = ProviderSettings.from_table("myunisoft", demo.settings)
        assert settings.registered
        result = await SPEC.login.complete(
            login_ctx(), None, redirect_url=None, code=None, **demo.complete
        )
        ctx = ProviderContext("myunisoft", 99, settings, tmp_path, credentials=result.credentials)
        async with aclosing(SPEC.create(ctx)) as provider:
            assert len((await provider.verify()).tenants) == 1
            posted = await provider.post_entry(
                entry(day=date(2026, 10, 31), reference="bexsync:1:2026-10"), "k"
            )
            assert await provider.find_entry("bexsync:1:2026-10", None, "BEX") == posted
    finally:
        await demo.aclose()
