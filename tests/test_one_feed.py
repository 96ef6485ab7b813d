"""One ledger, one feed (issue 16.3): a second active configuration posting the same
administration into the same ledger of the same organisation is refused, unless meant."""

from __future__ import annotations

from typing import Any

import pytest

from bexsync_tui.client import Client, RpcCallError
from tests.support.daemon import demo_daemon


async def _second_authorisation(client: Client) -> dict[str, Any]:
    created = await client.call("authorisations.create", {"name": "Second", "provider": "sandbox"})
    return await client.call("authorisations.activate", {"id": created["authorisation"]["id"]})


def _config(auth_id: int, admin_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "authorisation_id": auth_id,
        "administration_id": admin_id,
        "frequency": "monthly",
        "ledger_id": "BEX",
        "start_date": "2026-08-01",
        "automatic": False,
        "no_vat_code": "NONE",
        **extra,
    }


async def test_a_second_feed_into_the_same_ledger_is_refused_unless_meant(tmp_path) -> None:
    async with demo_daemon(tmp_path) as (_app, client):
        demo = next(c for c in await client.call("configurations.list") if not c["automatic"])
        second = await _second_authorisation(client)
        # Activating a second login onto the organisation the demo's already reaches warns.
        assert "'Demo sandbox' already reaches this sandbox organisation" in second["warning"]
        count = len(await client.call("configurations.list"))
        admin = demo["administration_id"]
        with pytest.raises(RpcCallError) as refused:
            await client.call("configurations.create", _config(second["id"], admin, activate=True))
        assert refused.value.name == "Conflict"
        assert demo["label"] in refused.value.message
        assert "allow_duplicate_target" in refused.value.message
        assert refused.value.data["configuration_id"] == demo["id"]
        assert len(await client.call("configurations.list")) == count  # nothing stored
        # Stored inactive it harms nobody; activating it is refused the same way.
        idle = await client.call("configurations.create", _config(second["id"], admin))
        with pytest.raises(RpcCallError) as refused:
            await client.call("configurations.activate", {"id": idle["id"]})
        assert refused.value.name == "Conflict" and demo["label"] in refused.value.message
        # Another ledger is another feed.
        mem = await client.call("configurations.update", {"id": idle["id"], "ledger_id": "MEM"})
        assert (await client.call("configurations.activate", {"id": mem["id"]}))["active"]
        assert (await client.call("configurations.get", {"id": mem["id"]}))["warning"] is None
        # Meant: allowed, and both say so wherever they are shown.
        await client.call("configurations.deactivate", {"id": mem["id"]})
        both = await client.call(
            "configurations.update",
            {"id": mem["id"], "ledger_id": "BEX", "allow_duplicate_target": True},
        )
        both = await client.call("configurations.activate", {"id": both["id"]})
        assert both["allow_duplicate_target"] and demo["label"] in both["warning"]
        listed = {c["id"]: c for c in await client.call("configurations.list")}
        assert both["label"] in listed[demo["id"]]["warning"]
