"""SIGKILL series: ``bexsyncd`` (a real child process) killed at seeded random points, restarted.

Each iteration starts the demo daemon, asks it to sync the next period of twelve manual daily
configurations (so postings are in flight), and kills it with SIGKILL after a seeded random
delay: sometimes before it is even ready (during recovery), mostly while runs fetch, build, post
or record. Before each restart the dead daemon's database says which states runs were caught in.
At the end a clean daemon settles everything, and the sandbox ledger is compared with what the
daemon knows: no duplicate, no entry missing on either side, no gap in the posted periods.
"""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from providers.sandbox import LEDGER_FILE
from tests.reliability.feeds import RpcFailed, name_counts, rpc, seed_feeds
from tests.support.daemon import DaemonProcess
from tests.support.waiting import until_sync

WORK_AUTHS = 4
"""Sandbox authorisations, each with a manual daily configuration per administration: enough
due periods (about 4 x 3 x 150) that the series never runs out of work to interrupt."""
WORK_DAYS = 150
SETTLE_TIMEOUT = 120.0
ACTIVE = ("queued", "fetching", "building", "posting")


@dataclass
class KillSeriesResult:
    iterations: int
    seed: int
    caught: Counter[str] = field(default_factory=Counter)  # run states found after a kill
    kills_before_ready: int = 0
    runs_started: int = 0
    posted: int = 0  # entries in the sandbox ledger for the series' configurations
    duplicates: int = 0
    missing_at_provider: int = 0  # the daemon lists it, the ledger does not have it
    unknown_to_daemon: int = 0  # the ledger has it, the daemon does not know it
    gaps: int = 0  # due periods skipped between posted ones
    stuck_runs: int = 0
    answering: bool = False
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        return not self.problems


def _caught_states(state_dir: Path) -> Counter[str]:
    db = state_dir / "bexsync.sqlite3"
    if not db.exists():
        return Counter()
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM runs WHERE state IN (?, ?, ?, ?) GROUP BY state", ACTIVE
        ).fetchall()
    return Counter({state: n for state, n in rows})


def _give_work(sock: Path, configs: list[dict[str, Any]]) -> int:
    """Start the next period of each configuration; how many runs started."""
    started = 0
    for cfg in configs:
        try:
            rpc(sock, "syncs.run", {"configuration_id": cfg["id"]}, timeout=5)
            started += 1
        except (RpcFailed, OSError, ValueError):
            pass  # that configuration is still busy (Conflict), or the daemon is not ready
    return started


def _settled(sock: Path) -> bool:
    try:
        runs = rpc(sock, "syncs.list", {"limit": 1000})
    except (RpcFailed, OSError, ValueError):
        return False
    return not any(r["state"] in ACTIVE for r in runs)


def run_series(
    iterations: int,
    workdir: Path,
    *,
    seed: int = 20261128,
    on_iteration: Callable[[int, Counter[str]], None] | None = None,
) -> KillSeriesResult:
    rng = random.Random(seed)
    result = KillSeriesResult(iterations=iterations, seed=seed)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    daemon = DaemonProcess(workdir, "--demo")
    daemon.start()
    try:
        start = date.today() - timedelta(days=WORK_DAYS)
        configs = seed_feeds(
            daemon.socket, logins=WORK_AUTHS, name="Kill series", start=start, end=None,
            automatic=False,
        )  # fmt: skip
    finally:
        daemon.stop(signal.SIGKILL)
    for i in range(iterations):
        before_ready = rng.random() < 0.15
        delay = rng.uniform(0.0, 0.5)
        if before_ready:
            daemon.start(wait=False)
            time.sleep(rng.uniform(0.2, 1.5))
            result.kills_before_ready += 1
        else:
            daemon.start()
            # Keep every configuration busy until the kill: one run takes tens of ms.
            deadline = time.monotonic() + delay
            while True:
                result.runs_started += _give_work(daemon.socket, configs)
                if time.monotonic() >= deadline:
                    break
                time.sleep(min(0.01, max(deadline - time.monotonic(), 0)))
        daemon.stop(signal.SIGKILL)
        caught = _caught_states(daemon.state_dir)
        caught = caught or Counter({"idle": 1})
        result.caught.update(caught)
        if on_iteration is not None:
            on_iteration(i, caught)
    daemon.start()
    try:
        try:
            until_sync(lambda: _settled(daemon.socket), timeout=SETTLE_TIMEOUT, what="settling")
        except AssertionError:
            active = [r for r in rpc(daemon.socket, "syncs.list", {"limit": 1000})
                      if r["state"] in ACTIVE]  # fmt: skip
            result.problems.append(f"runs did not settle: {active}")
        result.answering = "counts" in rpc(daemon.socket, "daemon.status")
        known = _known_references(daemon.socket, configs)
        runs = rpc(daemon.socket, "syncs.list", {"limit": 1000})
    finally:
        daemon.stop()
    result.stuck_runs = sum(1 for r in runs if r["state"] in ACTIVE)
    _compare(result, daemon.state_dir / LEDGER_FILE, configs, known)
    result.seconds = time.monotonic() - started
    return result


