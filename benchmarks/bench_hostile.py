"""Hostile clients (issue 17): how long an innocent client waits, and how long the event loop
stalls, while each attack of tests/support/hostile.py runs against a real daemon.

Figures per attack: the innocent client's worst and median ``daemon.hello`` latency (a call
every 20 ms on its own connection) and the longest gap between the daemon's watchdog pings
(``WATCHDOG_USEC`` = 0.2 s, so a ping every 0.1 s: the gap less 0.1 s is the worst loop
stall), plus the daemon's RSS after it. Goal (issue 17.3): every figure under 1 s.
Baseline in the same run: the same probe with no attack. RELIABILITY.md has the table.
Run: .venv/bin/python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _result import result  # noqa: E402

from tests.support import hostile  # noqa: E402
from tests.support.daemon import wait_listening  # noqa: E402

GOAL_S = 1.0
WATCHDOG_USEC = 200_000


class WatchdogListener:
    """The notify socket systemd would own: records when each WATCHDOG=1 arrives."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.5)
        self.pings: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if b"WATCHDOG=1" in data:
                self.pings.append(time.monotonic())

    def worst_gap(self, since: float, until: float) -> float:
        times = [t for t in self.pings if since <= t <= until]
        edges = [since, *times, until]
        return max(b - a for a, b in itertools.pairwise(edges))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_daemon(tmp: Path, notify: Path) -> subprocess.Popen[bytes]:
    sock = tmp / "bexsyncd.sock"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NOTIFY_SOCKET": str(notify),
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
    }
    log = (tmp / "bexsyncd.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.main", "--state-dir", str(tmp / "state"),
         "--socket", str(sock), "--config", os.devnull, "--demo"],
        stdout=log, stderr=log, env=env,
    )  # fmt: skip
    wait_listening(proc, sock, tmp / "bexsyncd.log")
    for config in hostile.call(sock, "configurations.list"):  # quiet: no runs meanwhile
        hostile.call(sock, "configurations.deactivate", {"id": config["id"]})
    return proc


ATTACKER = (
    "import sys; from pathlib import Path; from tests.support import hostile; "
    "print(hostile.ATTACKS[sys.argv[1]](Path(sys.argv[2])))"
)


def attack_from_another_process(name: str, path: Path) -> str:
    """The attack in a process of its own: its JSON parsing must not hold this process's
    GIL, or the probe and the watchdog listener here would measure the attacker."""
    done = subprocess.run(
        [sys.executable, "-c", ATTACKER, name, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"attack {name!r} failed:\n{done.stderr}")
    return done.stdout.strip()


def main() -> int:
    rows: list[tuple[str, str, float, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as top:
        tmp = Path(top)
        watchdog = WatchdogListener(tmp / "notify.sock")
        proc = start_daemon(tmp, tmp / "notify.sock")
        path = tmp / "bexsyncd.sock"
        try:
            for name in ["(no attack: baseline)", *hostile.ATTACKS]:
                started = time.monotonic()
                with hostile.Probe(path) as probe:
                    if name in hostile.ATTACKS:
                        outcome = attack_from_another_process(name, path)
                    else:
                        time.sleep(3)
                        outcome = "-"
                ended = time.monotonic()
                assert not probe.failures, (name, probe.failures)
                lat = probe.latencies
                rows.append(
                    (name, outcome, max(lat), statistics.median(lat),
                     watchdog.worst_gap(started, ended), rss_mb(proc.pid))
                )  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(60)
            watchdog.close()
    print(
        f"{'attack':38} {'outcome':42} {'hello max':>9} {'median':>7} {'wd gap':>7} {'RSS MB':>7}"
    )
    for name, outcome, worst, median, gap, rss in rows:
        print(f"{name:38} {outcome[:42]:42} {worst:9.3f} {median:7.3f} {gap:7.3f} {rss:7.0f}")
    attacks = rows[1:]
    worst_latency = max(r[2] for r in attacks)
    worst_gap = max(r[4] for r in attacks)
    baseline = rows[0][2]
    result(
        "bench_hostile",
        "worst_hello_s",
        f"{worst_latency:.3f}",
        f"{baseline:.3f}",
        worst_latency / baseline if baseline else 0.0,
        f"<{GOAL_S:g}s",
        worst_latency < GOAL_S and worst_gap - 0.1 < GOAL_S,
        worst_watchdog_gap_s=f"{worst_gap:.3f}",
        peak_rss_mb=f"{max(r[5] for r in rows):.0f}",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
