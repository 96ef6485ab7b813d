"""Contract tests: the Minox adapter and its OAuth login against the simulator, over real HTTP on
127.0.0.1."""

from __future__ import annotations

import itertools
import json
import time
import uuid
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
from providers.context import ProviderContext
from providers.login import LoginContext, LoginResult
from providers.minox import RATE_LIMIT, MinoxProvider, batch_uuid, period_of
from providers.ratelimit import RateLimitSpec
from providers.settings import ProviderSettings
from providers.simulators.base import serve
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.minox import (
    MinoxAdministration,
    MinoxSimState,
    SimClock,
    create_app,
    demo_setup,
    error_body,
    settings_for,
)
from tests.providers.harness import Sleeps, journal_entry, standard_lines
from tests.providers.harness import expect_error as expect_provider_error

SPEC = registry.get("minox")
assert SPEC is not None

PROVIDER = "minox"
CLIENT_ID = "minox-app"
SECRET = "minox-client-secret-0123456789"
REDIRECT = "http://127.0.0.1:53682/callback"
TENANT = "100200/1"
GENEROUS = RateLimitSpec(calls=1000, per_seconds=1, remaining_header="x-rate-limit-remaining")
_auth_ids = itertools.count(1)


def entry(reference: str = "bexsync:7:2026-03", **kw: Any) -> JournalEntry:
    kw.setdefault("tenant", TENANT)
    kw.setdefault("lines", standard_lines("1090.01"))
    return journal_entry(reference, **kw)


expect_error = partial(expect_provider_error, PROVIDER)


@dataclass
class Sim:
    url: str
    state: MinoxSimState
    faults: FaultPlan
    clock: SimClock
    secret_file: Path

    def settings(self) -> ProviderSettings:
        table = settings_for(self.url, CLIENT_ID, str(self.secret_file))
        return ProviderSettings.from_table(PROVIDER, table)

    @property
    def admin(self) -> MinoxAdministration:
        return self.state.administration(100200, 1)