def _known_references(sock: Path, configs: list[dict[str, Any]]) -> dict[int, list[str]]:
    known: dict[int, list[str]] = {}
    for cfg in configs:
        entries = rpc(sock, "entries.list", {"configuration_id": cfg["id"], "limit": 1000})
        known[cfg["id"]] = [e["reference"] for e in entries]
    return known


def _compare(
    result: KillSeriesResult,
    ledger: Path,
    configs: list[dict[str, Any]],
    known: dict[int, list[str]],
) -> None:
    with contextlib.closing(sqlite3.connect(ledger)) as conn:
        refs = Counter(r[0] for r in conn.execute("SELECT reference FROM journal_entries"))
    for cfg in configs:
        prefix = f"bexsync:{cfg['id']}:"
        at_provider = Counter({r: n for r, n in refs.items() if r.startswith(prefix)})
        daemon_refs = Counter(known[cfg["id"]])
        result.posted += sum(at_provider.values())
        result.duplicates += sum(n - 1 for n in at_provider.values() if n > 1)
        result.duplicates += sum(n - 1 for n in daemon_refs.values() if n > 1)
        result.missing_at_provider += len(set(daemon_refs) - set(at_provider))
        result.unknown_to_daemon += len(set(at_provider) - set(daemon_refs))
        done = sorted(_done_periods(ledger.parent, cfg["id"]))
        if done:
            first = date.fromisoformat(cfg["start_date"])
            span = (date.fromisoformat(done[-1]) - first).days + 1
            result.gaps += span - len(done)
    name_counts(
        result.problems,
        (result.duplicates, "duplicate entries"),
        (result.missing_at_provider, "entries missing at the provider"),
        (result.unknown_to_daemon, "entries the daemon does not know"),
        (result.gaps, "periods skipped"),
        (result.stuck_runs, "runs left active"),
    )
    if not result.answering:
        result.problems.append("daemon.status did not answer")


def _done_periods(state_dir: Path, config_id: int) -> set[str]:
    """Periods the daemon recorded as done: posted, or empty (no transactions, no entry)."""
    with contextlib.closing(sqlite3.connect(state_dir / "bexsync.sqlite3")) as conn:
        rows = conn.execute(
            "SELECT period FROM period_status WHERE configuration_id = ?", (config_id,)
        ).fetchall()
    return {r[0] for r in rows}


def summary(result: KillSeriesResult) -> str:
    caught = ", ".join(f"{k} {v}" for k, v in sorted(result.caught.items()))
    return (
        f"SIGKILL series: {result.iterations} kills (seed {result.seed}, "
        f"{result.kills_before_ready} before the daemon was ready; {result.runs_started} runs "
        f"started) in {result.seconds:.0f} s\n"
        f"  runs caught by a kill: {caught}\n"
        f"  entries at the provider: {result.posted}; duplicates {result.duplicates}; "
        f"missing at the provider {result.missing_at_provider}; unknown to the daemon "
        f"{result.unknown_to_daemon}; skipped periods {result.gaps}; runs left active "
        f"{result.stuck_runs}; daemon answering afterwards: "
        f"{'yes' if result.answering else 'NO'}"
        + ("" if result.ok() else f"\n  PROBLEMS: {'; '.join(result.problems)}")
    )
