"""SIGKILL at each step of a posting: after a restart, exactly one entry per period, no gap."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import time
from collections import Counter

import pytest

from tests.support.daemon import DaemonProcess
from tests.support.kill_harness import CORRECTION_POINTS, POINTS
from tests.support.waiting import until_sync
from tests.test_daemon_lifecycle import call, cli


class HarnessedDaemon(DaemonProcess):
    def __init__(self, tmp, point, marker):
        super().__init__(tmp, "--demo")
        self.point, self.marker = point, marker

    def command(self):
        base = super().command()
        return [sys.executable, "-m", "tests.support.kill_harness", self.point,
                str(self.marker), "--", *base[3:]]  # fmt: skip


@pytest.mark.slow(seconds=3)
@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_step_of_a_posting(tmp_path, point):
    marker = tmp_path / "paused"
    first = HarnessedDaemon(tmp_path, point, marker).start()
    until_sync(marker.exists, what=f"the daemon to reach {point}")
    first.stop(signal.SIGKILL)

    second = DaemonProcess(tmp_path, "--demo").start()
    try:
        daily = next(
            c
            for c in json.loads(call(second.socket, "configurations.list").stdout)
            if c["frequency"] == "daily"
        )

        def caught_up():
            runs = json.loads(
                call(second.socket, "syncs.list", {"configuration_id": daily["id"]}).stdout
            )
            busy = any(r["state"] in ("queued", "fetching", "building", "posting") for r in runs)
            cfg = json.loads(call(second.socket, "configurations.get", {"id": daily["id"]}).stdout)
            due_now = cfg["next_due"] and cfg["next_due"]["due_at"] <= time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime()
            )
            return not busy and not due_now and runs

        runs = until_sync(caught_up, what="catch-up after restart")
        entries = json.loads(
            call(
                second.socket, "entries.list", {"configuration_id": daily["id"], "limit": 1000}
            ).stdout
        )
    finally:
        second.stop()
    ledger = tmp_path / "state" / "sandbox-ledger.sqlite3"
    with sqlite3.connect(ledger) as conn:
        refs = Counter(
            r[0]
            for r in conn.execute(
                "SELECT reference FROM journal_entries WHERE reference LIKE ?",
                (f"bexsync:{daily['id']}:%",),
            )
        )
    # Exactly one entry per period at the provider ...
    assert refs and max(refs.values()) == 1, refs
    # ... the daemon knows each of them, once ...
    assert Counter(e["reference"] for e in entries) == refs
    # ... and no gap: every day from the start date to the last due day is posted.
    periods = sorted(e["period"] for e in entries)
    from datetime import date, timedelta

    first_day = date.fromisoformat(periods[0])
    last_day = date.fromisoformat(periods[-1])
    expected = {
        (first_day + timedelta(days=i)).isoformat() for i in range((last_day - first_day).days + 1)
    }
    assert set(periods) == expected
    assert daily["start_date"] == periods[0]
    assert all(r["state"] != "posting" for r in runs)


@pytest.mark.slow(seconds=3)
@pytest.mark.parametrize("point", CORRECTION_POINTS)
def test_sigkill_between_posting_a_correction_and_recording_it(tmp_path, point):
    """A correction the user edited (the only kind a frozen PMS gives) is posted once, and
    recorded once, linked to the entry it corrects, whichever side of the record a kill lands."""
    marker = tmp_path / "paused"
    first = HarnessedDaemon(tmp_path, point, marker).start()
    configs = json.loads(call(first.socket, "configurations.list").stdout)
    manual = next(c for c in configs if not c["automatic"])
    synced = cli(first.socket, "sync", str(manual["id"]), "--wait")
    original = json.loads(synced.stdout)
    period = original["period"]
    draft = json.loads(
        call(
            first.socket, "syncs.preview", {"configuration_id": manual["id"], "period": period}
        ).stdout
    )
    assert draft["kind"] == "correction" and draft["lines"] == []
    posted = json.loads(call(first.socket, "entries.get", {"id": original["entry_id"]}).stdout)
    a, b = posted["lines"][0], posted["lines"][1]
    moved = [
        {"account": a["account"], "vat_code": a["vat_code"], "debit": "1.00", "credit": "0.00"},
        {"account": b["account"], "vat_code": b["vat_code"], "debit": "0.00", "credit": "1.00"},
    ]
    call(first.socket, "drafts.update", {"id": draft["id"], "lines": moved})
    call(
        first.socket,
        "syncs.run",
        {"configuration_id": manual["id"], "draft_id": draft["id"], "force": True},
    )
    until_sync(marker.exists, what=f"the daemon to reach {point}")
    first.stop(signal.SIGKILL)

    second = DaemonProcess(tmp_path, "--demo").start()
    try:

        def settled():
            found = json.loads(
                call(second.socket, "entries.list", {"configuration_id": manual["id"]}).stdout
            )
            corrections = [e for e in found if e["kind"] == "correction"]
            return corrections if corrections else None

        corrections = until_sync(settled, what="the correction recorded after the restart")
        runs = json.loads(
            call(second.socket, "syncs.list", {"configuration_id": manual["id"]}).stdout
        )
    finally:
        second.stop()
    with sqlite3.connect(tmp_path / "state" / "sandbox-ledger.sqlite3") as conn:
        refs = [
            r[0]
            for r in conn.execute(
                "SELECT reference FROM journal_entries WHERE reference LIKE ?",
                (f"bexsync:{manual['id']}:{period}%",),
            )
        ]
    reference = f"bexsync:{manual['id']}:{period}:c1"
    assert sorted(refs) == sorted([f"bexsync:{manual['id']}:{period}", reference])
    [correction] = corrections
    assert (correction["reference"], correction["corrects"]) == (reference, original["entry_id"])
    assert correction["total"] == "1.00"
    assert all(r["state"] != "posting" for r in runs)
