"""Contract tests: the Business Central adapter and its Entra logins against the simulator, over
real HTTP on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers import registry
from providers.base import JournalEntry
from providers.business_central import (
    BusinessCentralProvider,
    batch_code,
    document_number,
)
from providers.context import ProviderContext
from providers.login import LoginContext, LoginResult
from providers.settings import ProviderSettings
from providers.simulators.base import serve
from providers.simulators.business_central import (
    BCCompany,
    BCSimState,
    SimClock,
    create_app,
    demo_setup,
    error_body,
    settings_for,
)
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.oauth_server import SimClient
from tests.providers.harness import Sleeps, journal_entry, standard_lines
from tests.providers.harness import expect_error as expect_provider_error

SPEC = registry.get("business_central")
assert SPEC is not None

PROVIDER = "business_central"
CLIENT_ID = "bc-app"
SECRET = "bc-client-secret-0123456789"
REDIRECT = "http://127.0.0.1:53682/callback"
_auth_ids = itertools.count(1)


def entry(tenant: str, reference: str = "bexsync:7:2026-03", **kw: Any) -> JournalEntry:
    kw.setdefault("lines", standard_lines("1090.01"))
    return journal_entry(reference, tenant=tenant, **kw)


expect_error = partial(expect_provider_error, PROVIDER)


@dataclass
class Sim:
    url: str
    state: BCSimState
    faults: FaultPlan
    clock: SimClock
    secret_file: Path

    def settings(self, **options: Any) -> ProviderSettings:
        table = {**settings_for(self.url, CLIENT_ID, str(self.secret_file)), **options}
        return ProviderSettings.from_table(PROVIDER, table)

    def login_ctx(self, **options: Any) -> LoginContext:
        return LoginContext(PROVIDER, self.settings(**options), REDIRECT, time.time())

    @property
    def production(self) -> list[BCCompany]:
        return list(self.state.environments["production"].companies.values())


@dataclass
class Account:
    """What the daemon keeps for one authorisation: credentials it saves, and lost logins."""

    result: LoginResult
    saved: list[dict[str, Any]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    clock = SimClock()
    plan = FaultPlan(error_body=lambda status, detail: error_body(status, detail))
    app = create_app(clients=(SimClient(CLIENT_ID, SECRET),), clock=clock, faults=plan)
    secret_file = tmp_path / "bc-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    async with serve(app) as url:
        yield Sim(url, app.state.bc, plan, clock, secret_file)


async def approve(sim: Sim, user_code: str) -> None:
    """What the user does in the browser at the verification URI."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(
            f"{sim.url}/oauth/device/approve", params={"user_code": user_code}
        )
    assert response.status_code == 200


async def device_login(sim: Sim) -> LoginResult:
    ctx = sim.login_ctx()
    start = await SPEC.login.begin(ctx)
    await approve(sim, start.next_step["user_code"])
    return await SPEC.login.complete(
        ctx, start.pending, redirect_url=None, code=None, credentials=None
    )


@pytest.fixture
async def account(sim: Sim) -> Account:
    return Account(await device_login(sim))


def adapter(
    sim: Sim,
    tmp_path: Path,
    account: Account,
    sleeps: Sleeps | None = None,
    **options: Any,
) -> BusinessCentralProvider:
    async def save(creds: dict[str, Any]) -> None:
        account.saved.append(creds)

    async def lost(message: str) -> None:
        account.lost.append(message)

    ctx = ProviderContext(
        provider_id=PROVIDER,
        authorisation_id=next(_auth_ids),
        settings=sim.settings(**options),
        state_dir=tmp_path,
        options=dict(account.result.options),
        credentials=dict(account.result.credentials),
        save_credentials=save,
        on_auth_lost=lost,
    )
    return BusinessCentralProvider(ctx, sleep=sleeps or Sleeps(real_cap=0.01))


def tenant_of(company: BCCompany, env: str = "production") -> str:
    return f"{env}/{company.id}"


