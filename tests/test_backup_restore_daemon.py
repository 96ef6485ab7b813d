"""A backup taken while syncs run restores to a working daemon; metrics follow each run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.support.daemon import ROOT, DaemonProcess
from tests.support.waiting import until_sync
from tests.test_daemon_lifecycle import call


def backup_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "daemon.backup", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.slow(seconds=4)
def test_backup_while_syncing_restores_to_a_working_daemon(tmp_path):
    metrics = tmp_path / "bexsync.prom"
    daemon = DaemonProcess(tmp_path, "--demo", "--metrics-file", str(metrics)).start()
    try:
        # The demo's catch-up is syncing while the backups are taken.
        backups = []
        for i in range(3):
            done = backup_cli("--state-dir", str(daemon.state_dir), "backup",
                              str(tmp_path / f"b{i}.sqlite3"))  # fmt: skip
            assert done.returncode == 0, done.stderr
            backups.append(tmp_path / f"b{i}.sqlite3")
            time.sleep(0.3)  # spreads the backups over the catch-up; no test waits on it
        refused = backup_cli("--state-dir", str(daemon.state_dir), "restore", str(backups[-1]))
        assert refused.returncode == 1 and "running" in (refused.stderr + refused.stdout)

        # The metrics file is rewritten as runs finish: wait for one that counts a posted run.
        def counting_a_posted_run() -> str | None:
            text = metrics.read_text() if metrics.exists() else ""
            return text if 'bexsync_runs_total{state="posted"}' in text else None

        text = until_sync(counting_a_posted_run, what="the metrics file to count a posted run")
        assert "bexsync_up 1" in text
        entries_then = json.loads(call(daemon.socket, "entries.list", {"limit": 1000}).stdout)
    finally:
        assert daemon.stop() == 0
    assert "bexsync_up 0" in metrics.read_text()  # written once more on the way down

    restored = DaemonProcess(tmp_path / "restored")
    restored.state_dir.mkdir(parents=True, mode=0o700)
    done = backup_cli("--state-dir", str(restored.state_dir), "restore", str(backups[-1]))
    assert done.returncode == 0, done.stderr
    restored.start()
    try:
        status = json.loads(call(restored.socket, "daemon.status").stdout)
        assert status["counts"]["configurations"] == 3
        entries = json.loads(call(restored.socket, "entries.list", {"limit": 1000}).stdout)
        assert {e["reference"] for e in entries} <= {e["reference"] for e in entries_then}
        assert json.loads(call(restored.socket, "authorisations.list").stdout)[0]["name"] == (
            "Demo sandbox"
        )
    finally:
        restored.stop()
