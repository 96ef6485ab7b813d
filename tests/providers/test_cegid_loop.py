"""Contract tests: the Cegid Loop adapter against its simulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from providers import registry
from providers.base import JournalEntry
from providers.cegid_loop import CegidLoopProvider
from providers.context import ProviderContext
from providers.login import LoginContext
from providers.redact import redact
from providers.settings import ProviderSettings
from providers.simulators.base import serve
from providers.simulators.cegid_loop import (
    DOSSIER,
    PREFIX,
    LoopState,
    create_loop_app,
    demo_setup,
    error_body,
)
from providers.simulators.faults import Fault, FaultPlan
from tests.providers.harness import Sleeps, journal_entry
from tests.providers.harness import expect_error as expect_provider_error

SPEC = registry.get("cegid_loop")
assert SPEC is not None

SUBSCRIPTION = "apim-subscription-0123456789abcdef"
API_KEY = "loopkey:0123456789secret"
_auth_ids = itertools.count(1)


def entry(reference: str = "bexsync:7:2026-10", **kw: Any) -> JournalEntry:
    return journal_entry(reference, **kw)


expect_error = partial(expect_provider_error, "cegid_loop")


@dataclass
class Sim:
    state: LoopState
    faults: FaultPlan
    api_url: str
    secret_file: Path


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    state = LoopState.seeded(SUBSCRIPTION, API_KEY)
    plan = FaultPlan(error_body=error_body)
    secret_file = tmp_path / "subscription-key"
    secret_file.write_text(SUBSCRIPTION + "\n")
    async with serve(create_loop_app(state, faults=plan)) as url:
        yield Sim(state, plan, url + PREFIX, secret_file)


def adapter(
    sim: Sim,
    tmp_path: Path,
    api_key: str = API_KEY,
    sleeps: Sleeps | None = None,
    secret_file: str | None = "",
    **kw: Any,
) -> CegidLoopProvider:
    ctx = ProviderContext(
        provider_id="cegid_loop",
        authorisation_id=next(_auth_ids),
        settings=ProviderSettings(
            "cegid_loop",
            client_id="bexsync",
            client_secret_file=str(sim.secret_file) if secret_file == "" else secret_file,
            urls={"api_url": sim.api_url},
        ),
        state_dir=tmp_path,
        options={"dossier": DOSSIER},
        credentials={"api_key": api_key},
    )
    return CegidLoopProvider(ctx, sleep=sleeps or Sleeps(), **kw)


# -- login, verify, options ----------------------------------------------------------------


def test_registered_as_an_async_provider_that_needs_the_partner_subscription() -> None:
    spec = registry.get("cegid_loop")
    assert spec is SPEC
    assert spec.needs_app_registration
    assert spec.login.kind == "credentials"
    assert spec.info.capabilities.async_post
    assert spec.info.capabilities.idempotency == "lookup"


async def test_login_form_keeps_the_dossier_as_option_and_the_api_key_secret() -> None:
    ctx = LoginContext("cegid_loop", ProviderSettings("cegid_loop"), "http://x/cb", time.time())
    start = await SPEC.login.begin(ctx)
    fields = {f["name"]: f["secret"] for f in start.next_step["fields"]}
    assert fields == {"dossier": False, "api_key": True}
    result = await SPEC.login.complete(
        ctx, None, redirect_url=None, code=None,
        credentials={"dossier": DOSSIER, "api_key": API_KEY},
    )  # fmt: skip
    assert result.credentials == {"api_key": API_KEY}
    assert result.options == {"dossier": DOSSIER}
    err = await expect_error(
        "rejected",
        SPEC.login.complete(
            ctx, None, redirect_url=None, code=None,
            credentials={"dossier": DOSSIER, "api_key": "no-secret-part"},
        ),
    )  # fmt: skip
    assert [f.field for f in err.field_errors] == ["credentials.api_key"]


async def test_verify_sends_both_keys_and_names_the_dossier(sim: Sim, tmp_path: Path) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        result = await provider.verify()
        assert result.ok and DOSSIER in result.message
        assert [t.id for t in result.tenants] == [DOSSIER]
        assert sim.state.requests == [("GET", "/journal")]


# -- the asynchronous import -----------------------------------------------------------------


async def test_post_submits_one_import_and_polls_with_backoff_until_booked(
    sim: Sim, tmp_path: Path
) -> None:
    sleeps = Sleeps(after=3, action=sim.state.process)
    async with aclosing(adapter(sim, tmp_path, sleeps=sleeps)) as provider:
        posted = await provider.post_entry(entry(), "key-1")
        assert posted.status == "posted"
        [booked] = sim.state.entries
        assert posted.external_id == str(booked["objectId"])
        assert sleeps.delays[:3] == [0.5, 1.0, 2.0]  # exponential back-off
        [item] = sim.state.imports
        assert item["statut"] == "Termine"
        [ecriture] = item["ecritures"]
        assert ecriture["journalCode"] == "BEX" and ecriture["datePiece"] == "2026-10-31"
        assert ecriture["refPiece"] == "bexsync:7:2026-10"
        assert [(ln["compteNumero"], ln["debit"], ln["credit"]) for ln in ecriture["lignes"]] == [
            ("1300", "1090.00", "0.00"),
            ("8000", "0.00", "1000.00"),
            ("1800", "0.00", "90.00"),
        ]
        polls = [p for _, p in sim.state.requests if p == "/statutImport"]
        assert len(polls) == 4


async def test_still_pending_after_the_bound_is_unavailable_and_nothing_is_resubmitted(
    sim: Sim, tmp_path: Path
) -> None:
    sleeps = Sleeps()
    async with aclosing(adapter(sim, tmp_path, sleeps=sleeps)) as provider:
        err = await expect_error("unavailable", provider.post_entry(entry(), "key-1"))
        assert err.retryable and "still processing" in err.message
        assert sum(sleeps.delays) <= 60 and max(sleeps.delays) == 15
        assert len(sim.state.imports) == 1
        await expect_error("unavailable", provider.post_entry(entry(), "key-1"))
        assert len(sim.state.imports) == 1  # the second attempt waited for the first import


async def test_a_restart_while_posting_finds_the_pending_import_and_completes_it(
    sim: Sim, tmp_path: Path
) -> None:
    before = adapter(sim, tmp_path, poll_budget=2)
    await expect_error("unavailable", before.post_entry(entry(), "key-1"))
    await before.aclose()  # the daemon stops; the run is left in 'posting'
    [item] = sim.state.imports

    after = adapter(sim, tmp_path, sleeps=Sleeps(after=1, action=sim.state.process))
    try:
        pending = await after.find_entry("bexsync:7:2026-10", DOSSIER, "BEX")
        assert pending is not None and pending.status == "pending"
        assert pending.external_id == f"import:{item['idImport']}"
        posted = await after.post_entry(entry(), "key-1")  # same key: resumes, never resubmits
        assert posted.status == "posted"
        assert len(sim.state.imports) == 1 and len(sim.state.entries) == 1
        assert await after.find_entry("bexsync:7:2026-10", DOSSIER, "BEX") == posted
    finally:
        await after.aclose()


async def test_an_import_processed_while_the_daemon_was_down_is_found_as_posted(
    sim: Sim, tmp_path: Path
) -> None:
    before = adapter(sim, tmp_path, poll_budget=1)
    await expect_error("unavailable", before.post_entry(entry(), "key-1"))
    await before.aclose()
    sim.state.process()
    after = adapter(sim, tmp_path)
    try:
        found = await after.find_entry("bexsync:7:2026-10", None, "BEX")
        assert found is not None and found.status == "posted"
        assert found.external_id == str(sim.state.entries[0]["objectId"])
        assert await after.post_entry(entry(), "key-1") == found
        assert len(sim.state.imports) == 1
    finally:
        await after.aclose()


async def test_a_lost_answer_to_the_import_is_found_and_waited_for_not_resubmitted(
    sim: Sim, tmp_path: Path
) -> None:
    sim.faults.add(Fault.malformed(path="/importJson", nth={1}))
    async with aclosing(
        adapter(sim, tmp_path, sleeps=Sleeps(after=1, action=sim.state.process))
    ) as provider:
        err = await expect_error("unavailable", provider.post_entry(entry(), "key-1"))
        assert "looked up" in err.message
        posted = await provider.post_entry(entry(), "key-1")
        assert posted.status == "posted" and len(sim.state.imports) == 1


# -- errors mapped to the taxonomy -----------------------------------------------------------


async def test_a_failed_import_is_rejected_per_line_not_found_and_a_fixed_one_imported(
    sim: Sim, tmp_path: Path
) -> None:
    """An account closed between the adapter's chart check and Cegid's processing: the import
    fails asynchronously, its errors land on the line, and it does not count as posted."""
    sim.state.process_after = 0

    def close_8000() -> None:
        next(a for a in sim.state.accounts if a["numero"] == "8000")["ferme"] = True

    sim.faults.add(Fault.hook(close_8000, path="/importJson", nth={1}))
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("rejected", provider.post_entry(entry(), "k"))
        assert [f.field for f in err.field_errors] == ["lines[1].account"]
        assert "8000" in err.message
        assert await provider.find_entry("bexsync:7:2026-10", None, "BEX") is None
        next(a for a in sim.state.accounts if a["numero"] == "8000")["ferme"] = False
        await provider.post_entry(entry(), "k2")
        assert [i["statut"] for i in sim.state.imports] == ["Erreur", "Termine"]


async def test_an_invalid_request_is_rejected_with_cegid_field_errors(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path)) as provider:
        body = {"codeIbs": DOSSIER, "data": {"ecritures": [
            {"journalCode": "BEX", "lignes": [{"compteNumero": "1300", "debit": 1.5,
                                               "credit": "0.00"}]}]}}  # fmt: skip
        err = await expect_error("rejected", provider.http.post("/importJson", json=body))
        assert err.status == 400
        assert [f.field for f in err.field_errors] == ["ecritures[0].lignes[0].debit"]
        assert sim.state.imports == []


async def test_a_wrong_subscription_or_api_key_is_auth_expired_without_the_keys(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path, api_key="otherkey:revoked-secret-99")) as provider:
        err = await expect_error("auth_expired", provider.verify())
        assert "API key" in err.message and "revoked-secret-99" not in err.message
    sim.secret_file.write_text("wrong-subscription-key-0000")
    async with aclosing(adapter(sim, tmp_path)) as provider:
        err = await expect_error("auth_expired", provider.verify())
        assert "subscription key" in err.message
        assert "wrong-subscription-key-0000" not in err.message
        assert "wrong-subscription-key-0000" not in redact("key wrong-subscription-key-0000")


async def test_no_subscription_key_file_is_a_configuration_error_before_any_request(
    sim: Sim, tmp_path: Path
) -> None:
    async with aclosing(adapter(sim, tmp_path, secret_file=None)) as provider:
        err = await expect_error("auth_expired", provider.verify())
        assert "client_secret_file" in err.message
        missing = adapter(sim, tmp_path, secret_file=str(tmp_path / "nope"))
        err = await expect_error("auth_expired", missing.verify())
        assert "cannot be read" in err.message
        await missing.aclose()
        assert sim.state.requests == []


# -- the demo ----------------------------------------------------------------------------------


async def test_demo_setup_serves_a_dossier_whose_imports_complete(tmp_path: Path) -> None:
    demo = await demo_setup(tmp_path)
    try:
        assert demo.provider_id == "cegid_loop" and demo.complete is not None
        settings = ProviderSettings.from_table("cegid_loop", demo.settings)
        assert settings.registered
        login = LoginContext("cegid_loop", settings, "http://x/cb", time.time())
        result = await SPEC.login.complete(
            login, None, redirect_url=None, code=None, **demo.complete
        )
        ctx = ProviderContext(
            "cegid_loop", 99, settings, tmp_path,
            options=result.options, credentials=result.credentials,
        )  # fmt: skip
        async with aclosing(CegidLoopProvider(ctx, poll_first=0.1)) as provider:
            assert (await provider.verify()).ok
            posted = await provider.post_entry(entry(), "k")
            assert posted.status == "posted"
            assert await provider.find_entry("bexsync:7:2026-10", None, "BEX") == posted
    finally:
        await demo.aclose()