# -- registration and deterministic names ---------------------------------------------------


def test_registered_with_device_code_login_and_lookup_idempotency() -> None:
    spec = registry.get(PROVIDER)
    assert spec is SPEC
    assert spec.login.kind == "device_code"
    assert spec.needs_app_registration
    assert spec.info.capabilities.idempotency == "lookup"
    assert set(spec.info.auth) == {"device_code", "oauth_code", "client_credentials"}
    assert {"api_url", "token_url", "device_url", "authorize_url"} <= set(spec.info.settings)


def test_document_numbers_fit_bc_and_are_distinct_per_reference() -> None:
    assert document_number("bexsync:12:2026-03") == "BX12-202603"
    assert document_number("bexsync:12:2026-03-31") == "BX12-20260331"
    assert document_number("bexsync:12:2026-03-31:c2") == "BX12-20260331C2"
    refs = [
        "bexsync:1:2026-03",
        "bexsync:1:2026-03-01",
        "bexsync:1:2026-03:c1",
        "bexsync:12:2026-03",
        "bexsync:123456789:2026-03-31:c12",  # too long for the short form: hashed
        "something-else",
    ]
    numbers = [document_number(r) for r in refs]
    assert len(set(numbers)) == len(refs)
    assert all(len(n) <= 20 and n == n.upper() for n in numbers)
    assert numbers[4] == document_number(refs[4])  # deterministic
    assert len(batch_code("bexsync-abc")) == 10 and batch_code("k") == batch_code("k")
    assert batch_code("k1") != batch_code("k2")


# -- login ------------------------------------------------------------------------------------


async def test_device_code_login_waits_for_approval_then_stores_the_token(sim: Sim) -> None:
    ctx = sim.login_ctx()
    start = await SPEC.login.begin(ctx)
    step = start.next_step
    assert step["kind"] == "device_code" and step["login"] == "device_code"
    assert step["verification_uri"].startswith(sim.url) and step["user_code"]
    assert 0 < step["expires_in"] <= 900
    err = await expect_error(
        "rejected",
        SPEC.login.complete(ctx, start.pending, redirect_url=None, code=None, credentials=None),
    )
    assert step["user_code"] in err.message and "not approved yet" in err.message
    await approve(sim, step["user_code"])
    sim.clock.advance(6)  # the next poll respects the interval
    result = await SPEC.login.complete(
        ctx, start.pending, redirect_url=None, code=None, credentials=None
    )
    assert result.options == {"login_method": "device_code"}
    assert "access_token" in result.credentials["token"]
    assert "refresh_token" in result.credentials["token"]
    assert sim.state.oauth.request_counts()["urn:ietf:params:oauth:grant-type:device_code"] == 2


async def test_code_flow_login_when_the_config_asks_for_it(sim: Sim, tmp_path: Path) -> None:
    ctx = sim.login_ctx(login="oauth_code")
    start = await SPEC.login.begin(ctx)
    assert start.next_step["kind"] == "open_url" and start.next_step["login"] == "oauth_code"
    assert "code_challenge_method=S256" in start.next_step["url"]
    assert "offline_access" in start.next_step["url"]
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        redirect = (await browser.get(start.next_step["url"])).headers["location"]
    result = await SPEC.login.complete(
        ctx, start.pending, redirect_url=redirect, code=None, credentials=None
    )
    assert result.options == {"login_method": "oauth_code"}
    provider = adapter(sim, tmp_path, Account(result), login="oauth_code")
    assert (await provider.verify()).ok
    await provider.aclose()


