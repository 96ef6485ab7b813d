"""Logging in again (``authorisations.login``): a refused login is repaired through the provider's
own login step, then ``complete`` and ``activate`` as after ``create`` (issue 8)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bexsync_tui.client import RpcCallError
from tests.support.daemon import demo_daemon


async def refuse_login(app: Any, client: Any, auth_id: int) -> dict[str, Any]:
    """Xero revoked the refresh token and the access token expired: the next use turns the
    authorisation to ``error`` (as in tests/test_auth_lost.py). Returns the old secrets."""
    row = await app.store.db.fetchone(
        "SELECT data FROM credentials WHERE authorisation_id = ?", (auth_id,)
    )
    creds = app.vault.unseal(row["data"])
    token = json.loads(creds["token"])
    token.update(expires_at=1.0, refresh_token="revoked-refresh-token-000")
    creds["token"] = json.dumps(token)
    await app.store.db.execute(
        "UPDATE credentials SET data = ? WHERE authorisation_id = ?",
        (app.vault.seal(creds), auth_id),
    )
    app.providers.forget(auth_id)
    config = (await client.call("configurations.list", {"authorisation_id": auth_id}))[0]
    await client.call("configurations.activate", {"id": config["id"]})
    with pytest.raises(RpcCallError) as info:
        await client.call("syncs.preview", {"configuration_id": config["id"]})
    assert info.value.data["kind"] == "auth_expired"
    return token


async def test_an_authorisation_in_error_is_active_again_after_logging_in_again(tmp_path):
    async with demo_daemon(tmp_path, providers="xero") as (app, client):
        auth = next(a for a in await client.call("authorisations.list") if a["provider"] == "xero")
        assert (await client.call("authorisations.activate", {"id": auth["id"]}))["status"] == (
            "active"
        )
        old = await refuse_login(app, client, auth["id"])
        assert (await client.call("authorisations.get", {"id": auth["id"]}))["status"] == "error"

        started = await client.call("authorisations.login", {"id": auth["id"]})
        step = started["next_step"]
        assert step["kind"] == "open_url" and step["url"].startswith("http")
        assert started["authorisation"]["id"] == auth["id"]
        assert started["authorisation"]["login_pending"]
        assert started["authorisation"]["status"] == "error"  # until the new login is verified
        # Nothing secret in the answer: no token, no PKCE verifier, no client secret.
        text = json.dumps(started)
        pending = app.vault.unseal(
            (
                await app.store.db.fetchone(
                    "SELECT data FROM pending_logins WHERE authorisation_id = ?", (auth["id"],)
                )
            )["data"]
        )
        flow = json.loads(pending["flow"])
        secrets = [old["access_token"], old["refresh_token"]]
        secrets += [v for k, v in flow.items() if "verifier" in k]
        assert secrets and not any(s and s in text for s in secrets)
        assert "client_secret" not in text

        # The user consents in a browser and pastes the redirect back; activate verifies it.
        redirect = await app.demo_providers["xero"].browser_login(step["url"])
        completed = await client.call(
            "authorisations.complete", {"id": auth["id"], "redirect_url": redirect}
        )
        assert completed["status"] == "inactive" and not completed["login_pending"]
        active = await client.call("authorisations.activate", {"id": auth["id"]})
        assert active["status"] == "active", active
        config = (await client.call("configurations.list", {"authorisation_id": auth["id"]}))[0]
        draft = await client.call("syncs.preview", {"configuration_id": config["id"]})
        assert draft["configuration_id"] == config["id"]  # the provider answers again


async def test_a_second_login_replaces_the_first_pending_one(tmp_path):
    async with demo_daemon(tmp_path, providers="xero") as (app, client):
        auth = next(a for a in await client.call("authorisations.list") if a["provider"] == "xero")
        first = await client.call("authorisations.login", {"id": auth["id"]})
        second = await client.call("authorisations.login", {"id": auth["id"]})
        assert first["next_step"]["url"] != second["next_step"]["url"]  # a new state
        stale = await app.demo_providers["xero"].browser_login(first["next_step"]["url"])
        with pytest.raises(RpcCallError) as info:
            await client.call("authorisations.complete", {"id": auth["id"], "redirect_url": stale})
        assert info.value.name in ("ValidationFailed", "ProviderError")
        fresh = await app.demo_providers["xero"].browser_login(second["next_step"]["url"])
        done = await client.call(
            "authorisations.complete", {"id": auth["id"], "redirect_url": fresh}
        )
        assert done["logged_in"] and not done["login_pending"]


async def test_logging_in_again_to_a_provider_without_login_says_so(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        auth = (await client.call("authorisations.list"))[0]
        started = await client.call("authorisations.login", {"id": auth["id"]})
        assert started["next_step"]["kind"] == "none"
        assert started["authorisation"]["status"] == "active"


async def test_bad_ids_are_refused(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        with pytest.raises(RpcCallError) as info:
            await client.call("authorisations.login", {"id": 999})
        assert info.value.name == "NotFound" and "999" in info.value.message
        with pytest.raises(RpcCallError) as info:
            await client.call("authorisations.login", {"id": "one"})
        assert info.value.code == -32602
        with pytest.raises(RpcCallError) as info:
            await client.call("authorisations.login", {})
        assert info.value.code == -32602


async def test_the_method_is_in_the_openrpc_document(tmp_path):
    async with demo_daemon(tmp_path, seed=False) as (_app, client):
        doc = await client.call("rpc.discover")
        method = next(m for m in doc["methods"] if m["name"] == "authorisations.login")
        assert [p["name"] for p in method["params"]] == ["id"]
        assert set(method["result"]["schema"]["properties"]) == {"authorisation", "next_step"}
