"""Every provider end to end through the RPC API, against its simulator (issues 6 and 7).

Authorise (the provider's own login step), activate, list options, create a configuration,
preview and post a period, find the entry at the provider, and re-run: never a duplicate.
"""

from __future__ import annotations

import pytest

from bexsync_tui.client import RpcCallError
from providers import registry
from tests.support.daemon import demo_daemon, wait_run

PROVIDERS = [s.info.id for s in registry.all_specs() if s.info.id != "sandbox"]


@pytest.mark.parametrize("provider_id", PROVIDERS)
async def test_full_cycle_through_the_rpc_api(tmp_path, provider_id):
    async with demo_daemon(tmp_path, providers=provider_id) as (app, client):
        demo = app.demo_providers[provider_id]
        created = await client.call(
            "authorisations.create",
            {"name": f"{provider_id} books", "provider": provider_id,
             "settings": demo.create_settings},
        )  # fmt: skip
        auth = created["authorisation"]
        step = created["next_step"]
        assert auth["status"] == "inactive"
        assert step["kind"] in ("open_url", "device_code", "credentials", "none")
        if demo.complete is not None:
            params = {"id": auth["id"], **demo.complete}
        else:
            assert step["kind"] == "open_url", step
            params = {"id": auth["id"], "redirect_url": await demo.browser_login(step["url"])}
        done = await client.call("authorisations.complete", params)
        assert done["status"] == "inactive" and done["logged_in"]
        active = await client.call("authorisations.activate", {"id": auth["id"]})
        assert active["status"] == "active", active["status_message"]
        options = await client.call("configurations.options", {"authorisation_id": auth["id"]})
        assert options["ledgers"] and options["administrations"]
        ledger = next(
            (x for x in options["ledgers"] if "BEX" in (x["id"], x["code"])), options["ledgers"][0]
        )
        admin = next(a for a in options["administrations"] if a["number"] == "102")
        config = await client.call(
            "configurations.create",
            {
                "authorisation_id": auth["id"],
                "administration_id": admin["id"],
                "frequency": "monthly",
                "ledger_id": ledger["id"],
                "start_date": "2026-09-01",
                "tenant_id": active.get("tenant_id"),
                "activate": True,
            },
        )
        draft = await client.call(
            "syncs.preview", {"configuration_id": config["id"], "period": "2026-10"}
        )
        assert draft["balanced"] and not draft["errors"], draft["errors"]
        run = await wait_run(
            client,
            (await client.call("syncs.run", {"configuration_id": config["id"],
                                             "draft_id": draft["id"]}))["run_id"],
        )  # fmt: skip
        assert run["state"] == "posted", run
        entry = await client.call("entries.get", {"id": run["entry_id"]})
        provider = await app.providers.provider_for(auth["id"])
        found = await provider.find_entry(entry["reference"], active.get("tenant_id"), ledger["id"])
        assert found is not None and found.external_id == entry["external_id"]
        with pytest.raises(RpcCallError) as info:
            await client.call("syncs.run", {"configuration_id": config["id"], "period": "2026-10"})
        assert info.value.name == "Conflict"


async def test_seeded_demo_authorisations_are_named_for_people(tmp_path):
    async with demo_daemon(tmp_path, providers="business_central,xero") as (_app, client):
        names = {a["provider"]: a["name"] for a in await client.call("authorisations.list")}
    assert names["business_central"] == "Demo Microsoft Dynamics 365 Business Central"
    assert names["xero"] == "Demo Xero"