async def test_client_credentials_login_renews_without_a_refresh_token(
    sim: Sim, tmp_path: Path
) -> None:
    ctx = sim.login_ctx(login="client_credentials")
    start = await SPEC.login.begin(ctx)
    assert start.next_step["kind"] == "none" and start.pending is None
    result = await SPEC.login.complete(ctx, None, redirect_url=None, code=None, credentials=None)
    assert result.options == {"login_method": "client_credentials"}
    assert '"refresh_token": null' in result.credentials["token"]
    acct = Account(result)
    # The adapter follows the stored login even though the config no longer names it.
    provider = adapter(sim, tmp_path, acct)
    assert provider.login_kind == "client_credentials"
    tenants = await provider.list_tenants()
    sim.clock.advance(3700)  # the app token expired at the server
    assert await provider.list_tenants() == tenants
    assert sim.state.oauth.request_counts()["client_credentials"] == 2
    assert len(acct.saved) == 1 and acct.lost == []
    await provider.aclose()
    # A service principal that may not list environments names them in the config file.
    aad = sim.state.aad_tenant_id
    named = adapter(sim, tmp_path, acct, environments=["sandbox"], entra_tenant=aad)
    cronus = next(iter(sim.state.environments["sandbox"].companies.values()))
    before = len(sim.state.requests)
    assert [t.id for t in await named.list_tenants()] == [tenant_of(cronus, "sandbox")]
    assert set(sim.state.requests[before:]) == {("GET", f"/v2.0/{aad}/sandbox/api/v2.0/companies")}
    await named.aclose()


async def test_the_authorisation_can_choose_its_login_and_a_new_login_follows_the_config(
    sim: Sim,
) -> None:
    settings = sim.settings()  # the config file names no login: device code
    per_auth = LoginContext(
        PROVIDER, settings, REDIRECT, time.time(), options={"login": "client_credentials"}
    )
    start = await SPEC.login.begin(per_auth)
    assert start.next_step["login"] == "client_credentials"
    # An authorisation that once logged in by device code, after the config switched to the
    # code flow: logging in again uses the code flow.
    again = LoginContext(
        PROVIDER,
        sim.settings(login="oauth_code"),
        REDIRECT,
        time.time(),
        options={"login_method": "device_code", "tenant_id": "production/x"},
    )
    assert (await SPEC.login.begin(again)).next_step["kind"] == "open_url"


async def test_client_credentials_needs_a_directory_and_a_secret(sim: Sim) -> None:
    no_directory = ProviderSettings.from_table(
        PROVIDER,
        {
            "client_id": CLIENT_ID,
            "client_secret_file": str(sim.secret_file),
            "login": "client_credentials",
        },
    )
    ctx = LoginContext(PROVIDER, no_directory, REDIRECT, time.time())
    err = await expect_error(
        "rejected", SPEC.login.complete(ctx, None, redirect_url=None, code=None, credentials=None)
    )
    assert "entra_tenant" in err.message
    no_secret = ProviderSettings.from_table(
        PROVIDER, {"client_id": CLIENT_ID, "login": "client_credentials", "entra_tenant": "x.nl"}
    )
    ctx = LoginContext(PROVIDER, no_secret, REDIRECT, time.time())
    err = await expect_error(
        "rejected", SPEC.login.complete(ctx, None, redirect_url=None, code=None, credentials=None)
    )
    assert "client_secret_file" in err.message
    ctx = LoginContext(PROVIDER, sim.settings(login="password"), REDIRECT, time.time())
    err = await expect_error("rejected", SPEC.login.begin(ctx))
    assert "device_code, oauth_code, client_credentials" in err.message


# -- verify and options -----------------------------------------------------------------------


