"""Failover on a shared PostgreSQL store: three ``bexsyncd`` processes, one database, one sandbox
ledger, one simulated PMS; every few seconds one daemon, chosen at random, gets SIGKILL and is
started again (a new daemon: its leases are its peers' to take over once its heartbeat is older
than the lease).

The work is automatic daily configurations whose periods are all due at once (a catch-up), so
the three schedulers compete for them all the time. At the end, with every daemon alive again
and every run settled, the ledger and the database must agree: every due period posted exactly
once, none missing, no run left active. The takeover time of a kill is from the SIGKILL until
no lease is held by the dead daemon any more (a peer took each one and recovered its runs).

``python -m tests.reliability.failover`` (``make scale-check``) prints one RESULT line and exits
non-zero unless it shows 0 duplicates, 0 missing, every period posted, at least ``--min-kills``
kills and every takeover within the lease.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from providers.tokens import SecretBox
from tests.reliability.feeds import name_counts, rpc, seed_feeds
from tests.support.daemon import ROOT, DaemonProcess
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.waiting import until_sync

ACTIVE = ("queued", "fetching", "building", "posting")
API_KEY = "failover-pms-key-0001"
AUTHORISATIONS = 4
"""Sandbox authorisations; each has a configuration per administration of the PMS (3)."""


@dataclass
class FailoverResult:
    daemons: int
    periods: int = 0
    kills: int = 0
    posted: int = 0
    duplicates: int = 0
    missing: int = 0
    unsettled: int = 0
    takeovers: list[float] = field(default_factory=list)
    lease_seconds: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def takeover_p99(self) -> float:
        if not self.takeovers:
            return 0.0
        ordered = sorted(self.takeovers)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

    def line(self) -> str:
        return (
            f"RESULT scale: daemons={self.daemons} kills={self.kills} periods={self.periods} "
            f"posted={self.posted} duplicates={self.duplicates} missing={self.missing} "
            f"takeover_p99={self.takeover_p99:.1f}s"
        )

    def ok(self) -> bool:
        return not self.problems


class Daemon(DaemonProcess):
    """``bexsyncd`` with a config file of its own (the shared store, ledger and key)."""

    def __init__(self, tmp: Path, config: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        super().__init__(tmp)
        self.config = config

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index(os.devnull)] = str(self.config)
        return cmd

    def instance_id(self) -> str:
        return str(rpc(self.socket, "daemon.hello")["instance_id"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_pms(workdir: Path, today: date, delay: float) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = (workdir / "pms.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.slow_pms", "--port", str(port),
         "--api-key", API_KEY, "--today", today.isoformat(), "--delay", str(delay)],
        stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    log.close()
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        return False

    until_sync(answering, what="the PMS simulator")
    return proc, url


def _write_config(workdir: Path, url: str, lease: float, concurrency: int) -> Path:
    key = workdir / "encryption.key"
    if not key.exists():
        key.write_bytes(SecretBox.generate_key())
        key.chmod(0o600)
    path = workdir / "bexsyncd.toml"
    path.write_text(
        f'[daemon]\nencryption_key_file = "{key}"\nmax_concurrent_syncs = {concurrency}\n\n'
        f"[pms]\npage_size = 1000\n\n"
        f'[store]\nurl = "{url}"\nlease_seconds = {lease}\n\n'
        f'[providers.sandbox]\nledger_file = "{workdir / "shared-ledger.sqlite3"}"\n'
    )
    return path


def _seed(sock: Path, pms_url: str, days: int, today: date) -> list[dict[str, Any]]:
    """Automatic daily configurations, ``days`` periods each, all of them due already."""
    rpc(sock, "pms.connect", {"base_url": pms_url, "api_key": API_KEY}, timeout=30)
    admins = rpc(sock, "administrations.list")
    for admin in admins:
        rpc(sock, "administrations.set_access", {"id": admin["id"], "access": True})
    end = today - timedelta(days=2)
    start = end - timedelta(days=days - 1)
    return seed_feeds(
        sock, logins=AUTHORISATIONS, name="Failover", start=start, end=end, automatic=True
    )


class TakeoverWatch:
    """Times each kill's takeover: until no lease names the dead daemon any more."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._pending: dict[str, float] = {}
        self.times: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def killed(self, node_id: str, at: float) -> None:
        with self._lock:
            self._pending[node_id] = at

    def waiting(self) -> int:
        with self._lock:
            return len(self._pending)

    def _watch(self) -> None:
        """Samples the leases every 0.05 s (the timing's resolution) until ``close()``: a
        measurement for the run's whole length, not a wait for one event."""
        with psycopg.connect(self._url, autocommit=True) as conn:
            while True:
                held = {
                    r[0]
                    for r in conn.execute(
                        "SELECT DISTINCT daemon_id FROM leases WHERE daemon_id IS NOT NULL"
                    )
                }
                now = time.monotonic()
                with self._lock:
                    for node, at in list(self._pending.items()):
                        if node not in held:
                            if now - at > 0.05:  # held at the kill: a real takeover
                                self.times.append(now - at)
                            del self._pending[node]
                if self._stop.wait(0.05):  # close() ends the watch
                    return

    def holds(self, node_id: str) -> bool:
        with psycopg.connect(self._url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM leases WHERE daemon_id = %s", (node_id,)
            ).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def run_failover(
    workdir: Path,
    *,
    server: PostgresServer,
    days: int = 25,
    min_kills: int = 20,
    every: tuple[float, float] = (1.0, 3.0),
    lease: float = 5.0,
    concurrency: int = 1,
    pms_delay: float = 0.3,
    seed: int = 20261202,
    settle_timeout: float = 240.0,
    log: Any = print,
) -> FailoverResult:
    rng = random.Random(seed)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    url = server.create_database("failover")
    result = FailoverResult(daemons=3, lease_seconds=lease)
    today = date.today()
    pms, pms_url = _start_pms(workdir, today, pms_delay)
    config = _write_config(workdir, url, lease, concurrency)
    daemons = [Daemon(workdir / f"d{i}", config) for i in range(3)]
    watch: TakeoverWatch | None = None
    try:
        daemons[0].start()
        configs = _seed(daemons[0].socket, pms_url, days, today)
        watch = TakeoverWatch(url)
        result.periods = days * len(configs)
        for d in daemons[1:]:
            d.start()
        log(f"failover: 3 daemons, {len(configs)} configurations, {result.periods} periods")
        deadline = time.monotonic() + settle_timeout
        while result.kills < min_kills or (
            not _all_posted(url, result.periods) and time.monotonic() < deadline
        ):
            time.sleep(rng.uniform(*every))
            victim = rng.choice(daemons)
            node = victim.instance_id()
            victim.stop(signal.SIGKILL)
            killed_at = time.monotonic()
            result.kills += 1
            if watch is not None and watch.holds(node):
                watch.killed(node, killed_at)
            victim.start()
            log(f"failover: kill {result.kills} ({node[:8]}), {_posted(url)} posted")
        for d in daemons:  # all alive; wait for the work and the takeovers to finish
            if not d.proc or d.proc.poll() is not None:
                d.start()
        try:
            watching = watch
            until_sync(
                lambda: _settled(url, result.periods) and not watching.waiting(),
                timeout=settle_timeout,
                what="every period posted and every run settled",
            )
        except AssertionError as exc:
            result.problems.append(str(exc))
        _check(result, url, workdir / "shared-ledger.sqlite3", configs)
        result.takeovers = list(watch.times) if watch else []
    finally:
        if watch is not None:
            watch.close()
        for d in daemons:
            with contextlib.suppress(Exception):
                d.stop()
        pms.terminate()
        pms.wait(10)
    result.seconds = time.monotonic() - started
    if result.kills < min_kills:
        result.problems.append(f"only {result.kills} kills")
    if result.takeover_p99 > lease:
        result.problems.append(f"takeover p99 {result.takeover_p99:.1f}s exceeds the lease")
    return result


