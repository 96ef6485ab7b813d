"""RPC round trips to the real daemon vs a bare JSON echo server, over the same kind of socket.

- daemon: ``bexsyncd --demo`` as a child process (its own state dir and Unix socket), seeded
  through its own RPC API up to 100 configurations (sandbox authorisations x administrations),
  its start-up catch-up finished and its automatic configurations deactivated, so nothing else
  runs while it is measured.
- baseline: a bare asyncio line server in another child process that ``json.loads`` each request
  and answers with ``json.dumps`` of the very result the daemon gave for that method (recorded
  once at start): same bytes on the wire both ways, none of the daemon's work behind them.

Methods: ``daemon.hello`` (goal: at most 2x the echo) and ``configurations.list`` returning 100
configurations (goal: at most 5x). Two clients: a blocking socket (one line out, one line in,
JSON encoded and decoded as any client must) and bexsync's own asyncio ``Client.call``. Rounds
are interleaved (echo, daemon, echo, daemon, ...) so a noisy neighbour hits both alike; the best
round of each is kept (noise only ever adds time), and every ratio is daemon / echo. Each server's
CPU per call (from /proc, all its threads) is reported beside it: a loaded machine stretches a
long call's wall time more than a short one's, but not the CPU it takes.

Run: ``.venv/bin/python benchmarks/bench_rpc_roundtrip.py [--rounds 5] [--hello 2000] [--list 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _result import result  # noqa: E402

from bexsync_tui.client import Client  # noqa: E402
from tests.support.daemon import wait_listening  # noqa: E402
from tests.support.waiting import until_async  # noqa: E402

CONFIGURATIONS = 100
GOALS = {"daemon.hello": 2.0, "configurations.list": 5.0}
ACTIVE = ("queued", "fetching", "building", "posting")


# -- the baseline: a bare JSON line server that knows the answers ------------------------------
class _JsonEcho(asyncio.Protocol):
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            request = json.loads(line)
            result = self.answers[request["method"]]
            answer = {"jsonrpc": "2.0", "id": request["id"], "result": result}
            self.transport.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")


def _serve_echo(path: str, answers: dict[str, Any], ready: Any) -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_unix_server(lambda: _JsonEcho(answers), path)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def echo_server(tmp: Path, answers: dict[str, Any]) -> Iterator[tuple[str, int]]:
    """The echo in a child process, answering ``answers`` by method: its (socket, pid)."""
    path = str(tmp / "echo.sock")
    ready = multiprocessing.Event()
    echo = multiprocessing.Process(target=_serve_echo, args=(path, answers, ready), daemon=True)
    echo.start()
    try:
        if not ready.wait(30) or echo.pid is None:
            raise RuntimeError("the echo server did not start")
        yield path, echo.pid
    finally:
        echo.terminate()
        echo.join(5)


# -- the daemon, seeded through its API --------------------------------------------------------
def start_daemon(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = str(tmp / "bexsyncd.sock")
    command = [sys.executable, "-m", "daemon.main", "--demo", "--state-dir", str(tmp / "state")]
    command += ["--socket", sock, "--config", os.devnull, "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp / "bexsyncd.log").open("wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    wait_listening(proc, Path(sock), tmp / "bexsyncd.log")
    return proc, sock


async def seed(sock: str, configurations: int) -> None:
    """Sandbox authorisations, each configured for every administration, up to the count; the
    demo's automatic configurations deactivated and its catch-up finished."""
    client = await Client().connect(sock)
    try:
        existing = await client.call("configurations.list")
        for config in existing:
            if config["automatic"]:
                await client.call("configurations.deactivate", {"id": config["id"]})
        admins = await client.call("administrations.list")
        start = (date.today() - timedelta(days=30)).isoformat()
        count, n = len(existing), 0
        while count < configurations:
            n += 1
            made = await client.call(
                "authorisations.create", {"name": f"Bench ledger {n}", "provider": "sandbox"}
            )
            auth_id = made["authorisation"]["id"]
            await client.call("authorisations.activate", {"id": auth_id})
            for admin in admins[: configurations - count]:
                await client.call(
                    "configurations.create",
                    {"authorisation_id": auth_id, "administration_id": admin["id"],
                     "frequency": "daily", "ledger_id": "BEX", "start_date": start,
                     "delay_days": 0, "automatic": False, "activate": False,
                     "no_vat_code": "NONE"},
                )  # fmt: skip
                count += 1

        async def caught_up() -> bool:
            runs = await client.call("syncs.list", {"limit": 1000})
            return not any(r["state"] in ACTIVE for r in runs)

        await until_async(caught_up, "the demo's catch-up to finish", 300, every=0.2)
        listed = await client.call("configurations.list")
        if len(listed) != configurations:
            raise RuntimeError(f"seeded {len(listed)} configurations, not {configurations}")
    finally:
        await client.aclose()


async def record_answers(sock: str) -> dict[str, Any]:
    client = await Client().connect(sock)
    try:
        return {method: await client.call(method) for method in GOALS}
    finally:
        await client.aclose()


