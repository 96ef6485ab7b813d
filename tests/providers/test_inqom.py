"""Contract tests: the Inqom adapter against its simulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers import registry
from providers.base import EntryLine
from providers.context import ProviderContext
from providers.inqom import InqomProvider
from providers.login import LoginContext
from providers.settings import ProviderSettings
from providers.simulators.base import SimulatorServer
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.inqom import (
    Dossier,
    InqomState,
    SimClock,
    create_app,
    demo_setup,
    error_body,
    settings_for,
)
from providers.wire import dumps_decimal
from tests.providers.harness import Sleeps, journal_entry
from tests.providers.harness import expect_error as expect_provider_error

SPEC = registry.get("inqom")
assert SPEC is not None

CLIENT_ID = "bexsync-test"
SECRET = "inqom-client-secret-0123456789"
USER = "compta@camping.example"
PASSWORD = "correct horse battery staple"
_auth_ids = itertools.count(1)


entry = journal_entry


expect_error = partial(expect_provider_error, "inqom")


@dataclass
class Sim:
    state: InqomState
    clock: SimClock
    faults: FaultPlan
    settings: ProviderSettings
    dossier: Dossier


@dataclass
class Account:
    """What the daemon would persist for one authorisation."""

    credentials: dict[str, Any]
    saved: list[dict[str, Any]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    clock = SimClock()
    plan = FaultPlan(error_body=error_body)
    users = {USER: PASSWORD, "outsider@example": "pw-outsider"}
    app = create_app(CLIENT_ID, SECRET, users, clock=clock, faults=plan)
    state: InqomState = app.state.inqom
    dossier = state.add_dossier("Camping Les Pins SAS", users=(USER,))
    secret_file = tmp_path / "inqom-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    server = SimulatorServer(app, name="inqom-test")
    url = await server.start()
    settings = ProviderSettings.from_table("inqom", settings_for(url, CLIENT_ID, str(secret_file)))
    try:
        yield Sim(state, clock, plan, settings, dossier)
    finally:
        await server.stop()


def login_ctx(settings: ProviderSettings) -> LoginContext:
    return LoginContext("inqom", settings, "", time.time())


async def log_in(sim: Sim, user: str = USER, password: str = PASSWORD) -> Account:
    result = await SPEC.login.complete(
        login_ctx(sim.settings),
        None,
        redirect_url=None,
        code=None,
        credentials={"username": user, "password": password},
    )
    return Account(dict(result.credentials))


def adapter(
    sim: Sim, tmp_path: Path, account: Account, sleeps: Sleeps | None = None, **options: Any
) -> InqomProvider:
    async def save(creds: dict[str, Any]) -> None:
        account.saved.append(creds)
        account.credentials = creds

    async def lost(message: str) -> None:
        account.lost.append(message)

    ctx = ProviderContext(
        provider_id="inqom",
        authorisation_id=next(_auth_ids),
        settings=sim.settings,
        state_dir=tmp_path,
        options=options,
        credentials=account.credentials,
        save_credentials=save,
        on_auth_lost=lost,
    )
    return InqomProvider(ctx, sleep=sleeps or Sleeps())


@pytest.fixture
async def provider(sim: Sim, tmp_path: Path) -> AsyncIterator[InqomProvider]:
    p = adapter(sim, tmp_path, await log_in(sim))
    try:
        yield p
    finally:
        await p.aclose()


# -- registration and login -----------------------------------------------------------------


def test_registered_as_a_password_login_that_needs_an_inqom_api_client() -> None:
    spec = registry.get("inqom")
    assert spec is SPEC
    assert spec.login.kind == "password"
    assert spec.needs_app_registration
    assert spec.info.capabilities.idempotency == "key"
    assert set(spec.info.settings) == {"api_url", "token_url"}


async def test_login_asks_for_user_and_password_and_stores_only_a_token(sim: Sim) -> None:
    start = await SPEC.login.begin(login_ctx(sim.settings))
    assert start.next_step["kind"] == "credentials"
    assert [(f["name"], f["secret"]) for f in start.next_step["fields"]] == [
        ("username", False),
        ("password", True),
    ]
    result = await SPEC.login.complete(
        login_ctx(sim.settings),
        None,
        redirect_url=None,
        code=None,
        credentials={"username": USER, "password": PASSWORD},
    )
    assert set(result.credentials) == {"token"}
    assert PASSWORD not in json.dumps(result.credentials)
    assert result.options == {"username": USER}
    token = json.loads(result.credentials["token"])
    assert set(token["scope"].split()) == {"openid", "apidata", "offline_access"}
    assert token["refresh_token"]
    [grant] = sim.state.oauth.requests_for("password")
    assert grant.status == 200


async def test_a_wrong_password_is_rejected_without_echoing_it(sim: Sim) -> None:
    err = await expect_error("rejected", log_in(sim, password="wrong-password-123"))
    assert "username or password" in err.message
    assert "wrong-password-123" not in err.message


async def test_login_without_an_api_client_in_the_config_says_what_to_set(sim: Sim) -> None:
    bare = ProviderSettings("inqom", urls=dict(sim.settings.urls))
    err = await expect_error(
        "rejected",
        SPEC.login.complete(
            login_ctx(bare),
            None,
            redirect_url=None,
            code=None,
            credentials={"username": USER, "password": PASSWORD},
        ),
    )
    assert "client_id" in err.message and "[providers.inqom]" in err.message


# -- verify, tenants, options ---------------------------------------------------------------


async def test_several_dossiers_are_tenants_and_one_must_be_chosen(
    sim: Sim, tmp_path: Path
) -> None:
    other = sim.state.add_dossier("Résidence Mer SARL", company="Cabinet Nord", users=(USER,))
    sim.state.add_dossier("Not theirs", users=("outsider@example",))
    account = await log_in(sim)
    async with aclosing(adapter(sim, tmp_path, account)) as provider:
        tenants = await provider.list_tenants()
        assert [t.name for t in tenants] == ["Camping Les Pins SAS", "Résidence Mer SARL"]
        assert "2 dossiers" in (await provider.verify()).message
        err = await expect_error("rejected", provider.list_ledgers(None))
        assert err.field_errors[0].field == "tenant_id"
        assert len(await provider.list_ledgers(str(other.id))) == 5
    chosen = adapter(sim, tmp_path, account, tenant_id=str(other.id))
    try:
        assert "Résidence Mer SARL" in (await chosen.verify()).message
        posted = await chosen.post_entry(entry(), "key-1")
        assert [e["Id"] for e in other.entries] == [int(posted.external_id)]
        assert sim.dossier.entries == []
    finally:
        await chosen.aclose()


async def test_a_dossier_the_user_has_no_rights_on_is_refused(
    sim: Sim, provider: InqomProvider
) -> None:
    foreign = sim.state.add_dossier("Not theirs", users=("outsider@example",))
    err = await expect_error("auth_expired", provider.list_ledgers(str(foreign.id)))
    assert "no rights" in err.message


# -- posting and lookup -----------------------------------------------------------------------


async def test_post_sends_one_entry_with_exact_amounts_reference_and_external_id(
    sim: Sim, provider: InqomProvider
) -> None:
    posted = await provider.post_entry(entry(), "bexsync-key-1")
    [stored] = sim.dossier.entries
    assert posted.external_id == str(stored["Id"]) and posted.reference == "bexsync:7:2026-03"
    assert stored["JournalId"] == sim.dossier.journal("BEX")["Id"]
    assert stored["Date"] == "2026-03-31"
    assert stored["ExternalId"] == "bexsync-key-1"
    assert stored["Document"] == {"Reference": "bexsync:7:2026-03"}
    assert [
        (ln["AccountNumber"], ln["DebitAmount"], ln["CreditAmount"]) for ln in stored["Lines"]
    ] == [
        ("1300", Decimal("1090.00"), Decimal("0.00")),
        ("8000", Decimal("0.00"), Decimal("1000.00")),
        ("1800", Decimal("0.00"), Decimal("90.00")),
    ]
    assert [ln["Label"] for ln in stored["Lines"]][:2] == ["Guest debtors", "Rent turnover [VAT L]"]


# -- errors mapped to the taxonomy -------------------------------------------------------------


async def test_inqom_validation_refusals_are_rejected_with_field_errors(
    sim: Sim, provider: InqomProvider
) -> None:
    def ghost_account(doc: Any) -> Any:
        doc.append({"Number": "9999", "Name": "Ghost", "IsImpactable": True})
        return doc

    sim.faults.add(Fault.malformed(ghost_account, path="/accounts", nth={1}))
    lines = (
        EntryLine("1300", "a", Decimal("10.00"), Decimal("0")),
        EntryLine("9999", "b", Decimal("0"), Decimal("10.00")),
    )
    err = await expect_error("rejected", provider.post_entry(entry(lines=lines), "k"))
    assert err.status == 400
    assert [f.field for f in err.field_errors] == ["entries[0].Lines[1].AccountNumber"]
    assert "9999" in err.field_errors[0].message
    assert sim.dossier.entries == []


async def test_a_date_outside_every_accounting_period_is_rejected_before_posting(
    sim: Sim, provider: InqomProvider
) -> None:
    err = await expect_error("rejected", provider.post_entry(entry(day=date(2030, 1, 31)), "k"))
    assert "no Inqom accounting period covers 2030-01-31" in err.message
    assert err.field_errors[0].field == "date"
    assert sim.state.posts == 0


async def test_inqoms_own_locked_refusal_is_period_locked_too(
    sim: Sim, provider: InqomProvider
) -> None:
    """Locked after the adapter read the periods: Inqom's 400 says so, and is mapped."""

    def unlocked(doc: Any) -> Any:
        for period in doc:
            period["Locked"] = False
        return doc

    sim.state.lock(sim.dossier, 2026)
    sim.faults.add(Fault.malformed(unlocked, path="/accounting-periods", nth={1}))
    err = await expect_error("period_locked", provider.post_entry(entry(), "k"))
    assert "2026-03-31" in err.message
    assert sim.state.posts == 1 and sim.dossier.entries == []