@dataclass
class Account:
    result: LoginResult
    saved: list[dict[str, Any]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    clock = SimClock()
    plan = FaultPlan(error_body=error_body)
    app = create_app(CLIENT_ID, SECRET, clock=clock, faults=plan, calls_per_window=1000)
    secret_file = tmp_path / "minox-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    async with serve(app) as url:
        yield Sim(url, app.state.minox, plan, clock, secret_file)


async def login(sim: Sim) -> LoginResult:
    ctx = LoginContext(PROVIDER, sim.settings(), REDIRECT, time.time())
    start = await SPEC.login.begin(ctx)
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        redirect = (await browser.get(start.next_step["url"])).headers["location"]
    return await SPEC.login.complete(
        ctx, start.pending, redirect_url=redirect, code=None, credentials=None
    )


@pytest.fixture
async def account(sim: Sim) -> Account:
    return Account(await login(sim))


def adapter(
    sim: Sim,
    tmp_path: Path,
    account: Account,
    sleeps: Sleeps | None = None,
    rate_limit: RateLimitSpec = GENEROUS,
    **options: Any,
) -> MinoxProvider:
    async def save(creds: dict[str, Any]) -> None:
        account.saved.append(creds)

    async def lost(message: str) -> None:
        account.lost.append(message)

    ctx = ProviderContext(
        provider_id=PROVIDER,
        authorisation_id=next(_auth_ids),
        settings=sim.settings(),
        state_dir=tmp_path,
        options={**account.result.options, **options},
        credentials=dict(account.result.credentials),
        save_credentials=save,
        on_auth_lost=lost,
    )
    return MinoxProvider(ctx, sleep=sleeps or Sleeps(real_cap=0.01), rate_limit=rate_limit)


# -- registration, login ----------------------------------------------------------------------


def test_registered_with_code_login_and_key_idempotency() -> None:
    spec = registry.get(PROVIDER)
    assert spec is SPEC
    assert spec.login.kind == "oauth_code" and spec.needs_app_registration
    assert spec.info.capabilities.idempotency == "key"
    assert set(spec.info.settings) == {"api_url", "authorize_url", "token_url"}
    assert batch_uuid("k") == batch_uuid("k") != batch_uuid("k2")
    assert batch_uuid("k").version == 5
    assert period_of(date(2026, 3, 31), {"number_of_periods": 12}) == {"id": 3, "fiscal_year": 2026}
    assert period_of(date(2026, 8, 1), {"number_of_periods": 4}) == {"id": 3, "fiscal_year": 2026}


async def test_code_login_asks_the_needed_scopes_and_stores_the_token(sim: Sim) -> None:
    ctx = LoginContext(PROVIDER, sim.settings(), REDIRECT, time.time())
    start = await SPEC.login.begin(ctx)
    url = start.next_step["url"]
    assert start.next_step["kind"] == "open_url" and url.startswith(sim.url + "/oauth/authorize")
    assert "transaction%3Awrite" in url and "administration%3Aread" in url
    result = await login(sim)
    assert "access_token" in result.credentials["token"]
    assert "refresh_token" in result.credentials["token"]
    no_secret = ProviderSettings.from_table(PROVIDER, {"client_id": CLIENT_ID})
    err = await expect_error(
        "rejected", SPEC.login.begin(LoginContext(PROVIDER, no_secret, REDIRECT, time.time()))
    )
    assert "client_secret_file" in err.message


# -- verify and options -----------------------------------------------------------------------


async def test_a_wrong_app_secret_is_a_configuration_error(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    sim.state.client_secret = "rotated-at-minox-0000"
    provider = adapter(sim, tmp_path, account)
    err = await expect_error("rejected", provider.verify())
    assert "client_secret_file" in err.message and SECRET not in err.message
    await provider.aclose()


async def test_verify_lists_administrations_of_every_linked_tenant(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    provider = adapter(sim, tmp_path, account)
    result = await provider.verify()
    assert result.ok and "3 administrations" in result.message
    assert [(t.id, t.name) for t in result.tenants] == [
        ("100200/1", "Demo Holiday Parks BV (Demo Holiday Parks Groep)"),
        ("100200/2", "Demo Camping BV (Demo Holiday Parks Groep)"),
        ("100300/7", "Strandpark De Duinen BV (Strandpark De Duinen)"),
    ]
    # the token went in a body with the app's basic auth, never into a URL
    assert ("POST", "/api/1/inspect") in sim.state.requests
    assert not any("sim-at-" in path for _, path in sim.state.requests)
    sim.state.user_tenants["demo"] = [100300]
    assert [t.id for t in await provider.list_tenants()] == ["100300/7"]
    await expect_error("auth_expired", provider.list_ledgers("100200/1"))  # 403: not linked
    await provider.aclose()


# -- posting ----------------------------------------------------------------------------------


async def test_post_puts_the_key_batch_and_reads_it_back(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    provider = adapter(sim, tmp_path, account)
    posted = await provider.post_entry(entry(), "bexsync-key-1")
    batch = str(batch_uuid("bexsync-key-1"))
    assert posted.external_id == batch and posted.reference == "bexsync:7:2026-03"
    stored = sim.admin.batches[batch]
    assert [(s["account"]["id"], s["debit"], s["credit"]) for s in stored] == [
        ("1300", Decimal("1090.01"), Decimal("0")),
        ("8000", Decimal("0"), Decimal("1000.00")),
        ("1800", Decimal("0"), Decimal("90.01")),
    ]
    assert {s["journal"]["id"] for s in stored} == {"BEX"}
    assert {(s["period"]["id"], s["period"]["fiscal_year"]) for s in stored} == {(3, 2026)}
    assert all(s["description"].endswith("(bexsync:7:2026-03)") for s in stored)
    assert "[VAT L]" in stored[1]["description"]
    path = f"/api/1/tenant/100200/administration/1/transaction_line_batch/{batch}"
    assert sim.state.requests[-2:] == [("PUT", path), ("GET", path)]
    assert await provider.find_entry("bexsync:7:2026-03", TENANT, "BEX") == posted
    assert await provider.find_entry("bexsync:7:2026-03-31", TENANT, "BEX") is None
    assert await provider.find_entry("bexsync:7:2026-03:c1", TENANT, None) is None
    assert await provider.find_entry("bexsync:7:2026-03", TENANT, "MEM") is None
    assert await provider.find_entry("bexsync:7:2026-03", "100200/2", None) is None
    await provider.aclose()


async def test_a_batch_that_reads_back_different_is_not_confirmed(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    provider = adapter(sim, tmp_path, account)

    def drop_a_line(doc: Any) -> Any:
        return doc[:-1] if isinstance(doc, list) else doc

    sim.faults.add(Fault.malformed(drop_a_line, path="/transaction_line_batch/", nth=(2,)))
    err = await expect_error("unavailable", provider.post_entry(entry(), "k"))
    assert "reads back 2 lines" in err.message and err.retryable
    await provider.aclose()


async def test_minox_refusals_map_to_rejected_with_field_errors(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    """An account blocked between the adapter's chart check and the PUT: Minox's 422."""
    provider = adapter(sim, tmp_path, account)

    def block_8000() -> None:
        sim.admin.accounts["8000"]["blocked"]["active"] = True

    sim.faults.add(Fault.hook(block_8000, path="/transaction_line_batch/", nth=(1,)))
    err = await expect_error("rejected", provider.post_entry(entry(), "k"))
    assert err.status == 422 and "8000" in err.message
    assert [f.field for f in err.field_errors] == ["1.account.id"]
    assert sim.admin.batches == {}
    await provider.aclose()


# -- transport errors and the token -----------------------------------------------------------


async def test_401_after_a_refresh_maps_to_auth_expired(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    provider = adapter(sim, tmp_path, account, tenant_id=TENANT)
    sim.faults.add(Fault.error(401, path="/tenant/", fraction=1.0))
    err = await expect_error("auth_expired", provider.list_accounts(None))
    assert "401" in err.message
    token = json.loads(account.result.credentials["token"])
    for secret in (token["access_token"], token["refresh_token"], SECRET):
        assert secret not in err.message and secret not in str(err)
    assert sim.state.oauth.request_counts()["refresh_token"] == 1
    sim.state.oauth.revoke_all()
    fresh = adapter(sim, tmp_path, account, tenant_id=TENANT)
    err = await expect_error("auth_expired", fresh.list_ledgers(None))
    assert "log in again" in err.message and len(account.lost) == 1
    await provider.aclose()
    await fresh.aclose()


async def test_the_limiter_believes_minox_remaining_header(
    sim: Sim, tmp_path: Path, account: Account
) -> None:
    sim.state.calls_per_window = 3
    provider = adapter(sim, tmp_path, account, rate_limit=RATE_LIMIT, tenant_id=TENANT)
    assert provider.http.limiter is not None
    await provider.list_ledgers(None)
    await provider.list_accounts(None)
    assert provider.http.limiter.remaining() == 1  # the server's count, not our 18
    await provider.find_entry("bexsync:7:2026-03", None, None)
    assert provider.http.limiter.remaining() == 0
    await provider.aclose()


# -- demo -------------------------------------------------------------------------------------


async def test_demo_setup_logs_in_through_the_simulated_browser(tmp_path: Path) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.provider_id == PROVIDER and demo.complete is None
        assert demo.browser_login is not None
        settings = ProviderSettings.from_table(PROVIDER, demo.settings)
        ctx = LoginContext(PROVIDER, settings, REDIRECT, time.time())
        start = await SPEC.login.begin(ctx)
        redirect = await demo.browser_login(start.next_step["url"])
        result = await SPEC.login.complete(
            ctx, start.pending, redirect_url=redirect, code=None, credentials=None
        )
        provider = MinoxProvider(
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
        assert [t.id for t in verified.tenants] == ["100200/1"]  # no tenant choice needed
        tenant = verified.tenants[0].id
        posted = await provider.post_entry(entry(tenant=tenant), "demo-key")
        assert uuid.UUID(posted.external_id) == batch_uuid("demo-key")
        assert await provider.find_entry(posted.reference, tenant, "BEX") == posted
        await provider.aclose()
    finally:
        await demo.aclose()
