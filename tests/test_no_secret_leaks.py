"""Planted secrets never reach logs, RPC results, notifications or the metrics file.

A demo daemon with every provider simulator runs at DEBUG; we drive logins, activations,
options, previews, posts and failures through the CLI, then grep everything it printed for every
secret it holds (PMS key, provider tokens and API keys, client secret files).
"""

from __future__ import annotations

import json
import sqlite3

from tests.support.daemon import DaemonProcess
from tests.test_daemon_lifecycle import call, cli


def _secrets(state_dir) -> set[str]:
    found: set[str] = set()
    with sqlite3.connect(state_dir / "bexsync.sqlite3") as db:
        (pms_key,) = db.execute("SELECT api_key FROM pms_connection").fetchone()
        found.add(json.loads(pms_key))
        for (data,) in db.execute("SELECT data FROM credentials"):
            for value in json.loads(data).values():
                token = json.loads(value) if value.startswith("{") else None
                if token:
                    found |= {token.get("access_token"), token.get("refresh_token")}
                else:
                    found.add(value)
    for path in (state_dir / "demo-providers").glob("*"):
        if path.is_file():
            found.add(path.read_text().strip())
    return {s for s in found if s and len(s) >= 8}


def test_no_secret_in_logs_results_or_metrics(tmp_path):
    metrics = tmp_path / "bexsync.prom"
    daemon = DaemonProcess(
        tmp_path,
        "--demo",
        "--demo-providers",
        "all",
        "--log-level",
        "DEBUG",
        "--metrics-file",
        str(metrics),
    ).start(timeout=60)
    outputs: list[str] = []
    try:

        def run(*args):
            result = call(daemon.socket, *args)
            outputs.extend([result.stdout, result.stderr])
            return result

        auths = json.loads(run("authorisations.list").stdout)
        for auth in auths:
            run("authorisations.activate", {"id": auth["id"]})
            run("configurations.options", {"authorisation_id": auth["id"]})
        for config in json.loads(run("configurations.list").stdout):
            run("configurations.activate", {"id": config["id"]})
            run("syncs.preview", {"configuration_id": config["id"]})
        manual = [c for c in json.loads(run("configurations.list").stdout) if not c["automatic"]]
        for config in manual[:4]:
            result = cli(daemon.socket, "sync", str(config["id"]), "--wait")
            outputs.extend([result.stdout, result.stderr])
        run("notifications.list")
        run("daemon.status")
        run("authorisations.complete", {"id": auths[-1]["id"], "code": "not-a-real-code"})
        secrets = _secrets(daemon.state_dir)
    finally:
        daemon.stop()
    assert len(secrets) >= 5, secrets
    haystacks = {"daemon log": daemon.output(), "rpc output": "\n".join(outputs)}
    if metrics.exists():
        haystacks["metrics"] = metrics.read_text()
    assert "DEBUG" in haystacks["daemon log"]
    leaks = [
        (where, s[:6] + "...") for where, text in haystacks.items() for s in secrets if s in text
    ]
    assert leaks == []