def _posted(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM period_status").fetchone()
    return int(row[0]) if row else 0


def _all_posted(url: str, periods: int) -> bool:
    return _posted(url) >= periods


def _settled(url: str, periods: int) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        active = conn.execute(
            "SELECT count(*) FROM runs WHERE state = ANY(%s)", (list(ACTIVE),)
        ).fetchone()
    return _all_posted(url, periods) and bool(active) and active[0] == 0


def _check(result: FailoverResult, url: str, ledger: Path, configs: list[dict[str, Any]]) -> None:
    with contextlib.closing(sqlite3.connect(ledger)) as conn:
        at_ledger = Counter(r[0] for r in conn.execute("SELECT reference FROM journal_entries"))
    with psycopg.connect(url, autocommit=True) as conn:
        statuses = conn.execute(
            "SELECT configuration_id, period, status FROM period_status"
        ).fetchall()
        result.unsettled = conn.execute(
            "SELECT count(*) FROM runs WHERE state = ANY(%s)", (list(ACTIVE),)
        ).fetchone()[0]  # type: ignore[index]
        entries = Counter(
            r[0] for r in conn.execute("SELECT reference FROM entries WHERE kind = 'entry'")
        )
    posted = {(c, p) for c, p, s in statuses if s == "posted"}
    empty = {(c, p) for c, p, s in statuses if s == "empty"}
    for cfg in configs:
        first = date.fromisoformat(cfg["start_date"])
        last = date.fromisoformat(cfg["end_date"])
        day = first
        while day <= last:
            key = (cfg["id"], day.isoformat())
            ref = f"bexsync:{cfg['id']}:{day.isoformat()}"
            if key in posted and at_ledger[ref] >= 1:
                result.posted += 1
            elif key not in empty:
                result.missing += 1
            day += timedelta(days=1)
    result.duplicates = sum(n - 1 for n in at_ledger.values() if n > 1)
    result.duplicates += sum(n - 1 for n in entries.values() if n > 1)
    if empty:
        result.problems.append(f"{len(empty)} periods had no transactions (not posted)")
    name_counts(
        result.problems,
        (result.duplicates, "duplicate entries"),
        (result.missing, "periods missing"),
        (result.unsettled, "runs left active"),
    )
    if result.posted != result.periods:
        result.problems.append(f"posted {result.posted} of {result.periods} periods")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=25, help="periods per configuration (x12)")
    parser.add_argument("--min-kills", type=int, default=20)
    parser.add_argument("--lease", type=float, default=5.0, help="[store] lease_seconds")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--pms-delay", type=float, default=0.3, help="seconds per PMS answer")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    import tempfile

    with (
        running_postgres() as server,
        tempfile.TemporaryDirectory(prefix="bexsync-failover-") as tmp,
    ):
        result = run_failover(
            args.workdir or Path(tmp), server=server, days=args.days,
            min_kills=args.min_kills, lease=args.lease, seed=args.seed,
            pms_delay=args.pms_delay,
        )  # fmt: skip
    for problem in result.problems:
        print(f"problem: {problem}")
    print(f"failover: {result.seconds:.0f} s, takeovers timed: {len(result.takeovers)}")
    print(result.line())
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
