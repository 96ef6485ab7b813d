"""Corrections keep hand edits (issue 16.1): a re-sync and the drift check compare the PMS now
with the PMS at the period's last posting, never with the posted (hand-edited) lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bexsync_tui.client import Client
from daemon.store.db import DB_NAME
from tests.support.clock import Clock
from tests.support.daemon import DaemonProcess, demo_daemon, wait_run
from tests.test_daemon_lifecycle import cli

PERIOD = "2026-10"
Totals = dict[tuple[str, str | None], Decimal]


def totals(lines: list[dict[str, Any]]) -> Totals:
    out: Totals = defaultdict(Decimal)
    for line in lines:
        out[(line["account"], line["vat_code"])] += Decimal(line["debit"]) - Decimal(line["credit"])
    return {k: v for k, v in out.items() if v}


def plus(*parts: Totals) -> Totals:
    out: Totals = defaultdict(Decimal)
    for part in parts:
        for k, v in part.items():
            out[k] += v
    return {k: v for k, v in out.items() if v}


def forget_snapshots(database: Path) -> None:
    """As a database from before version 5 holds its entries (in a thread: the daemon under
    test shares this event loop)."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        db.execute("UPDATE entries SET source_lines = NULL")
        db.commit()


async def run(client: Client, params: dict[str, Any]) -> dict[str, Any]:
    return await wait_run(client, (await client.call("syncs.run", params))["run_id"])


async def pms_now(client: Client, config_id: int) -> Totals:
    """What the PMS says now, mapped: a preview by a second, never-posted configuration."""
    draft = await client.call("syncs.preview", {"configuration_id": config_id, "period": PERIOD})
    assert draft["kind"] == "entry"
    return totals(draft["lines"])


async def reference_configuration(client: Client, admin_id: str) -> int:
    created = await client.call("authorisations.create", {"name": "Ref", "provider": "sandbox"})
    auth_id = created["authorisation"]["id"]
    await client.call("authorisations.activate", {"id": auth_id})
    cfg = await client.call(
        "configurations.create",
        {
            "authorisation_id": auth_id,
            "administration_id": admin_id,
            "frequency": "monthly",
            "ledger_id": "MEM",
            "start_date": "2026-08-01",
            "delay_days": 0,
            "automatic": False,
            "no_vat_code": "NONE",
            "activate": True,
        },
    )
    return int(cfg["id"])