async def test_verify_lists_companies_of_every_environment(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    provider = adapter(sim, tmp_path, account)
    result = await provider.verify()
    assert result.ok and "3 companies in 2 environments" in result.message
    cronus = next(iter(sim.state.environments["sandbox"].companies.values()))
    assert {t.id for t in result.tenants} == {
        *(tenant_of(c) for c in sim.production),
        tenant_of(cronus, "sandbox"),
    }
    assert "CRONUS NL (sandbox)" in {t.name for t in result.tenants}
    sim.state.environments["sandbox"].denied = True  # no licence there: skipped
    assert {t.id for t in await provider.list_tenants()} == {tenant_of(c) for c in sim.production}
    sim.state.environments["production"].denied = True  # nowhere: the refusal is the answer
    await expect_error("auth_expired", provider.verify())
    # company calls use the documented /v2.0/{aad tenant}/{environment}/api/v2.0 form
    assert any(
        f"/v2.0/{sim.state.aad_tenant_id}/sandbox/api/v2.0/companies" == path
        for _, path in sim.state.requests
    )
    await provider.aclose()


async def test_run_batches_are_not_offered_as_ledgers(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    company = sim.production[0]
    company.add_journal("BX0A1B2C3D", "left over by a crashed run")
    provider = adapter(sim, tmp_path, account)
    ledgers = await provider.list_ledgers(tenant_of(company))
    assert [(lg.code, lg.name) for lg in ledgers] == [
        ("GENERAL", "General journal"),
        ("BEX", "Booking Experts postings"),
    ]
    await provider.aclose()


# -- posting ----------------------------------------------------------------------------------


async def test_post_writes_signed_exact_amounts_and_is_found_by_reference(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    company = sim.production[0]
    provider = adapter(sim, tmp_path, account)
    tenant = tenant_of(company)
    posted = await provider.post_entry(entry(tenant), "bexsync-key-1")
    assert posted.external_id == "BX7-202603" and posted.reference == "bexsync:7:2026-03"
    rows = company.entries_for("BX7-202603")
    assert [(r["accountNumber"], r["debitAmount"], r["creditAmount"]) for r in rows] == [
        ("1300", Decimal("1090.01"), Decimal("0.00")),
        ("8000", Decimal("0.00"), Decimal("1000.00")),
        ("1800", Decimal("0.00"), Decimal("90.01")),
    ]
    assert {r["externalDocumentNumber"] for r in rows} == {"bexsync:7:2026-03"}
    assert [r["taxCode"] for r in rows] == ["NONE", "L", "NONE"]
    assert all(r["postingDate"] == "2026-03-31" for r in rows)
    # the run's batch was its own and is gone; the chosen journal was never written to
    assert {j["code"] for j in company.journals.values()} == {"GENERAL", "BEX"}
    assert rows[0]["journalBatchName"] == batch_code("bexsync-key-1")
    found = await provider.find_entry("bexsync:7:2026-03", tenant, "BEX")
    assert found == posted
    assert await provider.find_entry("bexsync:7:2026-03:c1", tenant, "BEX") is None
    assert (
        await provider.find_entry("bexsync:7:2026-03", tenant_of(sim.production[1]), None) is None
    )
    await provider.aclose()


async def test_lines_left_by_a_crashed_attempt_are_replaced_not_posted(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    company = sim.production[0]
    stale = company.add_journal(batch_code("bexsync-key-9"), "crashed attempt")
    company.lines[stale["id"]].append(
        {
            "id": "stale-line",
            "lineNumber": 10000,
            "accountNumber": "1000",
            "amount": Decimal("5"),
            "documentNumber": "BX7-202603",
            "postingDate": "2026-03-31",
        }
    )
    provider = adapter(sim, tmp_path, account)
    await provider.post_entry(entry(tenant_of(company)), "bexsync-key-9")
    rows = company.entries_for("BX7-202603")
    assert [r["accountNumber"] for r in rows] == ["1300", "8000", "1800"]
    assert stale["id"] not in company.journals
    await provider.aclose()


async def test_bcs_own_account_refusal_has_a_field_error_and_leaves_nothing(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    """An account blocked between the adapter's chart check and the line: BC's own 400."""
    company = sim.production[0]
    provider = adapter(sim, tmp_path, account)

    def block_8000() -> None:
        company.accounts["8000"]["blocked"] = True

    sim.faults.add(Fault.hook(block_8000, path="/journalLines", nth=(2,)))  # the 2nd line
    err = await expect_error("rejected", provider.post_entry(entry(tenant_of(company)), "k"))
    assert "8000" in err.message and "G/L Account" in err.message
    assert "CorrelationId" not in err.message
    assert err.field_errors[0].field == "accountNumber"
    assert {j["code"] for j in company.journals.values()} == {"GENERAL", "BEX"}
    usd = dataclasses.replace(entry(tenant_of(company)), currency="USD")
    err = await expect_error("rejected", provider.post_entry(usd, "k"))
    assert err.field_errors[0].field == "currency" and "EUR" in err.message
    assert company.gl_entries == [] and company.post_calls == 0
    await provider.aclose()


async def test_bc_refusing_the_posting_date_maps_to_period_locked(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    company = sim.production[0]
    company.user_allow_posting_from = date(2026, 4, 1)  # User Setup: invisible to the API
    provider = adapter(sim, tmp_path, account)
    err = await expect_error("period_locked", provider.post_entry(entry(tenant_of(company)), "k"))
    assert "allowed posting dates" in err.message
    assert company.gl_entries == []
    assert {j["code"] for j in company.journals.values()} == {"GENERAL", "BEX"}
    await provider.aclose()


# -- transport errors and the token -----------------------------------------------------------


async def test_401_after_a_refresh_maps_to_auth_expired(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    provider = adapter(sim, tmp_path, account)
    sim.faults.add(Fault.error(401, path="/v2.0/", fraction=1.0))
    err = await expect_error("auth_expired", provider.list_ledgers(tenant_of(sim.production[0])))
    assert "401" in err.message
    token = json.loads(account.result.credentials["token"])
    for secret in (token["access_token"], token["refresh_token"], SECRET):
        assert secret not in err.message and secret not in str(err)
    assert sim.state.oauth.request_counts()["refresh_token"] == 1  # one refresh, one replay
    await provider.aclose()


async def test_bcs_408_is_unavailable_and_the_post_is_not_repeated(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    company = sim.production[0]
    provider = adapter(sim, tmp_path, account)
    tenant = tenant_of(company)
    sim.faults.add(Fault.error(408, path="/Microsoft.NAV.post", nth=(1,)))
    err = await expect_error("unavailable", provider.post_entry(entry(tenant), "k"))
    assert "408" in err.message and "looks the entry up" in err.message
    assert company.post_calls == 0  # the fault answered; the post was never repeated
    # the next attempt (the engine looks up first) posts through the same run batch
    assert await provider.find_entry("bexsync:7:2026-03", tenant, "BEX") is None
    posted = await provider.post_entry(entry(tenant), "k")
    assert posted.external_id == "BX7-202603" and company.post_calls == 1
    await provider.aclose()


# -- demo -------------------------------------------------------------------------------------


async def test_demo_setup_logs_in_with_a_device_code_and_no_browser(tmp_path: Path) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.provider_id == PROVIDER and demo.complete == {}
        settings = ProviderSettings.from_table(PROVIDER, demo.settings)
        assert settings.client_secret()  # the secret file exists and is read
        ctx = LoginContext(PROVIDER, settings, REDIRECT, time.time())
        start = await SPEC.login.begin(ctx)
        assert start.next_step["kind"] == "device_code"
        result = await SPEC.login.complete(
            ctx, start.pending, redirect_url=None, code=None, credentials=None
        )
        provider = BusinessCentralProvider(
            ProviderContext(
                PROVIDER,
                next(_auth_ids),
                settings,
                tmp_path,
                options=result.options,
                credentials=result.credentials,
            )
        )
        verified = await provider.verify()
        assert len(verified.tenants) == 1  # activation needs no tenant choice
        tenant = verified.tenants[0].id
        assert "BEX" in {lg.code for lg in await provider.list_ledgers(tenant)}
        posted = await provider.post_entry(entry(tenant), "demo-key")
        assert await provider.find_entry(posted.reference, tenant, "BEX") == posted
        await provider.aclose()
    finally:
        await demo.aclose()
