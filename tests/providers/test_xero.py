"""Contract tests: the Xero adapter against the Xero simulator over real HTTP on 127.0.0.1.

Every request the adapter sends goes through ``SpecValidatingTransport``: accounting calls are
checked against Xero's official ``xero_accounting.yaml``, ``/Connections`` against
``xero-identity.yaml``; a request off the spec fails the test. Time is fake where it matters
(the sleeps between retries advance the simulator's clock instead of waiting).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from openapi_core import OpenAPI

from providers import registry
from providers.base import EntryLine, JournalEntry
from providers.context import ProviderContext
from providers.errors import ProviderError
from providers.login import LoginContext, LoginResult
from providers.ratelimit import LimiterRegistry
from providers.settings import ProviderSettings
from providers.simulators.base import SimulatorServer
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.xero import (
    API_PREFIX,
    XeroSimState,
    browser_login,
    create_xero_app,
    demo_setup,
    ms_date,
    settings_for,
    xero_error_body,
)
from providers.tokens import Token
from providers.xero import (
    XeroProvider,
    app_for,
    dumps_decimal,
    parse_xero_date,
    parse_xero_datetime,
)
from tests.providers.conftest import SpecRoute, SpecValidatingTransport, SpecViolation

SPEC = registry.get("xero")
assert SPEC is not None

CLIENT_ID = "bexsync-test-app"
CLIENT_SECRET = "xero-test-secret-5f1e2d"
REDIRECT = "http://127.0.0.1:53682/callback"
REF = "bexsync:7:2026-04"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Env:
    url: str
    state: XeroSimState
    faults: FaultPlan
    transport: SpecValidatingTransport
    tmp: Path
    table: dict[str, Any]
    sleeps: list[float] = field(default_factory=list)
    saved: list[dict[str, Any]] = field(default_factory=list)
    providers: list[XeroProvider] = field(default_factory=list)

    @property
    def settings(self) -> ProviderSettings:
        return ProviderSettings.from_table("xero", self.table)

    async def sleep(self, seconds: float) -> None:
        """Fake time: a retry's wait moves the simulator's clock instead of blocking."""
        self.sleeps.append(seconds)
        self.state.clock.advance(seconds)
        await asyncio.sleep(0)

    def login_context(self) -> LoginContext:
        return LoginContext("xero", self.settings, REDIRECT, time.time(), transport=self.transport)

    async def login(self) -> LoginResult:
        start = await SPEC.login.begin(self.login_context())
        redirect = await browser_login(start.next_step["url"])
        return await SPEC.login.complete(
            self.login_context(),
            start.pending,
            redirect_url=redirect,
            code=None,
            credentials=None,
        )

    async def provider(self, options: dict[str, Any] | None = None) -> XeroProvider:
        result = await self.login()
        ctx = ProviderContext(
            provider_id="xero",
            authorisation_id=1,
            settings=self.settings,
            state_dir=self.tmp,
            options=dict(options or {}),
            credentials=dict(result.credentials),
            transport=self.transport,
            save_credentials=self._save,
            limiters=LimiterRegistry(clock=self.state.clock, sleep=self.sleep),
        )
        provider = XeroProvider(ctx, sleep=self.sleep)
        self.providers.append(provider)
        return provider

    async def _save(self, credentials: dict[str, Any]) -> None:
        self.saved.append(dict(credentials))


def _no_delay(server: SimulatorServer) -> None:
    """Answer without Nagle's delay: uvicorn writes headers and body separately, and on a
    kept-alive connection the body then waits ~40 ms for a delayed ACK. Accepted sockets
    inherit TCP_NODELAY from the listening one. (Belongs in SimulatorServer itself.)"""
    sock = getattr(server, "_sock", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Switch:
    """One HTTP server for the module, a fresh simulator per test: the ASGI app it serves."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[tuple[str, _Switch]]:
    switch = _Switch()
    sim = SimulatorServer(switch, name="xero")
    url = await sim.start()
    _no_delay(sim)
    try:
        yield url, switch
    finally:
        await sim.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def env(
    server: tuple[str, _Switch], tmp_path: Path, openapi_spec: Callable[[str], OpenAPI]
) -> AsyncIterator[Env]:
    url, switch = server
    state = XeroSimState(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    state.add_org("Camping De Duinen BV")
    faults = FaultPlan(error_body=xero_error_body)
    switch.app = create_xero_app(state, faults=faults)
    secret_file = tmp_path / "xero-secret"
    secret_file.write_text(CLIENT_SECRET)
    transport = SpecValidatingTransport(
        routes=[
            SpecRoute(API_PREFIX, openapi_spec("xero_accounting.yaml")),
            SpecRoute("/Connections", openapi_spec("xero-identity.yaml")),
        ],
        passthrough=["/identity/connect/"],
    )
    env = Env(
        url, state, faults, transport, tmp_path, settings_for(url, CLIENT_ID, str(secret_file))
    )
    try:
        yield env
    finally:
        for provider in env.providers:
            await provider.aclose()
        await transport.aclose()
    assert transport.violations == [], "requests off Xero's spec were sent"


def entry(
    *,
    reference: str = REF,
    day: date = date(2026, 4, 30),
    lines: tuple[EntryLine, ...] | None = None,
    currency: str = "EUR",
    tenant_id: str | None = None,
) -> JournalEntry:
    if lines is None:
        lines = (
            EntryLine("1300", "Guest debtors", Decimal("1234.56"), Decimal("0.00"), "NONE"),
            EntryLine("8000", "Rent turnover", Decimal("0.00"), Decimal("1132.62"), "L"),
            EntryLine("1800", "VAT payable low", Decimal("0.00"), Decimal("101.93"), "NONE"),
            EntryLine("8200", "Tourist tax", Decimal("0.00"), Decimal("0.01")),
        )
    return JournalEntry(
        reference=reference,
        date=day,
        narration=f"BEX PMS Camping De Duinen 2026-04 ({reference})",
        currency=currency,
        ledger_id="manual-journals",
        lines=lines,
        tenant_id=tenant_id,
    )


# --- login, tenants, options ----------------------------------------------------------------


async def test_registered_as_an_oauth_code_provider_needing_an_app() -> None:
    spec = registry.get("xero")
    assert spec is SPEC
    assert spec.needs_app_registration
    assert spec.login.kind == "oauth_code"
    assert spec.info.capabilities.idempotency == "key"
    with pytest.raises(ProviderError) as err:
        app_for(ProviderSettings("xero"), REDIRECT)
    assert "client_id" in err.value.message


async def test_login_is_code_with_pkce_and_asks_for_granular_scopes(env: Env) -> None:
    """Xero apps created on or after 2 March 2026 may not ask for accounting.transactions:
    the default scopes are the granular ones, so a new user's first login works."""
    env.state.oauth.clients[CLIENT_ID].refused_scopes = ("accounting.transactions",)
    start = await SPEC.login.begin(env.login_context())
    assert start.next_step["kind"] == "open_url"
    query = parse_qs(urlsplit(start.next_step["url"]).query)
    assert start.next_step["url"].startswith(env.url + "/identity/connect/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["scope"][0].split() == [
        "accounting.manualjournals",
        "accounting.settings.read",
        "offline_access",
    ]
    assert CLIENT_SECRET not in str(start.next_step)

    result = await env.login()
    token = Token.from_json(result.credentials["token"])
    assert token.refresh_token and token.access_token
    assert env.state.oauth.requests_for("authorization_code")[-1].status == 200


@pytest.mark.parametrize("error", ["invalid_scope", "unauthorized_client"])
async def test_the_legacy_scopes_on_request_and_a_refused_scope_is_named(
    env: Env, error: str
) -> None:
    env.table["scopes"] = "legacy"
    start = await SPEC.login.begin(env.login_context())
    scopes = parse_qs(urlsplit(start.next_step["url"]).query)["scope"][0].split()
    assert scopes == ["accounting.settings.read", "accounting.transactions", "offline_access"]
    client = env.state.oauth.clients[CLIENT_ID]
    client.refused_scopes, client.scope_error = ("accounting.transactions",), error
    with pytest.raises(ProviderError) as err:
        await env.login()
    assert err.value.kind == "rejected"
    assert "accounting.transactions" in err.value.message
    assert "scopes" in err.value.message and "[providers.xero]" in err.value.message


async def test_explicit_scopes_can_be_configured(env: Env) -> None:
    env.table["scopes"] = ["offline_access", "accounting.manualjournals", "accounting.settings"]
    start = await SPEC.login.begin(env.login_context())
    scope = parse_qs(urlsplit(start.next_step["url"]).query)["scope"][0]
    assert scope == "offline_access accounting.manualjournals accounting.settings"


async def test_a_confidential_app_authenticates_with_http_basic(env: Env) -> None:
    """Xero documents client_secret_basic for the code exchange and the refresh; the
    simulator refuses the secret in the body for an app that has one."""
    xero = await env.provider()
    await xero.list_accounts(None)
    env.state.clock.advance(1900)  # the access token expired: a refresh
    await xero.organisation(None)
    methods = {(r.grant_type, r.auth_method) for r in env.state.oauth.token_requests}
    assert methods == {
        ("authorization_code", "client_secret_basic"),
        ("refresh_token", "client_secret_basic"),
    }


async def test_several_organisations_need_a_choice(env: Env) -> None:
    second = env.state.add_org("Park Zeezicht BV")
    xero = await env.provider()
    assert {t.name for t in await xero.list_tenants()} == {"Camping De Duinen BV", second.name}
    with pytest.raises(ProviderError) as err:
        await xero.list_accounts(None)
    assert err.value.kind == "rejected"
    assert [f.field for f in err.value.field_errors] == ["tenant_id"]
    # the organisation chosen per configuration is sent as xero-tenant-id
    await xero.list_accounts(second.tenant_id)
    assert env.state.requests_to("/Accounts")[-1].tenant == second.tenant_id


async def test_verify_fails_when_the_chosen_organisation_was_disconnected(env: Env) -> None:
    org = env.state.org()
    env.state.add_org("Park Zeezicht BV")
    xero = await env.provider({"tenant_id": org.tenant_id})
    assert (await xero.verify()).ok
    org.connected = False
    result = await xero.verify()
    assert not result.ok
    assert "no longer connected" in result.message
    assert [t.name for t in result.tenants] == ["Park Zeezicht BV"]


async def test_verify_fails_when_no_organisation_is_connected(env: Env) -> None:
    xero = await env.provider()
    env.state.org().connected = False
    result = await xero.verify()
    assert not result.ok
    assert "no Xero organisation is connected" in result.message


# --- posting and finding ---------------------------------------------------------------------


async def test_post_creates_a_balanced_signed_manual_journal(env: Env) -> None:
    xero = await env.provider()
    posted = await xero.post_entry(entry(), "idem-001")
    [journal] = env.state.org().journals
    assert posted.external_id == journal["ManualJournalID"]
    assert posted.reference == REF
    assert journal["Narration"].endswith(f"({REF})")
    assert journal["Status"] == "POSTED" and journal["LineAmountTypes"] == "NoTax"
    assert journal["Date"] == date(2026, 4, 30)
    amounts = [
        (ln["AccountCode"], ln["LineAmount"], ln["TaxType"]) for ln in journal["JournalLines"]
    ]
    assert amounts == [
        ("1300", Decimal("1234.56"), "NONE"),  # debit positive
        ("8000", Decimal("-1132.62"), "L"),  # credits negative
        ("1800", Decimal("-101.93"), "NONE"),
        ("8200", Decimal("-0.01"), "NONE"),
    ]
    assert sum(ln["LineAmount"] for ln in journal["JournalLines"]) == 0
    [put] = env.state.requests_to("/ManualJournals", "PUT")
    assert put.idempotency_key == "idem-001"
    assert put.tenant == env.state.org().tenant_id


async def test_find_entry_pages_past_similar_narrations_and_skips_voided(env: Env) -> None:
    org = env.state.org()
    xero = await env.provider()
    template = dict(
        Date=date(2026, 4, 30),
        Status="POSTED",
        LineAmountTypes="NoTax",
        ShowOnCashBasisReports=True,
        HasAttachments=False,
        UpdatedDateUTC=datetime.now(UTC),
        JournalLines=[],
    )
    for n in range(130):  # corrections contain the reference but do not end with it
        org.journals.append(
            {
                **template,
                "ManualJournalID": f"00000000-0000-0000-0000-{n:012d}",
                "Narration": f"Correction ({REF}:c{n})",
            }
        )
    posted = await xero.post_entry(entry(), "idem-page")
    found = await xero.find_entry(REF, None, None)
    assert found is not None and found.external_id == posted.external_id
    pages = [parse_qs(r.query)["page"] for r in env.state.requests_to("/ManualJournals", "GET")]
    assert pages == [["1"], ["2"]]

    org.journals[-1]["Status"] = "VOIDED"  # voided in Xero: no longer posted
    assert await xero.find_entry(REF, None, None) is None


async def test_find_entry_reads_pages_when_xero_refuses_the_filter(env: Env) -> None:
    env.state.journal_where_methods = False
    xero = await env.provider()
    posted = await xero.post_entry(entry(), "idem-nofilter")
    await xero.post_entry(entry(reference=f"{REF}:c1", day=date(2026, 5, 2)), "idem-nofilter-c")
    found = await xero.find_entry(REF, None, None)
    assert found is not None and found.external_id == posted.external_id
    gets = env.state.requests_to("/ManualJournals", "GET")
    assert "where" in parse_qs(gets[0].query) and "where" not in parse_qs(gets[-1].query)


async def test_long_idempotency_keys_are_shortened_to_xero_limit(env: Env) -> None:
    xero = await env.provider()
    await xero.post_entry(entry(), "k" * 200)
    [put] = env.state.requests_to("/ManualJournals", "PUT")
    assert put.idempotency_key is not None and len(put.idempotency_key) <= 128


# --- errors mapped to the taxonomy ----------------------------------------------------------


async def test_xeros_refusal_of_a_tax_type_is_pointed_at_its_line(env: Env) -> None:
    xero = await env.provider()
    lines = (
        EntryLine("1300", "Debtors", Decimal("10.00"), Decimal("0")),
        EntryLine("8000", "Rent", Decimal("0"), Decimal("10.00"), "X9"),
    )
    with pytest.raises(ProviderError) as err:
        await xero.post_entry(entry(lines=lines), "idem-bad")
    assert err.value.kind == "rejected"
    fields = {f.field: f.message for f in err.value.field_errors}
    assert "X9" in fields["lines[1].vat_code"]  # Xero's own refusal, pointed at the line
    assert env.state.org().journals == []


async def test_server_side_balance_error_is_rejected_in_xero_words(env: Env) -> None:
    """Xero's own message comes through when an entry slips past the local checks."""
    xero = await env.provider()
    body = xero.journal_body(entry())
    body["ManualJournals"][0]["JournalLines"][0]["LineAmount"] = Decimal("1000.00")
    xero.journal_body = lambda _entry: body  # type: ignore[method-assign]
    with pytest.raises(ProviderError) as err:
        await xero.post_entry(entry(), "idem-xbal")
    assert err.value.kind == "rejected" and err.value.status == 400
    assert "must equal total credits" in err.value.message
    assert [f.field for f in err.value.field_errors] == ["lines"]


async def test_lock_date_set_meanwhile_is_period_locked_from_xero_answer(env: Env) -> None:
    """Organisation read before the lock date was set (simulated by hiding it): Xero refuses."""
    env.state.org().end_of_year_lock_date = date(2026, 12, 31)

    def hide_lock(doc: dict[str, Any]) -> dict[str, Any]:
        doc["Organisations"][0].pop("EndOfYearLockDate", None)
        return doc

    env.faults.add(Fault.malformed(mutate=hide_lock, path="/Organisation", nth=[1]))
    xero = await env.provider()
    with pytest.raises(ProviderError) as err:
        await xero.post_entry(entry(), "idem-lock2")
    assert err.value.kind == "period_locked"
    assert "end of year lock date" in err.value.message
    assert env.state.org().journals == []


async def test_lock_dates_come_from_organisation_in_ms_date_form(env: Env) -> None:
    org = env.state.org()
    org.period_lock_date = date(2026, 3, 31)
    org.end_of_year_lock_date = date(2025, 12, 31)
    xero = await env.provider()
    details = await xero.organisation(None)
    assert details["PeriodLockDate"] == ms_date(date(2026, 3, 31))
    assert XeroProvider.lock_date(details) == date(2026, 3, 31)


async def test_foreign_currency_entry_is_rejected(env: Env) -> None:
    xero = await env.provider()
    with pytest.raises(ProviderError) as err:
        await xero.post_entry(entry(currency="GBP"), "idem-gbp")
    assert err.value.kind == "rejected"
    assert [f.field for f in err.value.field_errors] == ["currency"]


async def test_missing_write_scope_is_auth_expired_with_xero_detail(env: Env) -> None:
    env.table["scopes"] = "offline_access accounting.settings.read"
    xero = await env.provider()
    await xero.list_accounts(None)  # reading works
    with pytest.raises(ProviderError) as err:
        await xero.post_entry(entry(), "idem-scope")
    assert err.value.kind == "auth_expired" and err.value.status == 401
    assert "AuthorizationUnsuccessful" in err.value.message


async def test_disconnected_organisation_is_auth_expired(env: Env) -> None:
    org = env.state.org()
    xero = await env.provider({"tenant_id": org.tenant_id})
    org.connected = False
    with pytest.raises(ProviderError) as err:
        await xero.list_tax_codes(None)
    assert err.value.kind == "auth_expired" and err.value.status == 403
    assert "disconnected" in err.value.message


async def test_client_keeps_to_60_calls_a_minute_without_a_429(env: Env) -> None:
    xero = await env.provider({"tenant_id": env.state.org().tenant_id})
    for _ in range(61):
        await xero.organisation(None)  # read each time (reference lists are cached)
    # The 61st call waited for the window instead of being refused. (The server stamps calls
    # on arrival, a moment after the client did, so at the window's edge one may still get a
    # 429 and be retried once.)
    refused = len(env.state.requests_to("/Organisation")) - 61
    assert refused in (0, 1)
    assert 55 < env.sleeps[0] <= 60
    assert len(env.sleeps) == 1 + refused


async def test_at_most_five_calls_at_once(env: Env) -> None:
    env.state.latency = 0.02
    xero = await env.provider({"tenant_id": env.state.org().tenant_id})
    results = await asyncio.gather(*(xero.organisation(None) for _ in range(8)))
    assert all(results)
    assert env.state.max_in_flight == 5
    assert len(env.state.requests_to("/Organisation")) == 8  # no 429 for concurrency


async def test_daily_limit_is_rate_limited_at_once_with_a_long_retry_after(env: Env) -> None:
    env.state.day_limit = 1
    xero = await env.provider()
    await xero.organisation(None)
    with pytest.raises(ProviderError) as err:
        await xero.organisation(None)
    assert err.value.kind == "rate_limited"
    assert err.value.retry_after is not None and err.value.retry_after > 3600
    assert "daily" in err.value.message
    assert env.sleeps == []  # not slept on: the engine reschedules


async def test_xml_instead_of_json_is_unavailable(env: Env) -> None:
    env.faults.add(Fault.malformed(path="/TaxRates", nth=[1]))
    xero = await env.provider()
    with pytest.raises(ProviderError) as err:
        await xero.list_tax_codes(None)
    assert err.value.kind == "unavailable"


# --- wire formats and the spec check itself --------------------------------------------------


async def test_ms_dates_and_decimal_json() -> None:
    assert parse_xero_date("/Date(1552521600000+0000)/") == date(2019, 3, 14)
    assert parse_xero_datetime("/Date(1550793549392)/") == datetime(
        2019, 2, 21, 23, 59, 9, 392000, tzinfo=UTC
    )
    assert parse_xero_date("/Date(1552510800000-0500)/") == date(2019, 3, 13)
    assert parse_xero_date("2019-03-14T00:00:00") == date(2019, 3, 14)
    assert parse_xero_date(None) is None
    assert ms_date(date(2019, 3, 14)) == "/Date(1552521600000+0000)/"
    body = dumps_decimal({"LineAmount": Decimal("-1234567.89"), "x": [Decimal("0.10")]})
    assert body == b'{"LineAmount":-1234567.89,"x":[0.10]}'


async def test_the_spec_check_catches_a_request_off_spec(env: Env) -> None:
    bad = httpx.Request(
        "PUT",
        env.url + API_PREFIX + "/ManualJournals",
        json={"ManualJournals": [{"Narration": "x", "JournalLines": [{"LineAmount": "1.00"}]}]},
        headers={"xero-tenant-id": env.state.org().tenant_id, "Authorization": "Bearer x"},
    )
    with pytest.raises(SpecViolation, match="not of type 'number'"):
        await env.transport.handle_async_request(bad)
    env.transport.violations.clear()  # expected here; the fixture checks for others


async def test_demo_setup_logs_in_and_posts(tmp_path: Path) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.browser_login is not None and demo.complete is None
        settings = ProviderSettings.from_table("xero", demo.settings)
        assert settings.client_secret()  # the secret file was written
        lctx = LoginContext("xero", settings, REDIRECT, time.time())
        start = await SPEC.login.begin(lctx)
        redirect = await demo.browser_login(start.next_step["url"])
        result = await SPEC.login.complete(
            lctx, start.pending, redirect_url=redirect, code=None, credentials=None
        )
        saved: list[dict[str, Any]] = []

        async def save(creds: dict[str, Any]) -> None:
            saved.append(creds)

        ctx = ProviderContext(
            "xero", 9, settings, tmp_path, {}, dict(result.credentials), save_credentials=save
        )
        xero = SPEC.create(ctx)
        try:
            verified = await xero.verify()
            assert verified.ok and len(verified.tenants) == 1
            codes = {a.code for a in await xero.list_accounts(None)}
            assert {line.account for line in entry().lines} <= codes
            posted = await xero.post_entry(entry(), "demo-key")
            assert (await xero.find_entry(REF, None, None)) == posted
        finally:
            await xero.aclose()
    finally:
        await demo.aclose()
