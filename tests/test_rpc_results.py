"""Every RPC method, called on a real demo daemon the way a user would, answers with exactly
what ``rpc.discover`` publishes for it.

One walk through the API (connect the PMS over OAuth, log in to each provider, configure,
preview, correct, cancel a run, post, read the entries...) calls every registered method with
valid params. Each real result is validated against its published JSON schema, and a method
the walk does not call fails the test: a new method cannot skip it. The walk also records what
each handler returned before it was converted to its result Struct, to prove that no field a
service produces is silently dropped from the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from daemon.demo import DEMO_SEED
from providers.simulators.base import serve
from providers.simulators.bex import BexDataset, create_bex_app
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.oauth_server import (
    OAuthServerConfig,
    SimClient,
    create_oauth_app,
    oauth_state,
)
from tests.support.daemon import demo_daemon, wait_run_via
from tests.support.waiting import until_async

CLIENT_ID = "bexsync-every-method"
CLIENT_SECRET = "every-method-secret-5e1d0c"
API_KEY = "every-method-api-key-93ab"
NEXT_STEP_KINDS = {"none", "open_url", "device_code", "credentials"}

Call = Callable[..., Awaitable[Any]]


@dataclasses.dataclass
class Pms:
    url: str
    faults: FaultPlan


@contextlib.asynccontextmanager
async def oauth_pms() -> AsyncIterator[Pms]:
    """The demo's PMS data behind BEX's OAuth server, with a fault plan to hold a request."""
    auth_app = create_oauth_app(OAuthServerConfig(clients=(SimClient(CLIENT_ID, CLIENT_SECRET),)))
    state = oauth_state(auth_app)

    class IssuedTokens(set[str]):
        def __contains__(self, token: object) -> bool:
            return state.check_bearer(str(token)) is not None

    faults = FaultPlan()
    bex = create_bex_app(
        BexDataset(DEMO_SEED, today=date.today),
        api_key=API_KEY,
        access_tokens=IssuedTokens(),
        rate_limit=None,
        faults=faults,
    )
    async with serve(Starlette(routes=[Mount("/oauth", auth_app), Mount("", bex)])) as url:
        yield Pms(url, faults)


async def consent(url: str) -> str:
    """The user's browser: log in (the simulators consent at once), land on the redirect."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url)
    assert response.status_code in (302, 303), response.text
    return response.headers["location"]


async def walk_every_method(call: Call, pms: Pms) -> None:
    """Call each RPC method with valid params, in an order a user could."""
    await call("daemon.hello", {"client": "every-method test", "version": "1"})
    await call("daemon.status")
    await call("rpc.discover")
    await call("providers.list")
    await call("pms.get")
    started = await call("pms.connect", {"base_url": pms.url, "auth": "oauth"})
    await call("pms.complete", {"redirect_url": await consent(started["next_step"]["url"])})
    admins = await call("administrations.list")
    await call("administrations.set_access", {"id": admins[0]["id"], "access": True})

    auths = await call("authorisations.list")
    await call("authorisations.get", {"id": auths[0]["id"]})
    kinds = set()
    for auth in auths:  # the demo's sandbox and one per provider simulator
        kinds.add((await call("authorisations.login", {"id": auth["id"]}))["next_step"]["kind"])
    assert kinds == NEXT_STEP_KINDS  # every variant of the next step is validated
    made = await call("authorisations.create", {"name": "Every method", "provider": "sandbox"})
    auth_id = made["authorisation"]["id"]
    await call("authorisations.complete", {"id": auth_id})
    await call("authorisations.activate", {"id": auth_id})

    await call("configurations.options", {"authorisation_id": auth_id})
    config = await call(
        "configurations.create",
        {
            "authorisation_id": auth_id,
            "administration_id": admins[0]["id"],
            "frequency": "monthly",
            "ledger_id": "BEX",
            "start_date": date.today().replace(month=1, day=1).isoformat(),
            "automatic": False,
            "allow_duplicate_target": True,  # the demo's own configuration posts there too
        },
    )
    await call("configurations.update", {"id": config["id"], "delay_days": 2, "end_date": None})
    await call("configurations.activate", {"id": config["id"]})
    await call("configurations.deactivate", {"id": config["id"]})
    await call("configurations.get", {"id": config["id"]})
    await call("configurations.accounts", {"id": config["id"]})
    await call("configurations.delete", {"id": config["id"]})
    await call("authorisations.delete", {"id": auth_id})

    sandbox = next(a for a in auths if a["provider"] == "sandbox" and a["status"] == "active")
    configs = await call("configurations.list", {"authorisation_id": sandbox["id"]})
    manual = next(c for c in configs if not c["automatic"])
    draft = await call("syncs.preview", {"configuration_id": manual["id"]})
    await call("drafts.get", {"id": draft["id"]})
    await call("drafts.update", {"id": draft["id"], "lines": draft["lines"]})

    # A run held while it fetches from the PMS, so that it can be cancelled.
    gate = asyncio.Event()
    held = f"/administrations/{manual['administration_id']}/journal_transactions"
    pms.faults.add(Fault.hook(gate.wait, path=held, nth={1}))
    run_id = (await call("syncs.run", {"configuration_id": manual["id"]}))["run_id"]

    async def fetching() -> bool:
        return bool((await call("syncs.get", {"run_id": run_id}))["state"] != "queued")

    await until_async(fetching, "the run to leave the queue", every=0.02)
    assert (await call("syncs.cancel", {"run_id": run_id}))["state"] == "cancelled"
    gate.set()

    started_run = await call(
        "syncs.run", {"configuration_id": manual["id"], "draft_id": draft["id"]}
    )
    assert (await wait_run_via(call, started_run["run_id"]))["state"] == "posted"
    await call("syncs.list", {"configuration_id": manual["id"], "limit": 5})
    entries = await call("entries.list", {"configuration_id": manual["id"]})
    await call("entries.get", {"id": entries[0]["id"]})
    await call("notifications.list", {"unread_only": False})
    await call("notifications.mark_read", {"all": True})
    await call("events.subscribe", {"topics": ["sync.finished", "notification.created"]})
    await call("events.unsubscribe", {})