# -- the demo ----------------------------------------------------------------------------------


async def test_demo_setup_serves_a_simulator_the_demo_can_log_in_to_and_post_to(
    tmp_path: Path,
) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.provider_id == "inqom" and demo.complete is not None
        secret_file = Path(demo.settings["client_secret_file"])
        assert secret_file.stat().st_mode & 0o077 == 0
        settings = ProviderSettings.from_table("inqom", demo.settings)
        result = await SPEC.login.complete(
            login_ctx(settings), None, redirect_url=None, code=None, **demo.complete
        )
        ctx = ProviderContext("inqom", 99, settings, tmp_path, credentials=result.credentials)
        async with aclosing(SPEC.create(ctx)) as provider:
            assert len((await provider.verify()).tenants) == 1
            posted = await provider.post_entry(
                entry(day=date(2026, 10, 31), reference="bexsync:1:2026-10"), "k"
            )
            assert await provider.find_entry("bexsync:1:2026-10", None, "BEX") == posted
    finally:
        await demo.aclose()


async def test_the_simulated_entries_call_is_all_or_nothing_and_capped_at_50(
    sim: Sim, tmp_path: Path
) -> None:
    """The simulator keeps Inqom's documented batch rules, which the adapter relies on."""
    account = await log_in(sim)
    access = json.loads(account.credentials["token"])["access_token"]
    base = sim.settings.urls["api_url"] + f"/v1/dossiers/{sim.dossier.id}/entries"
    good = InqomProvider.payload(entry(), sim.dossier.journal("BEX")["Id"], "a")[0]
    bad = InqomProvider.payload(entry(day=date(2025, 6, 30)), good["JournalId"], "b")[0]
    headers = {"Authorization": f"Bearer {access}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(headers=headers) as client:
        refused = await client.post(base, content=dumps_decimal([good, bad]))
        assert refused.status_code == 400 and "locked" in refused.json()["Message"]
        assert sim.dossier.entries == []  # the good one was not kept either
        many = [{**good, "ExternalId": f"k{i}"} for i in range(51)]
        too_many = await client.post(base, content=dumps_decimal(many))
        assert too_many.status_code == 400 and "50" in json.dumps(too_many.json())
        created = await client.post(base, content=dumps_decimal(many[:50]))
        assert created.status_code == 200 and len(sim.dossier.entries) == 50
