"""Contract tests: the Pennylane adapter against its simulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from providers import registry
from providers.context import ProviderContext
from providers.login import LoginContext
from providers.pennylane import PennylaneProvider
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
from tests.providers.harness import Sleeps, journal_entry
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


# -- errors mapped to the taxonomy -----------------------------------------------------------


async def test_no_stored_token_is_auth_expired_before_any_request(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path, token="")) as provider:
        await expect_error("auth_expired", provider.list_ledgers(None))
        assert sim.state.requests == []


async def test_the_rate_limit_headers_hold_requests_back_before_pennylane_refuses(
    sim: Sim, tmp_path: Path
) -> None:
    sim.state.rate_calls, sim.state.rate_per = 2, 0.2
    async with aclosing(adapter(sim, tmp_path)) as provider:
        for _ in range(3):
            assert len(await provider.list_ledgers(None)) == 5
        assert sim.state.refused == 0


async def test_pennylane_validation_refusal_is_rejected_with_its_message(
    sim: Sim, tmp_path: Path
) -> None:
    sim.faults.add(Fault.error(422, path="/ledger_entries", nth={2}))  # 1: the lookup
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("rejected", provider.post_entry(entry(), "k"))
        assert err.status == 422 and "simulated fault" in err.message
        assert err.field_errors and err.field_errors[0].field == "ledger_entry"
        assert sim.state.entries == []


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
