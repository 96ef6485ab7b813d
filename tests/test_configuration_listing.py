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
        await until_async(lambda: _quiet(client), "the demo's catch-up")
        made = await client.call(
            "authorisations.create", {"name": "Listing ledger", "provider": "sandbox"}
        )
        auth_id = made["authorisation"]["id"]
        await client.call("authorisations.activate", {"id": auth_id})
        admin = (await client.call("administrations.list"))[0]
        manual = await client.call(
            "configurations.create",
            {"authorisation_id": auth_id, "administration_id": admin["id"],
             "frequency": "daily", "ledger_id": "BEX", "start_date": "2026-11-01",
             "automatic": False, "activate": True, "no_vat_code": "NONE",
             "allow_duplicate_target": True},
        )  # fmt: skip
        # Settled: the 3rd, then the 5th and 6th; the 1st, 2nd and 4th are missing.
        for day in ("2026-11-03", "2026-11-05", "2026-11-06"):
            run = await client.call("syncs.run", {"configuration_id": manual["id"], "period": day})
            assert (await wait_run(client, run["run_id"]))["state"] in ("posted", "empty")
        listed = await until_async(lambda: _quiet(client), "the manual runs")
        for cfg in listed:  # caught up (one unbroken span), never run, or with gaps: the same
            assert cfg == await client.call("configurations.get", {"id": cfg["id"]})
        mine = next(c for c in listed if c["id"] == manual["id"])
        assert mine["posted_periods"] == 3
        assert mine["next_due"]["period"] == "2026-11-01"
        overdue = [p["period"] for p in mine["overdue"]]
        assert overdue[:4] == ["2026-11-01", "2026-11-02", "2026-11-04", "2026-11-07"]
        caught_up = [c for c in listed if c["automatic"] and c["posted_periods"] >= 2]
        assert len(caught_up) == 2, "the demo's daily and monthly catch-ups: unbroken spans"
