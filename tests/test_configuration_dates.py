"""Configuration dates the scheduler cannot handle (issue 17.2): refused with a field error and
nothing stored; a row that got in anyway is set aside, never fatal for a listing or a pass."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from datetime import date

import pytest

from bexsync_tui.client import RpcCallError
from daemon.model import EARLIEST_DATE, latest_date
from daemon.store.records import ConfigurationValues
from tests.support.daemon import ROOT, demo_daemon
from tests.support.waiting import HANG_S, until_async

ACTIVE = ("queued", "fetching", "building", "posting")


async def _refused(client, method, params) -> dict[str, str]:
    with pytest.raises(RpcCallError) as info:
        await client.call(method, params)
    assert info.value.code == -32002, info.value
    return {e["field"]: e["message"] for e in info.value.data["errors"]}


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("9999-12-31", None, "start_date"),
        ("0001-01-01", None, "start_date"),
        ("1999-12-31", None, "start_date"),
        ("2026-01-01", "9999-12-31", "end_date"),
    ],
)
async def test_a_date_out_of_range_is_refused_and_nothing_is_stored(tmp_path, start, end, field):
    async with demo_daemon(tmp_path) as (_app, client):
        before = await client.call("configurations.list")
        # A second authorisation: the demo's has a configuration for every administration.
        made = await client.call("authorisations.create", {"name": "Dates", "provider": "sandbox"})
        admins = await client.call("administrations.list")
        params = {
            "authorisation_id": made["authorisation"]["id"],
            "administration_id": admins[0]["id"],
            "frequency": "monthly",
            "ledger_id": "BEX",
            "start_date": start,
            "end_date": end,
        }
        fields = await _refused(client, "configurations.create", params)
        after = await client.call("configurations.list")
        status = await client.call("daemon.status")
    assert field in fields and "between 2000-01-01 and" in fields[field], fields
    assert [c["id"] for c in after] == [c["id"] for c in before]
    assert not [a for a in status["attention"] if "cannot be scheduled" in a["message"]]


async def test_an_update_to_a_far_future_month_is_refused_and_changes_nothing(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        config = next(
            c
            for c in await client.call("configurations.list")
            if c["frequency"] == "monthly" and not c["automatic"]
        )
        before = await client.call("configurations.get", {"id": config["id"]})
        fields = await _refused(
            client, "configurations.update", {"id": config["id"], "start_date": "9999-12-01"}
        )
        after = await client.call("configurations.get", {"id": config["id"]})
    assert "start_date" in fields
    assert after == before


def test_the_range_is_today_plus_ten_years():
    assert date(2000, 1, 1) == EARLIEST_DATE
    assert latest_date(date(2026, 12, 2)) == date(2036, 12, 2)
    assert latest_date(date(2028, 2, 29)) == date(2038, 2, 28)


async def test_a_stored_row_the_scheduler_cannot_handle_is_set_aside(tmp_path):
    async with demo_daemon(tmp_path) as (app, client):
        configs = sorted(await client.call("configurations.list"), key=lambda c: c["id"])
        bad = configs[0]
        later = next(c for c in configs if not c["automatic"])  # the manual one
        assert bad["automatic"] and later["id"] > bad["id"]
        await client.call("configurations.deactivate", {"id": bad["id"]})

        await _until_idle(client)
        # A row written past the rules (an older version, a hand edit): year 9999.
        row = await app.store.configurations.get(bad["id"])
        assert row is not None
        values = ConfigurationValues(
            **{
                f.name: getattr(row, f.name)
                for f in dataclasses.fields(ConfigurationValues)
                if f.name != "start_date"
            },
            start_date=date(9999, 12, 31),
        )
        await app.store.configurations.update(bad["id"], values)
        await app.store.configurations.set_active(bad["id"], True)

        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bexsync_tui.cli", "--socket", str(app.socket_path), "status",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        out, err = await asyncio.wait_for(cli.communicate(), HANG_S)
        listed = {c["id"]: c for c in await client.call("configurations.list")}
        got = await client.call("configurations.get", {"id": bad["id"]})
        status = await client.call("daemon.status")
        # The pass goes on past the bad row: a later configuration made automatic gets its run.
        await client.call("configurations.update", {"id": later["id"], "automatic": True})
        await _until_scheduled(client, later["id"])
        # The user corrects it: back in the schedule, nothing needs attention any more.
        fixed = await client.call(
            "configurations.update", {"id": bad["id"], "start_date": bad["start_date"]}
        )
        status_after = await client.call("daemon.status")
    assert cli.returncode == 1 and b"cannot be scheduled" in out, (out, err)
    assert b"Traceback" not in err
    assert listed[bad["id"]]["schedule_error"] and got["schedule_error"]
    assert got["next_due"] is None and got["state"] != "finished"
    assert listed[later["id"]]["schedule_error"] is None
    flagged = [a for a in status["attention"] if "cannot be scheduled" in a["message"]]
    assert [(a["kind"], a["id"]) for a in flagged] == [("configuration", bad["id"])]
    assert "start or end date" in flagged[0]["message"]
    assert fixed["schedule_error"] is None and fixed["next_due"] is not None
    assert not [a for a in status_after["attention"] if "cannot be scheduled" in a["message"]]


async def _until_idle(client) -> None:
    """Until no run is active (the demo's catch-up)."""

    async def idle() -> bool:
        return not any(r["state"] in ACTIVE for r in await client.call("syncs.list"))

    await until_async(idle, "the demo's catch-up to finish")


async def _until_scheduled(client, config_id: int) -> None:
    """Until the scheduler has started a run of ``config_id``."""

    async def scheduled() -> bool:
        runs = await client.call("syncs.list")
        return any(r["configuration_id"] == config_id and r["trigger"] == "schedule" for r in runs)

    await until_async(scheduled, f"a scheduled run of configuration {config_id}")
