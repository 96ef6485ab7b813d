"""SIGKILL at each step of a posting: after a restart, exactly one entry per period, no gap."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import time
from collections import Counter

import pytest

from tests.support.daemon import DaemonProcess, wait_for
from tests.support.kill_harness import POINTS
from tests.test_daemon_lifecycle import call


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
    wait_for(marker.exists, what=f"the daemon to reach {point}")
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

        runs = wait_for(caught_up, what="catch-up after restart")
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
