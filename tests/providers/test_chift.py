"""Contract tests of the Chift adapter (``chift``, ``tiime``, ``sage100fr``) against the Chift
simulator over real HTTP, every request validated against Chift's official OpenAPI file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from providers import registry
from providers.base import EntryLine, JournalEntry
from providers.chift import ChiftProvider
from providers.chift_gateway import entry_number
from providers.context import ProviderContext
from providers.errors import ProviderError
from providers.login import LoginContext
from providers.sage100fr import Sage100FrProvider
from providers.settings import ProviderSettings
from providers.simulators.chift import ChiftSimulator, start_server
from providers.simulators.faults import default_error_body
from providers.tiime import TiimeProvider
from tests.providers.chift_spec import ChiftTransport, chift_transport
from tests.providers.conftest import SpecViolation

CLASSES: dict[str, type[ChiftProvider]] = {
    "chift": ChiftProvider,
    "tiime": TiimeProvider,
    "sage100fr": Sage100FrProvider,
}
FLAVOURS = tuple(CLASSES)
pytestmark = pytest.mark.asyncio(loop_scope="module")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    sim: ChiftSimulator
    url: str
    transport: ChiftTransport
    clock: FakeClock
    slept: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    providers: list[ChiftProvider] = field(default_factory=list)

    settings_options: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> ProviderSettings:
        return ProviderSettings(
            self.sim.connector, urls={"api_url": self.url}, options=self.settings_options
        )

    def login_context(self) -> LoginContext:
        return LoginContext(
            provider_id=self.sim.connector,
            settings=self.settings(),
            redirect_uri="http://127.0.0.1/unused",
            now=self.clock(),
            transport=self.transport,
        )

    def provider(
        self, *, secret: str | None = None, options: dict[str, Any] | None = None
    ) -> ChiftProvider:
        async def on_lost(message: str) -> None:
            self.lost.append(message)

        async def sleep(delay: float) -> None:
            self.slept.append(delay)

        ctx = ProviderContext(
            provider_id=self.sim.connector,
            authorisation_id=1,
            settings=self.settings(),
            state_dir=Path("/nonexistent"),
            options={"client_id": self.sim.client_id, "account_id": self.sim.account_id}
            | (options or {}),
            credentials={"client_secret": secret or self.sim.client_secret},
            transport=self.transport,
            on_auth_lost=on_lost,
        )
        provider = CLASSES[self.sim.connector](ctx, clock=self.clock, sleep=sleep)
        self.providers.append(provider)
        return provider

    def posts(self) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.sim.requests if r[0] == "POST" and "journal-entries" in r[1]]


Factory = Callable[..., Awaitable[Env]]


class Mounts:
    """One uvicorn server for the whole module (starting and stopping one costs ~0.2 s); each
    test's simulator is mounted under its own path prefix, which the adapter sees as part of
    ``api_url`` and the spec validator strips (``SpecRoute.mount``)."""

    def __init__(self) -> None:
        self.apps: dict[str, Any] = {}

    def mount(self, app: Any) -> str:
        prefix = f"/sim{len(self.apps) + 1}"
        self.apps[prefix] = app
        return prefix

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        prefix = "/" + scope["path"].split("/")[1]
        rest = scope["path"][len(prefix) :] or "/"
        await self.apps[prefix](dict(scope, path=rest, raw_path=rest.encode()), receive, send)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chift_server() -> AsyncIterator[tuple[Mounts, str]]:
    mounts = Mounts()
    server = await start_server(mounts, "chift-contract-tests")
    yield mounts, server.url
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def chift_env(chift_server: tuple[Mounts, str]) -> AsyncIterator[Factory]:
    mounts, base = chift_server
    made: list[Env] = []

    async def make(connector: str, **kw: Any) -> Env:
        clock = FakeClock()
        sim = ChiftSimulator(connector, clock=clock, **kw)
        prefix = mounts.mount(sim.app)
        env = Env(sim, base + prefix, chift_transport(prefix, check_responses=True), clock)
        made.append(env)
        return env

    yield make
    for env in made:
        for provider in env.providers:
            await provider.aclose()
        # No test may have sent a request the real Chift API would refuse.
        assert env.transport.violations == []


def entry(
    reference: str = "bexsync:7:2026-01",
    *,
    lines: tuple[EntryLine, ...] | None = None,
    ledger: str = "BEX",
    day: date = date(2026, 1, 31),
    currency: str = "EUR",
    tenant: str | None = None,
) -> JournalEntry:
    if lines is None:
        lines = (
            EntryLine("1300", "Guest debtors", Decimal("1234.50"), Decimal("0.00")),
            EntryLine("8000", "Rent turnover", Decimal("0.00"), Decimal("1132.57"), "L"),
            EntryLine("1800", "VAT payable low", Decimal("0.00"), Decimal("101.93"), "NONE"),
        )
    return JournalEntry(
        reference=reference,
        date=day,
        narration=f"BEX PMS Camping 2026-01 ({reference})",
        currency=currency,
        ledger_id=ledger,
        lines=lines,
        tenant_id=tenant,
    )


async def failure(awaitable: Awaitable[Any]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await awaitable
    return info.value


# --- registry and login -----------------------------------------------------------------------


async def test_the_three_ids_are_registered_as_chift_routes_with_key_idempotency() -> None:
    for pid in FLAVOURS:
        spec = registry.get(pid)
        assert spec is not None, pid
        assert spec.info.route == "chift"
        assert spec.info.capabilities.idempotency == "key"
        assert spec.login.kind == "credentials"
        assert spec.info.settings["api_url"] == "https://api.chift.eu"
        assert not spec.needs_app_registration


@pytest.mark.parametrize("connector", FLAVOURS)
async def test_login_form_checks_the_key_with_chift(chift_env: Factory, connector: str) -> None:
    env = await chift_env(connector)
    login = registry.get(connector).login  # type: ignore[union-attr]
    start = await login.begin(env.login_context())
    fields = {f["name"]: f["secret"] for f in start.next_step["fields"]}
    assert start.next_step["kind"] == "credentials"
    assert fields == {"client_id": False, "client_secret": True, "account_id": False}

    good = {
        "client_id": env.sim.client_id,
        "client_secret": env.sim.client_secret,
        "account_id": env.sim.account_id,
    }
    result = await login.complete(
        env.login_context(), None, redirect_url=None, code=None, credentials=good
    )
    assert result.credentials == {"client_secret": env.sim.client_secret}
    assert result.options == {"client_id": env.sim.client_id, "account_id": env.sim.account_id}
    assert env.sim.token_requests == 1

    bad = await failure(
        login.complete(
            env.login_context(),
            None,
            redirect_url=None,
            code=None,
            credentials={**good, "client_secret": "wrong-secret-123"},
        )
    )
    assert bad.kind == "rejected"
    assert "credentials.client_secret" in {f.field for f in bad.field_errors}
    assert "wrong-secret-123" not in bad.message

    not_uuid = await failure(
        login.complete(
            env.login_context(),
            None,
            redirect_url=None,
            code=None,
            credentials={**good, "account_id": "my-account"},
        )
    )
    assert [f.field for f in not_uuid.field_errors] == ["credentials.account_id"]
    assert env.sim.token_requests == 1  # refused before asking Chift


# --- verify, tenants, options -----------------------------------------------------------------


@pytest.mark.parametrize("connector", FLAVOURS)
async def test_verify_offers_only_consumers_connected_to_the_connector(
    chift_env: Factory, connector: str
) -> None:
    env = await chift_env(connector)
    result = await env.provider().verify()
    assert result.ok, result.message
    assert [t.id for t in result.tenants] == [env.sim.main_consumer]
    name = result.tenants[0].name
    assert name.startswith("Camping Les Pins")
    if connector == "chift":
        assert name == "Camping Les Pins (Pennylane)"  # the generic gateway names the software
    # Every request carried the bearer token Chift issued.
    for _method, path, headers in env.sim.requests:
        if path != "/token":
            assert headers["authorization"].lower().startswith("bearer chift-sim-"), path
    assert env.transport.validated
    # The simulator's answers match the spec's response schemas too.
    checked = {entry.split("/")[-1] for entry in env.transport.responses_checked}
    assert {"token", "consumers", "connections"} <= checked


async def test_integration_id_pins_the_connector(chift_env: Factory) -> None:
    env = await chift_env("tiime")
    env.settings_options["integration_id"] = 37  # Chift's id of the other consumer's software
    tenants = await env.provider().list_tenants()
    assert [t.name for t in tenants] == ["Hôtel du Lac"]


async def test_sage_local_agent_down_is_reported_and_retryable(chift_env: Factory) -> None:
    env = await chift_env("sage100fr")
    provider = env.provider()
    env.sim.set_agent("down")
    result = await provider.verify()
    assert not result.ok
    assert "local agent" in result.message and "Camping Les Pins" in result.message
    err = await failure(provider.post_entry(entry(), "key-agent-down"))
    assert err.kind == "unavailable" and err.retryable
    assert err.retry_after and err.retry_after > 0
    assert "agent" in err.message
    env.sim.set_agent("up")
    assert (await provider.verify()).ok


async def test_multi_folder_consumer_gives_one_tenant_per_folder(chift_env: Factory) -> None:
    env = await chift_env("chift")
    group = env.sim.add_consumer(
        "Groupe Vacances", "Inqom", 52, folders=(("f-nord", "Nord"), ("f-sud", "Sud"))
    )
    provider = env.provider()
    tenants = {t.id: t.name for t in await provider.list_tenants()}
    assert tenants[f"{group.consumerid}:f-sud"] == "Groupe Vacances (Inqom) / Sud"
    assert f"{group.consumerid}:f-nord" in tenants and env.sim.main_consumer in tenants

    # Several tenants and none chosen: the adapter asks instead of guessing.
    err = await failure(provider.post_entry(entry(), "key-which-tenant"))
    assert err.kind == "rejected" and err.field_errors[0].field == "tenant_id"

    posted = await provider.post_entry(entry(tenant=f"{group.consumerid}:f-sud"), "key-sud")
    assert [e["id"] for e in env.sim.ledger(group.consumerid, "f-sud").entries] == [
        posted.external_id
    ]
    assert env.sim.ledger(group.consumerid, "f-nord").entries == []
    found = await provider.find_entry(entry().reference, f"{group.consumerid}:f-sud", "BEX")
    assert found is not None and found.external_id == posted.external_id


# --- posting, lookup, idempotency -------------------------------------------------------------


@pytest.mark.parametrize("connector", FLAVOURS)
async def test_post_find_and_replay_never_duplicate(chift_env: Factory, connector: str) -> None:
    env = await chift_env(connector)
    provider = env.provider()
    je = entry()
    posted = await provider.post_entry(je, "run-41-key")
    assert posted.reference == je.reference

    [stored] = env.sim.ledger().entries
    assert stored["id"] == posted.external_id
    assert stored["journal_id"] == "BEX" and stored["date"] == "2026-01-31"
    assert stored["name"] == entry_number(je.reference) and len(stored["name"]) == 13
    # Decimal in, exact amounts out (no float on the way).
    assert [(i["account_number"], i["debit"], i["credit"]) for i in stored["items"]] == [
        ("1300", Decimal("1234.50"), Decimal("0.00")),
        ("8000", Decimal("0.00"), Decimal("1132.57")),
        ("1800", Decimal("0.00"), Decimal("101.93")),
    ]
    # BEX's VAT codes travel as the connector's VAT code ids.
    assert [i["tax_code"] for i in stored["items"]] == [None, "vat-l", "vat-none"]
    [(_, _, headers)] = env.posts()
    assert headers["x-chift-client-requestid"] == "run-41-key"
    assert any(r.endswith("/journal-entries") for r in env.transport.responses_checked)
    if connector == "sage100fr":
        assert stored["reference"] == je.reference[:17]  # Sage keeps 17 characters
    else:
        assert stored["reference"] == je.reference

    found = await provider.find_entry(je.reference, None, "BEX")
    assert found is not None and found.external_id == posted.external_id
    assert await provider.find_entry("bexsync:7:2026-02", None, "BEX") is None
    assert await provider.find_entry(je.reference, None, "jnl-od") is None

    # Same key again (a crash after posting): Chift answers 409, the lookup names the entry.
    again = await provider.post_entry(je, "run-41-key")
    assert again.external_id == posted.external_id
    # Same reference under a new key: the number is taken, the existing entry is returned.
    other = await provider.post_entry(je, "run-42-key")
    assert other.external_id == posted.external_id
    assert len(env.sim.ledger().entries) == 1

    # A correction has its own reference, hence its own number: a second entry.
    correction = entry(
        "bexsync:7:2026-01:c1",
        lines=(
            EntryLine("1300", "Late booking", Decimal("10.00"), Decimal("0")),
            EntryLine("8000", "Late booking", Decimal("0"), Decimal("10.00")),
        ),
    )
    fixed = await provider.post_entry(correction, "run-43-key")
    assert fixed.external_id != posted.external_id
    assert (await provider.find_entry(correction.reference, None, "BEX")) == fixed


async def test_daily_reference_is_looked_up_on_its_day(chift_env: Factory) -> None:
    env = await chift_env("chift")
    ledger = env.sim.ledger()
    ledger.vat_codes = [v for v in ledger.vat_codes if v["code"] != "NONE"]
    provider = env.provider()
    daily = entry("bexsync:3:2026-02-14", day=date(2026, 2, 14))
    posted = await provider.post_entry(daily, "daily-key")
    # The connector has no "no VAT" code: BEX's NONE goes out as no tax code at all.
    assert [i["tax_code"] for i in ledger.entries[0]["items"]] == [None, "vat-l", None]
    assert (await provider.find_entry(daily.reference, None, None)) == posted
    [query] = [p for m, p, _ in env.sim.requests if p.endswith("/journal/entries")]
    assert query  # the lookup listed entries (date-bounded, validated against the spec)
    err = await failure(provider.find_entry("not-a-bexsync-reference", None, None))
    assert err.kind == "rejected"


async def test_sage_labels_are_cut_to_35_characters(chift_env: Factory) -> None:
    env = await chift_env("sage100fr")
    long = "Nuitées camping emplacement grand confort 2026"
    je = entry(
        lines=(
            EntryLine("1300", long, Decimal("50.00"), Decimal("0")),
            EntryLine("8000", long, Decimal("0"), Decimal("50.00")),
        )
    )
    await env.provider().post_entry(je, "sage-label-key")
    [stored] = env.sim.ledger().entries
    assert [i["description"] for i in stored["items"]] == [long[:35], long[:35]]


async def test_tiime_creates_missing_accounts_and_others_refuse_them(chift_env: Factory) -> None:
    lines = (
        EntryLine("1300", "Guests", Decimal("20.00"), Decimal("0"), account_name="Guests"),
        EntryLine("706100", "Camping", Decimal("0"), Decimal("20.00"), account_name="Camping"),
    )
    tiime = await chift_env("tiime")
    await tiime.provider().post_entry(entry(lines=lines), "tiime-new-account")
    assert tiime.sim.ledger().accounts["706100"]["name"] == "Camping"

    chift = await chift_env("chift")
    err = await failure(chift.provider().post_entry(entry(lines=lines), "chift-new-account"))
    assert err.kind == "rejected"
    assert [f.field for f in err.field_errors] == ["lines[1].account"]
    assert "706100" in err.message
    assert chift.posts() == [] and chift.sim.ledger().entries == []


# --- errors -----------------------------------------------------------------------------------


async def test_connector_refusals_map_to_rejected_with_fields(chift_env: Factory) -> None:
    env = await chift_env("chift")
    provider = env.provider()
    err = await failure(provider.post_entry(entry(currency="eur"), "k-currency"))
    assert (err.kind, err.status) == ("rejected", 422)  # Chift's own refusal of the format
    assert [f.field for f in err.field_errors] == ["currency"]

    # A VAT code the connector does not have is refused before anything is sent.
    before = len(env.posts())
    bad_vat = entry(
        lines=(
            EntryLine("1300", "Guests", Decimal("5.00"), Decimal("0")),
            EntryLine("8000", "Rent", Decimal("0"), Decimal("5.00"), "X9"),
        )
    )
    err = await failure(provider.post_entry(bad_vat, "k-vat"))
    assert [f.field for f in err.field_errors] == ["lines[1].vat_code"]
    assert len(env.posts()) == before
    assert env.sim.ledger().entries == []


async def test_fastapi_validation_details_become_field_errors() -> None:
    provider = ChiftProvider(
        ProviderContext("chift", 1, ProviderSettings("chift"), Path("/nonexistent"))
    )
    response = httpx.Response(
        422,
        json={
            "message": "Validation error",
            "status": "error",
            "detail": [
                {"loc": ["body", "items", 0, "debit"], "msg": "Input should be a valid number"},
                {"loc": ["query", "size"], "msg": "Input should be less than or equal to 100"},
            ],
        },
    )
    err = provider.map_error(response)
    assert err is not None and err.kind == "rejected"
    assert [(f.field, f.message) for f in err.field_errors] == [
        ("items.0.debit", "Input should be a valid number"),
        ("size", "Input should be less than or equal to 100"),
    ]


async def test_request_in_process_is_unavailable(chift_env: Factory) -> None:
    env = await chift_env("chift")
    env.sim.in_process.add("k-busy")
    err = await failure(env.provider().post_entry(entry(), "k-busy"))
    assert err.kind == "unavailable" and err.retry_after == 30


async def test_connector_login_lost_is_auth_expired_with_advice(chift_env: Factory) -> None:
    env = await chift_env("tiime")
    env.sim.connector_login_broken = True
    err = await failure(env.provider().list_ledgers(None))
    assert err.kind == "auth_expired"
    assert "reconnect it in Chift" in err.message and "Tiime" in err.message


# --- spec validation and the demo -------------------------------------------------------------


async def test_the_validating_transport_refuses_what_chift_would_refuse(
    chift_env: Factory,
) -> None:
    env = await chift_env("chift")
    async with httpx.AsyncClient(base_url=env.url, transport=env.transport) as client:
        body = {
            "journal_id": "BEX",
            "number": "X1",
            "currency": "EUR",
            "date": "2026-01-31",
            "items": [
                {
                    "account_type": "general_account",
                    "account": "1000",
                    "debit": "1.00",
                    "credit": 0,
                },
                {"account_type": "general_account", "account": "8000", "debit": 0, "credit": 1},
            ],
        }
        with pytest.raises(SpecViolation, match="is not of type 'number'"):
            await client.post(
                f"/consumers/{env.sim.main_consumer}/accounting/journal-entries",
                content=json.dumps(body),
                headers={"content-type": "application/json"},
            )
    assert env.sim.ledger().entries == []
    env.transport.violations.clear()  # expected here; the fixture checks the others


@pytest.mark.parametrize("connector", FLAVOURS)
async def test_demo_setup_logs_in_and_verifies(
    connector: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    module = importlib.import_module(f"providers.simulators.{connector}")
    demo = await module.demo_setup(tmp_path)
    try:
        assert demo.provider_id == connector
        settings = ProviderSettings.from_table(connector, demo.settings)
        spec = registry.get(connector)
        assert spec is not None and demo.complete is not None
        login_ctx = LoginContext(connector, settings, "http://127.0.0.1/unused", 0.0)
        result = await spec.login.complete(
            login_ctx, None, redirect_url=None, code=None, credentials=demo.complete["credentials"]
        )
        ctx = ProviderContext(
            connector,
            1,
            settings,
            tmp_path,
            options=result.options,
            credentials=result.credentials,
        )
        async with aclosing(spec.create(ctx)) as provider:
            verified = await provider.verify()
            assert verified.ok and len(verified.tenants) == 1
            assert "BEX" in [ledger.id for ledger in await provider.list_ledgers(None)]
    finally:
        await demo.aclose()


async def test_fault_bodies_are_in_chifts_error_shape() -> None:
    from providers.simulators.chift import chift_error_body

    body = chift_error_body(429, "slow down")
    assert body["status"] == "error" and body["error_code"] == "ERROR_RATE_LIMIT"
    assert body != default_error_body(429, "slow down")