async def test_a_hand_edit_survives_resyncs_and_a_pms_change_is_corrected_exactly(tmp_path):
    clock = Clock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))  # October just due
    async with demo_daemon(tmp_path, clock=clock) as (app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        await client.call("configurations.update", {"id": manual["id"], "delay_days": 0})
        ref = await reference_configuration(client, manual["administration_id"])
        draft = await client.call(
            "syncs.preview", {"configuration_id": manual["id"], "period": PERIOD}
        )
        then = totals(draft["lines"])
        # The bookkeeper moves 0.01 between two credit lines (still balanced) and posts.
        lines = draft["lines"]
        a, b = [i for i, line in enumerate(lines) if line["credit"] != "0.00"][:2]
        lines[a]["credit"] = f"{Decimal(lines[a]['credit']) + Decimal('0.01'):.2f}"
        lines[b]["credit"] = f"{Decimal(lines[b]['credit']) - Decimal('0.01'):.2f}"
        edit = plus(totals(lines), {k: -v for k, v in then.items()})
        assert edit  # two lines moved by 0.01
        draft = await client.call("drafts.update", {"id": draft["id"], "lines": lines})
        posted = await run(client, {"configuration_id": manual["id"], "draft_id": draft["id"]})
        assert posted["state"] == "posted"
        # Nothing changed in the PMS: no drift, a re-sync posts nothing, the preview says so.
        assert await app.corrections.check_drift(manual["id"], PERIOD) is None
        again = await run(
            client, {"configuration_id": manual["id"], "period": PERIOD, "force": True}
        )
        assert (again["state"], again["entry_id"]) == ("posted", None)
        preview = await client.call(
            "syncs.preview", {"configuration_id": manual["id"], "period": PERIOD}
        )
        assert (preview["kind"], preview["lines"]) == ("correction", [])
        assert preview["corrects"] == posted["entry_id"]
        notes = await client.call("notifications.list")
        assert not [n for n in notes if "changed after posting" in n["title"]]
        # Back-dated bookings reach October in the PMS as the days pass.
        clock.now += timedelta(days=12)
        now = await pms_now(client, ref)
        change = plus(now, {k: -v for k, v in then.items()})
        assert change, "the demo PMS back-dates some bookings into October"
        drift = await app.corrections.check_drift(manual["id"], PERIOD)
        assert drift is not None and drift["period"] == PERIOD
        notes = await client.call("notifications.list")
        [note] = [n for n in notes if "changed after posting" in n["title"]]
        assert manual["label"] in note["title"]
        # The confirmation shows exactly the PMS's difference, and that is what is posted.
        preview = await client.call(
            "syncs.preview", {"configuration_id": manual["id"], "period": PERIOD}
        )
        assert preview["kind"] == "correction" and totals(preview["lines"]) == change
        fixed = await run(
            client, {"configuration_id": manual["id"], "period": PERIOD, "force": True}
        )
        correction = await client.call("entries.get", {"id": fixed["entry_id"]})
        assert (correction["kind"], correction["corrects"]) == ("correction", posted["entry_id"])
        assert totals(correction["lines"]) == change
        listed = await client.call("entries.list", {"configuration_id": manual["id"]})
        assert [(e["kind"], e["corrects"]) for e in listed] == [
            ("correction", posted["entry_id"]),
            ("entry", None),
        ]
        # What the ledger holds for October: the PMS now plus the bookkeeper's edit.
        entries = [await client.call("entries.get", {"id": e["id"]}) for e in listed]
        held = plus(*(totals(e["lines"]) for e in entries))
        assert held == plus(now, edit)
        assert await app.corrections.check_drift(manual["id"], PERIOD) is None


async def test_entries_posted_before_snapshots_get_one_rebuilt_or_the_user_is_told(tmp_path):
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    async with demo_daemon(tmp_path, clock=clock) as (app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        plain = await run(client, {"configuration_id": manual["id"], "period": "2026-09"})
        draft = await client.call(
            "syncs.preview", {"configuration_id": manual["id"], "period": PERIOD}
        )
        lines = draft["lines"]
        a, b = [i for i, line in enumerate(lines) if line["credit"] != "0.00"][:2]
        lines[a]["credit"] = f"{Decimal(lines[a]['credit']) + Decimal('0.01'):.2f}"
        lines[b]["credit"] = f"{Decimal(lines[b]['credit']) - Decimal('0.01'):.2f}"
        draft = await client.call("drafts.update", {"id": draft["id"], "lines": lines})
        edited = await run(client, {"configuration_id": manual["id"], "draft_id": draft["id"]})
        # As a database from before version 5 holds them: no snapshot of the PMS.
        await asyncio.to_thread(forget_snapshots, app.state_dir / DB_NAME)
        # Untouched and unchanged: the snapshot is rebuilt from the PMS; nothing to correct.
        preview = await client.call(
            "syncs.preview", {"configuration_id": manual["id"], "period": "2026-09"}
        )
        assert preview["lines"] == [] and preview["corrects"] == plain["entry_id"]
        assert "no_snapshot" not in [w["code"] for w in preview["warnings"]]
        # Hand-edited: a PMS change cannot be told from the edit, and the preview says so.
        preview = await client.call(
            "syncs.preview", {"configuration_id": manual["id"], "period": PERIOD}
        )
        assert preview["corrects"] == edited["entry_id"]
        [warning] = [w for w in preview["warnings"] if w["code"] == "no_snapshot"]
        assert "hand edit" in warning["message"]


def test_the_cli_shows_the_correction_before_a_forced_resync(tmp_path):
    daemon = DaemonProcess(tmp_path, "--demo").start()
    try:
        configs = json.loads(cli(daemon.socket, "call", "configurations.list").stdout)
        manual = next(c for c in configs if not c["automatic"])
        first = cli(daemon.socket, "sync", str(manual["id"]), "--wait")
        assert first.returncode == 0, first.stderr
        period = json.loads(first.stdout)["period"]
        asked = cli(daemon.socket, "sync", str(manual["id"]), "--period", period, "--force")
        assert asked.returncode == 1  # no terminal to ask on, and no --yes: nothing posted
        assert f"Period {period} is already posted." in asked.stderr
        assert "Nothing changed in the PMS" in asked.stderr and "--yes" in asked.stderr
        done = cli(
            daemon.socket,
            "sync",
            str(manual["id"]),
            "--period",
            period,
            "--force",
            "--yes",
            "--wait",
        )
        run = json.loads(done.stdout)
        assert (run["state"], run["entry_id"]) == ("posted", None), done.stderr
    finally:
        daemon.stop()
