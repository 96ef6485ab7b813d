"""``configurations.list`` of 100 configurations with two years of settled days each, against
the bare JSON echo: what a long-running installation lists, which bench_rpc_roundtrip (new
configurations, a settled day or none) does not show.

The state is made as bench_rpc_roundtrip makes it (``bexsyncd --demo`` seeded through its API to
100 configurations), the daemon stopped, and then, because 72,900 syncs through the API would
take hours, its SQLite database is given the history directly: every configuration daily,
active and manual (so nothing runs while it is measured) each into a ledger of its own, started
``--days`` ago, with every day
settled but the last two (they are overdue, waiting for a person, as a manual configuration's
days are). The daemon is started again on that state and measured from outside, like
bench_rpc_roundtrip: interleaved rounds, best kept, both clients, server CPU per call.

Not a ``bench_*``: ``make bench`` does not run it (it writes the database behind the daemon's
back). Run: ``.venv/bin/python benchmarks/list_history.py [--days 730] [--rounds 3] [--list 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_rpc_roundtrip import (  # noqa: E402
    CONFIGURATIONS,
    echo_server,
    measure,
    record_answers,
    seed,
    start_daemon,
)

METHOD = "configurations.list"


def give_history(database: Path, days: int) -> int:
    """Every configuration daily, active, manual, started ``days`` ago, settled but its last two
    days; the number of settled periods written."""
    start = date.today() - timedelta(days=days)
    settled = [(start + timedelta(days=d)).isoformat() for d in range(days - 1)]
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE configurations SET frequency = 'daily', start_date = ?, end_date = NULL, "
            "active = 1, automatic = 0, ledger_id = 'L' || id",  # one feed per ledger
            (start.isoformat(),),
        )
        db.execute("DELETE FROM period_status")
        ids = [row[0] for row in db.execute("SELECT id FROM configurations")]
        db.executemany(
            "INSERT INTO period_status (configuration_id, period, status, updated_at) "
            "VALUES (?, ?, 'empty', '2026-01-01T00:00:00Z')",
            [(i, day) for i in ids for day in settled],
        )
    return len(ids) * len(settled)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=730, help="days of history per configuration")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--list", type=int, default=50, help="calls per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bx-history-", dir="/tmp") as name:
        tmp = Path(name)
        daemon, sock = start_daemon(tmp)
        try:
            asyncio.run(seed(sock, CONFIGURATIONS))
        finally:
            daemon.terminate()
            daemon.wait(30)
        written = give_history(tmp / "state" / "bexsync.sqlite3", args.days)
        os.unlink(sock) if os.path.exists(sock) else None
        daemon, sock = start_daemon(tmp)
        try:
            answers = {METHOD: asyncio.run(record_answers(sock))[METHOD]}
            with echo_server(tmp, answers) as echo:
                series = measure(echo, (sock, daemon.pid), {METHOD: args.list}, args.rounds)
        finally:
            daemon.terminate()
            daemon.wait(30)
    listed = answers[METHOD]
    size = len(json.dumps(listed, separators=(",", ":")))
    posted = sum(c["posted_periods"] for c in listed)
    overdue = sum(len(c["overdue"]) for c in listed)
    print(
        f"{len(listed)} configurations, {written} settled days written ({posted} listed as "
        f"posted_periods, {overdue} overdue); answer {size} B; {args.rounds} rounds, best kept"
    )
    for s in series:
        print(
            f"  {s.client:8s} echo {min(s.echo) * 1e6:8.1f} us   daemon {min(s.daemon) * 1e6:9.1f} "
            f"us   ratio {s.ratio:6.2f}x   server CPU per call: echo {min(s.echo_cpu) * 1e6:.0f} "
            f"us, daemon {min(s.daemon_cpu) * 1e6:.0f} us ({s.cpu_ratio:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
