"""bexsyncd as a process: signals, restarts, the state-dir lock, sd_notify, and the CLI's exits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from daemon.store.db import DB_NAME
from tests.support.daemon import ROOT, DaemonProcess, demo_daemon
from tests.support_notify import NotifyListener


def cli(socket, *args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "bexsync_tui.cli", "--socket", str(socket), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def call(socket, method, params=None):
    args = [method] if params is None else [method, json.dumps(params)]
    return cli(socket, "call", *args)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_state_written_through_rpc_survives_a_restart(tmp_path, sig):
    daemon = DaemonProcess(tmp_path).start()
    try:
        made = call(
            daemon.socket, "authorisations.create", {"name": "Books", "provider": "sandbox"}
        )
        assert made.returncode == 0, made.stderr
        auth_id = json.loads(made.stdout)["authorisation"]["id"]
        assert call(daemon.socket, "authorisations.activate", {"id": auth_id}).returncode == 0
        code = daemon.stop(sig)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        if sig == signal.SIGKILL:
            assert daemon.socket.exists()  # a stale socket from the crash, replaced on start
        daemon.start()
        got = call(daemon.socket, "authorisations.get", {"id": auth_id})
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["status"] == "active"
    finally:
        daemon.stop()


def test_a_second_daemon_on_the_same_state_dir_refuses(tmp_path):
    first = DaemonProcess(tmp_path).start()
    try:
        second = DaemonProcess(tmp_path)
        second.socket = tmp_path / "other.sock"
        second.log = tmp_path / "second.log"
        second.start(wait=False)
        assert second.proc.wait(20) == 3
        assert "already running" in second.output()
        assert call(first.socket, "daemon.hello").returncode == 0
    finally:
        first.stop()


def test_systemd_notifications_ready_status_watchdog_stopping(tmp_path):
    listener = NotifyListener()
    try:
        env = listener.env(watchdog_usec=1_000_000)
        daemon = DaemonProcess(tmp_path, "--demo", env=env).start()
        listener.wait_for("READY=1")
        listener.wait_for(lambda m: any(k == "STATUS" for k, _ in m.fields))
        listener.wait_for("WATCHDOG=1")
        assert daemon.stop(signal.SIGTERM) == 0
        listener.wait_for("STOPPING=1")
    finally:
        listener.close()


def test_cli_exit_codes(tmp_path):
    missing = cli(tmp_path / "nothing.sock", "status")
    assert missing.returncode == 2 and "no daemon answers" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert call(tmp_path / "nothing.sock", "daemon.hello").returncode == 2
    daemon = DaemonProcess(tmp_path).start()
    try:
        ok = cli(daemon.socket, "status")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "healthy" in ok.stdout
        as_json = cli(daemon.socket, "status", "--json")
        assert json.loads(as_json.stdout)["counts"]["configurations"] == 0
        err = call(daemon.socket, "authorisations.get", {"id": 99})
        assert err.returncode == 1
        assert json.loads(err.stderr)["data"]["name"] == "NotFound"
        bad = cli(daemon.socket, "call", "daemon.hello", "{not json")
        assert bad.returncode == 64 and "not valid JSON" in bad.stderr  # EX_USAGE
    finally:
        daemon.stop()


def test_demo_sync_wait_posts_and_status_reports_attention(tmp_path):
    daemon = DaemonProcess(tmp_path, "--demo").start()
    try:
        configs = json.loads(call(daemon.socket, "configurations.list").stdout)
        manual = next(c for c in configs if not c["automatic"])
        synced = cli(daemon.socket, "sync", str(manual["id"]), "--wait")
        assert synced.returncode == 0, synced.stderr
        run = json.loads(synced.stdout)
        assert run["state"] == "posted" and run["entry_id"]
        assert "posted" in synced.stderr
        again = cli(daemon.socket, "sync", str(manual["id"]), "--period", run["period"], "--wait")
        assert again.returncode == 1 and "already synced" in again.stderr
    finally:
        daemon.stop()


@pytest.mark.slow(seconds=4)
async def test_stopping_while_syncs_are_in_flight_settles_every_run(caplog):
    """Stops land at every stage of a sync (the manual one and the start-up catch-up): each
    stop ends, no run fails unexpectedly, and none is left active in the database."""
    caplog.set_level("ERROR", logger="bexsync")
    for i in range(8):
        tmp = Path(tempfile.mkdtemp(prefix="bx-stop-"))  # the socket path must stay short
        async with demo_daemon(tmp) as (_app, client):
            configs = await client.call("configurations.list")
            manual = next(c for c in configs if not c["automatic"])
            await client.call("syncs.run", {"configuration_id": manual["id"]})
            await asyncio.sleep(0.03 * i)
        with contextlib.closing(sqlite3.connect(tmp / "state" / DB_NAME)) as db:
            active = db.execute(
                "SELECT id, trigger, state, stage FROM runs WHERE state IN "
                "('queued', 'fetching', 'building', 'posting')"
            ).fetchall()
        assert active == [], f"stop {i} left runs active: {active}"
        shutil.rmtree(tmp, ignore_errors=True)
    unexpected = [r.getMessage() for r in caplog.records if "unexpectedly" in r.getMessage()]
    assert unexpected == []
