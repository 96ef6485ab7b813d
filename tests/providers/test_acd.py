"""Contract tests: the ACD (i-Suite Expert) adapter against its simulator, over real HTTP."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers import registry
from providers.acd import AcdProvider, piece_number
from providers.base import JournalEntry
from providers.context import ProviderContext
from providers.login import LoginContext
from providers.settings import ProviderSettings
from providers.simulators.acd import CNX, AcdState, create_acd_app, demo_setup, error_body
from providers.simulators.base import serve
from providers.simulators.faults import Fault, FaultPlan
from tests.providers.harness import Sleeps, journal_entry
from tests.providers.harness import expect_error as expect_provider_error

SPEC = registry.get("acd")
assert SPEC is not None

USER = "comptable"
PASSWORD = "s3cret-acd-password"
_auth_ids = itertools.count(1)


def entry(reference: str = "bexsync:7:2026-10", **kw: Any) -> JournalEntry:
    return journal_entry(reference, **kw)


expect_error = partial(expect_provider_error, "acd")


@dataclass
class Sim:
    state: AcdState
    faults: FaultPlan
    host: str


class Recorder(httpx.AsyncBaseTransport):
    """Keeps the raw bodies the adapter sent (to check the wire format of amounts)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bodies: list[tuple[str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.bodies.append((request.url.path, request.content))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    state = AcdState.seeded(USER, PASSWORD)
    plan = FaultPlan(error_body=error_body)
    async with serve(create_acd_app(state, faults=plan)) as url:
        yield Sim(state, plan, url)


def adapter(
    sim: Sim,
    tmp_path: Path,
    password: str = PASSWORD,
    transport: httpx.AsyncBaseTransport | None = None,
    sleeps: Sleeps | None = None,
    **options: Any,
) -> AcdProvider:
    ctx = ProviderContext(
        provider_id="acd",
        authorisation_id=next(_auth_ids),
        settings=ProviderSettings("acd"),
        state_dir=tmp_path,
        options={"host": sim.host, "code": CNX, "username": USER, **options},
        credentials={"password": password},
        transport=transport,
    )
    return AcdProvider(ctx, sleep=sleeps or Sleeps())


# -- login, verify, options ----------------------------------------------------------------


def test_registered_with_a_credentials_login_lookup_and_eur_only() -> None:
    spec = registry.get("acd")
    assert spec is SPEC
    assert spec.login.kind == "credentials"
    assert spec.info.capabilities.idempotency == "lookup"
    assert spec.info.capabilities.currencies == ("EUR",)
    assert not spec.needs_app_registration


async def test_login_form_keeps_host_code_and_user_as_options_and_the_password_secret() -> None:
    ctx = LoginContext("acd", ProviderSettings("acd"), "http://x/cb", time.time())
    start = await SPEC.login.begin(ctx)
    fields = {f["name"]: f["secret"] for f in start.next_step["fields"]}
    assert fields == {"host": False, "code": False, "username": False, "password": True}
    values = {"host": "https://isuite.cabinet.fr/", "code": "CNX", "username": "u",
              "password": PASSWORD}  # fmt: skip
    result = await SPEC.login.complete(ctx, None, redirect_url=None, code=None, credentials=values)
    assert result.credentials == {"password": PASSWORD}
    assert result.options == {"host": "https://isuite.cabinet.fr/", "code": "CNX", "username": "u"}
    bad = {**values, "host": "isuite.cabinet.fr"}
    err = await expect_error(
        "rejected", SPEC.login.complete(ctx, None, redirect_url=None, code=None, credentials=bad)
    )
    assert [f.field for f in err.field_errors] == ["credentials.host"]


async def test_several_dossiers_need_a_chosen_tenant(tmp_path: Path) -> None:
    state = AcdState.seeded(USER, PASSWORD, dossiers=2)
    async with serve(create_acd_app(state)) as url:
        sim = Sim(state, FaultPlan(), url)
        async with aclosing(adapter(sim, tmp_path)) as provider:
            assert len((await provider.verify()).tenants) == 2
            err = await expect_error("rejected", provider.list_ledgers(None))
            assert err.field_errors[0].field == "tenant_id"
            assert "BEX" in {led.code for led in await provider.list_ledgers("DOSS01")}
            chosen = adapter(sim, tmp_path, tenant_id="DOSS01")
            try:
                posted = await chosen.post_entry(entry(), "k")
                assert posted.external_id.startswith("DOSS01/BEX/2026-10/")
                assert state.entries[0]["CodeDossier"] == "DOSS01"
            finally:
                await chosen.aclose()


# -- posting and lookup ----------------------------------------------------------------------


async def test_post_sends_year_and_month_in_the_header_the_day_per_line_and_exact_amounts(
    sim: Sim, tmp_path: Path
) -> None:
    recorder = Recorder()
    async with aclosing(adapter(sim, tmp_path, transport=recorder)) as provider:
        posted = await provider.post_entry(entry(), "key-1")
        assert posted.external_id == "BEXPARC/BEX/2026-10/BX7-202610"
        assert posted.status == "posted"
        [stored] = sim.state.entries
        assert (stored["Journal"], stored["Annee"], stored["Mois"]) == ("BEX", 2026, 10)
        lines = stored["LignesEcriture"]
        assert {ln["Jour"] for ln in lines} == {31}
        assert {ln["NumeroPiece"] for ln in lines} == {"BX7-202610"}
        assert [(ln["Compte"], ln["Debit"], ln["Credit"]) for ln in lines] == [
            ("1300", "1090.00", "0.00"),
            ("8000", "0.00", "1000.00"),
            ("1800", "0.00", "90.00"),
        ]
        assert "bexsync:7:2026-10" in lines[0]["Libelle"]
        assert lines[1]["Libelle"] == "Rent turnover [TVA L]"
        [raw] = [body for path, body in recorder.bodies if path.endswith("/compta/ecriture")]
        assert b'"Debit":1090.00' in raw and b'"Credit":90.00' in raw  # numbers, not floats
        assert "Annee" in json.loads(raw) and "Jour" not in json.loads(raw)


def test_piece_numbers_are_short_distinct_and_stable() -> None:
    assert piece_number("bexsync:12:2026-10") == "BX12-202610"
    assert piece_number("bexsync:12:2026-10-31") == "BX12-20261031"
    odd = piece_number("something else")
    assert odd == piece_number("something else") and len(odd) == 12


# -- errors mapped to the taxonomy -----------------------------------------------------------


async def test_other_currencies_are_refused_clearly_before_any_request(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("rejected", provider.post_entry(entry(currency="USD"), "k"))
        assert "EUR only" in err.message and "USD" in err.message
        assert err.field_errors[0].field == "currency"
        assert sim.state.requests == []


async def test_acds_own_account_refusal_lands_on_the_line(sim: Sim, tmp_path: Path) -> None:
    """An account made inactive after the adapter read the chart: ACD's compteInexistant."""

    def deactivate() -> None:
        for row in sim.state.accounts["BEXPARC"]:
            if row["Code"] == "8000":
                row["CptInactif"] = True

    sim.faults.add(Fault.hook(deactivate, path="/compta/ecriture", nth={2}))  # 1: the lookup
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("rejected", provider.post_entry(entry(), "k"))
        assert [f.field for f in err.field_errors] == ["lines[1].account"]
        assert "compteInexistant" in err.message
        assert sim.state.entries == []


async def test_an_unpublished_dossier_says_how_to_fix_it(sim: Sim, tmp_path: Path) -> None:
    sim.state.unpublished.add("BEXPARC")
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("auth_expired", provider.list_ledgers(None))
        assert err.status == 403 and "published" in err.message


async def test_the_firm_database_being_down_is_unavailable(sim: Sim, tmp_path: Path) -> None:
    def down(doc: Any) -> Any:
        return {"codeRetour": 0, "description": "KO", "listeErreurs": [
            {"erreur": "erreurSql", "description": "Le serveur MySQL est momentanément injoignable"}
        ]}  # fmt: skip

    sim.faults.add(Fault.malformed(mutate=down, path="/compta/ecriture", nth={2}))
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("unavailable", provider.post_entry(entry(), "k"))
        assert err.retryable


# -- the demo ----------------------------------------------------------------------------------


async def test_demo_setup_serves_a_firm_the_demo_can_log_in_to_and_post_to(
    tmp_path: Path,
) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.provider_id == "acd" and demo.complete is not None
        settings = ProviderSettings.from_table("acd", demo.settings)
        login = LoginContext("acd", settings, "http://x/cb", time.time())
        result = await SPEC.login.complete(
            login, None, redirect_url=None, code=None, **demo.complete
        )
        ctx = ProviderContext(
            "acd", 99, settings, tmp_path, options=result.options, credentials=result.credentials
        )
        async with aclosing(SPEC.create(ctx)) as provider:
            assert (await provider.verify()).ok
            posted = await provider.post_entry(entry(), "k")
            assert await provider.find_entry("bexsync:7:2026-10", None, "BEX") == posted
    finally:
        await demo.aclose()