# -- the two clients ---------------------------------------------------------------------------
def blocking_round_trips(path: str, method: str, n: int) -> float:
    """Seconds per round trip: a plain blocking socket, JSON encoded and decoded per call."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    pending = b""

    def one(i: int) -> None:
        nonlocal pending
        request = {"jsonrpc": "2.0", "method": method, "id": i}
        sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        while b"\n" not in pending:
            pending += sock.recv(1 << 20)
        line, _, pending = pending.partition(b"\n")
        if "result" not in json.loads(line):
            raise AssertionError(line[:200])

    for i in range(min(200, n)):  # warm up
        one(i)
    started = time.perf_counter()
    for i in range(n):
        one(i)
    elapsed = time.perf_counter() - started
    sock.close()
    return elapsed / n


async def _asyncio_round_trips(path: str, method: str, n: int) -> float:
    client = await Client().connect(path)
    try:
        for _ in range(min(200, n)):
            await client.call(method)
        started = time.perf_counter()
        for _ in range(n):
            await client.call(method)
        return (time.perf_counter() - started) / n
    finally:
        await client.aclose()


def asyncio_round_trips(path: str, method: str, n: int) -> float:
    """Seconds per round trip with bexsync's own asyncio client (what the TUI uses)."""
    return asyncio.run(_asyncio_round_trips(path, method, n))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (every thread), from /proc: what a loaded machine does
    not inflate the way it inflates wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Series:
    method: str
    client: str
    echo: list[float]
    daemon: list[float]
    echo_cpu: list[float]
    daemon_cpu: list[float]

    @property
    def ratio(self) -> float:
        return min(self.daemon) / min(self.echo)

    @property
    def cpu_ratio(self) -> float:
        """NaN when the echo's CPU is below a clock tick (too few calls to tell)."""
        echo = min(self.echo_cpu)
        return min(self.daemon_cpu) / echo if echo > 0 else math.nan


def measure(
    echo: tuple[str, int], daemon: tuple[str, int], counts: dict[str, int], rounds: int
) -> list[Series]:
    """Each server as (socket, pid): wall time per call, and the server's CPU per call."""
    clients: dict[str, Callable[[str, str, int], float]] = {
        "blocking": blocking_round_trips,
        "asyncio": asyncio_round_trips,
    }

    def timed(server: tuple[str, int], s: Series) -> tuple[float, float]:
        n = counts[s.method]
        before = cpu_seconds(server[1])
        wall = clients[s.client](server[0], s.method, n)
        return wall, (cpu_seconds(server[1]) - before) / (n + min(200, n))  # with the warm-up

    series = [Series(m, c, [], [], [], []) for m in counts for c in clients]
    for _ in range(rounds):
        for s in series:  # A B A B ...: echo then daemon, for each method and client
            wall, cpu = timed(echo, s)
            s.echo.append(wall)
            s.echo_cpu.append(cpu)
            wall, cpu = timed(daemon, s)
            s.daemon.append(wall)
            s.daemon_cpu.append(cpu)
    return series


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best kept)")
    parser.add_argument("--hello", type=int, default=2000, help="daemon.hello calls per round")
    parser.add_argument("--list", type=int, default=200, help="configurations.list calls per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bx-bench-", dir="/tmp") as tmp:
        daemon, daemon_sock = start_daemon(Path(tmp))
        try:
            asyncio.run(seed(daemon_sock, CONFIGURATIONS))
            answers = asyncio.run(record_answers(daemon_sock))
            sizes = {m: len(json.dumps(a, separators=(",", ":"))) for m, a in answers.items()}
            counts = {"daemon.hello": args.hello, "configurations.list": args.list}
            with echo_server(Path(tmp), answers) as echo:
                series = measure(echo, (daemon_sock, daemon.pid), counts, args.rounds)
        finally:
            daemon.terminate()
            daemon.wait(30)
    print(
        f"bexsyncd --demo (child process, {CONFIGURATIONS} configurations) vs a bare JSON echo "
        f"with the same answers; Unix sockets; {args.rounds} interleaved rounds, best kept"
    )
    worst_by_method: dict[str, Series] = {}
    for s in series:
        print(
            f"  {s.method:20s} {s.client:8s} ({sizes[s.method]:6d} B)  "
            f"echo {min(s.echo) * 1e6:8.1f} us   daemon {min(s.daemon) * 1e6:8.1f} us   "
            f"ratio {s.ratio:5.2f}x  (goal <= {GOALS[s.method]:g}x)   server CPU per call: "
            f"echo {min(s.echo_cpu) * 1e6:7.1f} us, daemon {min(s.daemon_cpu) * 1e6:7.1f} us "
            f"({s.cpu_ratio:.2f}x)"
        )
        if s.method not in worst_by_method or s.ratio > worst_by_method[s.method].ratio:
            worst_by_method[s.method] = s
    for method, s in worst_by_method.items():
        name = "bench_rpc_roundtrip" if method == "daemon.hello" else "bench_rpc_list100"
        other = next(o for o in series if o.method == method and o is not s)
        result(
            name,
            method,
            f"{min(s.daemon) * 1e6:.1f}us",
            f"{min(s.echo) * 1e6:.1f}us",
            s.ratio,
            f"<={GOALS[method]:g}x",
            s.ratio <= GOALS[method],
            client=s.client,
            **{f"{other.client}_ratio": f"{other.ratio:.2f}x"},
            daemon_cpu=f"{min(s.daemon_cpu) * 1e6:.1f}us",
            echo_cpu=f"{min(s.echo_cpu) * 1e6:.1f}us",
        )
    return 0  # a missed goal is in the RESULT lines; make bench fails on it


if __name__ == "__main__":
    sys.exit(main())
