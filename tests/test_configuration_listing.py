"""A listing shows each configuration exactly as ``configurations.get`` does. The listing counts
settled periods rather than reading them (``DoneSpan``: years of settled days cost what a week
does) and reads them one by one only where a period in between is missing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bexsync_tui.client import Client
from tests.support.clock import Clock
from tests.support.daemon import demo_daemon, wait_run
from tests.support.waiting import until_async

pytestmark = pytest.mark.usefixtures("store_backend")  # the counting is SQL: both backends

ACTIVE = ("queued", "fetching", "building", "posting")


async def _quiet(client: Client) -> list[dict[str, Any]] | None:
    """The listing once the demo's catch-up has finished."""
    runs = await client.call("syncs.list", {"limit": 1000})
    return (
        None
        if any(r["state"] in ACTIVE for r in runs)
        else await client.call("configurations.list")
    )


async def test_a_listing_agrees_with_each_configuration_read_alone(tmp_path) -> None:
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    async with demo_daemon(tmp_path, clock=clock) as (_app, client):
        # Nothing may run between the listing and the reads one by one: the demo's automatic
        # configurations are stopped (a catch-up has gaps between its runs) and let finish.
        for cfg in await client.call("configurations.list"):
            if cfg["active"]:
                await client.call("configurations.deactivate", {"id": cfg["id"]})
        await until_async(lambda: _quiet(client), "the demo's runs")
        made = await client.call(
            "authorisations.create", {"name": "Listing ledger", "provider": "sandbox"}
        )
        auth_id = made["authorisation"]["id"]
        await client.call("authorisations.activate", {"id": auth_id})
        admins = await client.call("administrations.list")
        settled = {  # with gaps (read one by one), and one unbroken run after the start (a span)
            admins[0]["id"]: ("2026-11-03", "2026-11-05", "2026-11-06"),
            admins[1]["id"]: ("2026-11-03", "2026-11-04", "2026-11-05"),
        }
        made_ids = []
        for admin_id, days in settled.items():
            manual = await client.call(
                "configurations.create",
                {"authorisation_id": auth_id, "administration_id": admin_id,
                 "frequency": "daily", "ledger_id": "BEX", "start_date": "2026-11-01",
                 "automatic": False, "activate": True, "no_vat_code": "NONE",
                 "allow_duplicate_target": True},
            )  # fmt: skip
            made_ids.append(manual["id"])
            for day in days:
                params = {"configuration_id": manual["id"], "period": day}
                run = await client.call("syncs.run", params)
                assert (await wait_run(client, run["run_id"]))["state"] in ("posted", "empty")
        listed = await until_async(lambda: _quiet(client), "the manual runs")
        for cfg in listed:  # settled with gaps, without, or never: the same either way
            assert cfg == await client.call("configurations.get", {"id": cfg["id"]})
        gaps, span = (next(c for c in listed if c["id"] == i) for i in made_ids)
        for cfg in (gaps, span):
            assert cfg["posted_periods"] == 3
            assert cfg["next_due"]["period"] == "2026-11-01"
        overdue = [p["period"] for p in gaps["overdue"]]
        assert overdue[:4] == ["2026-11-01", "2026-11-02", "2026-11-04", "2026-11-07"]
        overdue = [p["period"] for p in span["overdue"]]
        assert overdue[:3] == ["2026-11-01", "2026-11-02", "2026-11-06"]
