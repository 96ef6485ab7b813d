"""Access to an administration is enforced (issue 16.2): removing it, here or in BEX itself,
pauses every configuration of it with one notification; restoring it resumes and catches up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bexsync_tui.client import Client, RpcCallError
from daemon.demo import DEMO_SEED
from providers.simulators.base import serve
from providers.simulators.bex import BexDataset, create_bex_app
from tests.support.clock import Clock
from tests.support.daemon import demo_daemon
from tests.support.waiting import until_async

API_KEY = "access-test-api-key-61d2"


async def _settled(client: Client, config_id: int) -> dict[str, Any] | None:
    cfg = await client.call("configurations.get", {"id": config_id})
    return cfg if cfg["state"] not in ("running",) and not cfg["overdue"] else None


async def _daily(client: Client) -> dict[str, Any]:
    """The demo's daily automatic configuration (administration 101), caught up; the other
    automatic one rests (administration 103's uncategorised turnover fails every month)."""
    configs = await client.call("configurations.list")
    daily = next(c for c in configs if c["frequency"] == "daily")
    for c in configs:
        if c["id"] != daily["id"] and c["automatic"]:
            await client.call("configurations.deactivate", {"id": c["id"]})
    return await until_async(lambda: _settled(client, daily["id"]), "the demo's catch-up")


async def _refused(client: Client, method: str, params: dict[str, Any]) -> RpcCallError:
    with pytest.raises(RpcCallError) as info:
        await client.call(method, params)
    return info.value


async def test_unticking_an_administration_pauses_its_configurations_until_restored(
    tmp_path,
) -> None:
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    async with demo_daemon(tmp_path, clock=clock) as (app, client):
        daily = await _daily(client)
        admin_id = daily["administration_id"]
        runs_before = len(await client.call("syncs.list", {"configuration_id": daily["id"]}))
        notes_before = len(await client.call("notifications.list"))
        await client.call("administrations.set_access", {"id": admin_id, "access": False})
        await client.call("administrations.set_access", {"id": admin_id, "access": False})
        cfg = await client.call("configurations.get", {"id": daily["id"]})
        assert (cfg["state"], cfg["next_due"], cfg["overdue"]) == ("no_access", None, [])
        # One notification, naming the configuration and how to restore access.
        notes = (await client.call("notifications.list"))[: -notes_before or None]
        assert [n["title"] for n in notes] == ["Paused, no access: 101 Holiday Park De Veluwe"]
        assert cfg["label"] in notes[0]["body"] and "administrations.set_access" in notes[0]["body"]
        # Neither a manual run nor a preview reads the PMS; each says why and what to do.
        for method in ("syncs.run", "syncs.preview"):
            err = await _refused(client, method, {"configuration_id": daily["id"]})
            assert err.name == "Conflict"
            assert "no access to administration 101" in err.message
            assert "administrations.set_access" in err.message
            assert err.data["state"] == "no_access"
        # Days pass: nothing is scheduled, and `bexsync status` lists it.
        clock.now += timedelta(days=2)
        await app.scheduler.plan()
        assert app.scheduler.next_item is None or app.scheduler.next_item[0] != daily["id"]
        runs = await client.call("syncs.list", {"configuration_id": daily["id"]})
        assert len(runs) == runs_before
        attention = (await client.call("daemon.status"))["attention"]
        mine = [a for a in attention if a.get("configuration_id") == daily["id"]]
        assert [a["kind"] for a in mine] == ["access"] and "paused" in mine[0]["message"]
        # Restored: it resumes and catches up the two days it missed.
        await client.call("administrations.set_access", {"id": admin_id, "access": True})
        assert (await client.call("notifications.list"))[0]["title"].startswith("Access restored")
        cfg = await until_async(lambda: _settled(client, daily["id"]), "the missed days")
        assert cfg["state"] == "active"
        assert cfg["posted_periods"] == daily["posted_periods"] + 2
        attention = (await client.call("daemon.status"))["attention"]
        assert not [a for a in attention if a.get("configuration_id") == daily["id"]]


async def test_access_removed_in_bex_itself_pauses_like_unticking(tmp_path) -> None:
    dataset = BexDataset(DEMO_SEED, today=date.today)
    pms = create_bex_app(dataset, api_key=API_KEY, rate_limit=None)
    async with serve(pms) as url, demo_daemon(tmp_path) as (_app, client):
        daily = await _daily(client)
        await client.call("pms.connect", {"base_url": url, "api_key": API_KEY})
        dataset.set_granted(daily["administration_id"], False)  # a BEX user removes access
        err = await _refused(
            client,
            "syncs.preview",
            {"configuration_id": daily["id"], "period": daily["start_date"]},
        )
        assert err.name == "ProviderError" and "no longer gives this app access" in err.message
        cfg = await client.call("configurations.get", {"id": daily["id"]})
        assert cfg["state"] == "no_access"
        notes = await client.call("notifications.list")
        assert notes[0]["title"] == "Paused, no access: 101 Holiday Park De Veluwe"
        assert "BEX no longer gives this app access" in notes[0]["body"]
        err = await _refused(client, "syncs.run", {"configuration_id": daily["id"]})
        assert err.name == "Conflict" and "administrations.set_access" in err.message


async def test_a_scheduled_run_refused_by_bex_pauses_the_configuration(tmp_path) -> None:
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    dataset = BexDataset(DEMO_SEED, today=lambda: clock().date())
    pms = create_bex_app(dataset, api_key=API_KEY, rate_limit=None)
    async with serve(pms) as url, demo_daemon(tmp_path, clock=clock) as (app, client):
        daily = await _daily(client)
        await client.call("pms.connect", {"base_url": url, "api_key": API_KEY})
        dataset.set_granted(daily["administration_id"], False)
        clock.now += timedelta(days=1)  # the next day is due; the scheduler runs it
        app.scheduler.wake()

        async def paused() -> dict[str, Any] | None:
            cfg = await client.call("configurations.get", {"id": daily["id"]})
            return cfg if cfg["state"] == "no_access" else None

        cfg = await until_async(paused, "the configuration paused")
        assert cfg["next_due"] is None and cfg["last_run"]["state"] == "failed"
        assert "no longer gives this app access" in cfg["last_run"]["error"]
        notes = [n for n in await client.call("notifications.list") if n["level"] != "success"]
        assert [n["title"] for n in notes] == ["Paused, no access: 101 Holiday Park De Veluwe"]
        attention = (await client.call("daemon.status"))["attention"]
        mine = [a for a in attention if a.get("configuration_id") == daily["id"]]
        assert [a["kind"] for a in mine] == ["access"]
