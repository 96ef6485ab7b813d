"""A login that can no longer refresh turns its authorisation to error with a notification, and
syncs wait for a new login instead of failing over and over (issue 5)."""

from __future__ import annotations

import json

import pytest

from bexsync_tui.client import RpcCallError
from tests.support.daemon import demo_daemon


async def test_refused_refresh_marks_the_authorisation_and_notifies(tmp_path):
    async with demo_daemon(tmp_path, providers="xero") as (app, client):
        auth = next(a for a in await client.call("authorisations.list") if a["provider"] == "xero")
        assert (await client.call("authorisations.activate", {"id": auth["id"]}))["status"] == (
            "active"
        )
        # The refresh token was revoked at Xero and the access token has expired.
        row = await app.store.db.fetchone(
            "SELECT data FROM credentials WHERE authorisation_id = ?", (auth["id"],)
        )
        creds = app.vault.unseal(row["data"])
        token = json.loads(creds["token"])
        token.update(expires_at=1.0, refresh_token="revoked-refresh-token-000")
        creds["token"] = json.dumps(token)
        await app.store.db.execute(
            "UPDATE credentials SET data = ? WHERE authorisation_id = ?",
            (app.vault.seal(creds), auth["id"]),
        )
        app.providers.forget(auth["id"])
        config = (await client.call("configurations.list", {"authorisation_id": auth["id"]}))[0]
        await client.call("configurations.activate", {"id": config["id"]})
        with pytest.raises(RpcCallError) as info:
            await client.call("syncs.preview", {"configuration_id": config["id"]})
        assert info.value.name == "ProviderError" and info.value.data["kind"] == "auth_expired"
        assert "revoked-refresh" not in info.value.message
        after = await client.call("authorisations.get", {"id": auth["id"]})
        assert after["status"] == "error" and "log in again" in after["status_message"]
        notes = await client.call("notifications.list", {"unread_only": True})
        assert any(n["title"] == f"Log in again to {auth['name']}" for n in notes)
        with pytest.raises(RpcCallError) as info:
            await client.call("syncs.run", {"configuration_id": config["id"]})
        assert info.value.name == "AuthorisationRequired"
        status = await client.call("daemon.status")
        assert any(item["kind"] == "authorisation" for item in status["attention"])