def _dropped(raw: Any, sent: Any, path: str = "") -> list[str]:
    """Keys of the handler's own result that did not reach the wire."""
    if isinstance(raw, dict) and isinstance(sent, dict):
        missing = [f"{path}.{k}" for k in raw if k not in sent]
        return missing + [
            p for k in raw if k in sent for p in _dropped(raw[k], sent[k], f"{path}.{k}")
        ]
    if isinstance(raw, list | tuple) and isinstance(sent, list):
        return [
            p
            for i, (r, s) in enumerate(zip(raw, sent, strict=False))
            for p in _dropped(r, s, f"{path}[{i}]")
        ]
    return []


@contextlib.contextmanager
def recording_handlers(registry: Any) -> Any:
    """Remember what each handler returns (before conversion) while the server runs."""
    raw: dict[str, list[Any]] = {}
    originals = dict(registry._methods)

    def wrap(info: Any) -> Any:
        async def handler(*args: Any) -> Any:
            result = await info.handler(*args)
            raw.setdefault(info.name, []).append(result)
            return result

        return dataclasses.replace(info, handler=handler)

    registry._methods.update({name: wrap(info) for name, info in originals.items()})
    try:
        yield raw
    finally:
        registry._methods.update(originals)


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


@pytest.mark.slow
async def test_every_method_answers_with_what_rpc_discover_publishes(tmp_path: Path) -> None:
    secret = tmp_path / "pms-client-secret"
    secret.write_text(CLIENT_SECRET)
    config = {"pms": {"page_size": 1000, "client_id": CLIENT_ID, "client_secret_file": str(secret)}}
    results: list[tuple[str, Any]] = []
    async with (
        oauth_pms() as pms,
        demo_daemon(tmp_path, providers="all", config=config) as (
            app,
            client,
        ),
    ):
        document = await client.call("rpc.discover")

        async def call(method: str, params: Any = None) -> Any:
            result = await client.call(method, params)
            results.append((method, result))
            return result

        with recording_handlers(app.server.registry) as raw:
            await walk_every_method(call, pms)

    published = {m["name"]: m for m in document["methods"]}
    called = {method for method, _ in results}
    assert called == set(published), f"not called: {sorted(set(published) - called)}"
    for method, result in results:
        schema = published[method]["result"]["schema"]
        assert schema, f"{method} publishes no result schema"
        errors = [e.message for e in _validator(document, schema).iter_errors(result)]
        assert not errors, (method, errors[:3], result)
    sent = {m: [r for name, r in results if name == m] for m in called}
    for method, returned in raw.items():
        if method == "rpc.discover":
            continue
        for handler_result, wire_result in zip(returned, sent[method], strict=False):
            assert not _dropped(_plain(handler_result), wire_result), method


def _plain(value: Any) -> Any:
    """A handler's result as JSON-like data (a dict's, a record's or a Struct's fields)."""
    return msgspec.to_builtins(value)
