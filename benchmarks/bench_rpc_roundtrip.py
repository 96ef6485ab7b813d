"""RPC round trip of a trivial method vs a raw newline echo, over the same kind of Unix socket.

Budget (DESIGN.md): an RPC round trip costs at most 3x a raw echo. Both servers are asyncio
servers in a child process, measured in the same run with the same clients:

- blocking client: a plain socket sends one line and waits for one line back. For the echo the
  line is the very JSON-RPC request, so both move the same bytes; the RPC client also encodes the
  request and decodes the answer, as any real client must.
- asyncio client: bexsync's own ``Client.call`` against an asyncio streams client of the echo.

Run: ``.venv/bin/python benchmarks/bench_rpc_roundtrip.py [--n 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _result import result

from bexsync_tui.client import Client
from daemon.rpc import CallContext, Registry, Server

BUDGET = 3.0


class _Echo(asyncio.Protocol):
    """The baseline: give every line back, as cheaply as asyncio allows."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.rfind(b"\n") + 1
        if end:
            self.transport.write(self.buf[:end])
            self.buf = self.buf[end:]


def _serve_echo(path: str, ready: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_unix_server(_Echo, path)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_rpc(path: str, ready: Any) -> None:
    registry = Registry()

    @registry.method("bench.ping")
    async def ping(ctx: CallContext) -> str:
        return "pong"

    async def main() -> None:
        server = Server(registry, app=None, socket_path=path)
        await server.start()
        ready.set()
        await server.serve_forever()

    asyncio.run(main())


def _start(target: Any, path: str) -> multiprocessing.Process:
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=target, args=(path, ready), daemon=True)
    process.start()
    if not ready.wait(10):
        raise RuntimeError(f"{target.__name__} did not start")
    return process


def _blocking_round_trips(path: str, n: int, rpc: bool) -> float:
    """Seconds per round trip with a plain blocking socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    request = {"jsonrpc": "2.0", "method": "bench.ping", "id": 0}
    raw = json.dumps(request, separators=(",", ":")).encode() + b"\n"
    pending = b""

    def one(i: int) -> None:
        nonlocal pending
        if rpc:
            request["id"] = i
            sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        else:
            sock.sendall(raw)
        while b"\n" not in pending:
            pending += sock.recv(65536)
        line, _, pending = pending.partition(b"\n")
        if rpc and json.loads(line)["result"] != "pong":
            raise AssertionError(line)

    for i in range(min(1000, n)):  # warm up
        one(i)
    started = time.perf_counter()
    for i in range(n):
        one(i)
    elapsed = time.perf_counter() - started
    sock.close()
    return elapsed / n


async def _asyncio_echo(path: str, n: int) -> float:
    reader, writer = await asyncio.open_unix_connection(path)
    line = b'{"jsonrpc":"2.0","method":"bench.ping","id":0}\n'

    async def one() -> None:
        writer.write(line)
        await writer.drain()
        await reader.readline()

    for _ in range(min(1000, n)):
        await one()
    started = time.perf_counter()
    for _ in range(n):
        await one()
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed / n


async def _asyncio_rpc(path: str, n: int) -> float:
    client = await Client().connect(path)
    for _ in range(min(1000, n)):
        await client.call("bench.ping")
    started = time.perf_counter()
    for _ in range(n):
        await client.call("bench.ping")
    elapsed = time.perf_counter() - started
    await client.aclose()
    return elapsed / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="round trips per measurement")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (best kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        echo_path = os.path.join(tmp, "echo.sock")
        rpc_path = os.path.join(tmp, "rpc.sock")
        servers = [_start(_serve_echo, echo_path), _start(_serve_rpc, rpc_path)]
        try:
            # interleave and keep the best round: a noisy neighbour only ever adds time
            echo_b, rpc_b, echo_a, rpc_a = [], [], [], []
            for _ in range(args.rounds):
                echo_b.append(_blocking_round_trips(echo_path, args.n, rpc=False))
                rpc_b.append(_blocking_round_trips(rpc_path, args.n, rpc=True))
                echo_a.append(asyncio.run(_asyncio_echo(echo_path, args.n)))
                rpc_a.append(asyncio.run(_asyncio_rpc(rpc_path, args.n)))
        finally:
            for process in servers:
                process.terminate()
                process.join(5)
    rows = [
        ("blocking client", min(echo_b), min(rpc_b)),
        ("asyncio client (bexsync Client)", min(echo_a), min(rpc_a)),
    ]
    print(
        f"RPC round trip vs raw newline echo, Unix socket, "
        f"{args.rounds} rounds of {args.n}, best round"
    )
    worst = 0.0
    worst_row = rows[0]
    for label, echo, rpc in rows:
        ratio = rpc / echo
        if ratio >= worst:
            worst, worst_row = ratio, (label, echo, rpc)
        print(
            f"  {label:34s} echo {echo * 1e6:7.1f} us   rpc {rpc * 1e6:7.1f} us   "
            f"ratio {ratio:4.2f}x"
        )
    verdict = "within" if worst <= BUDGET else "OVER"
    print(f"  worst ratio {worst:.2f}x: {verdict} the {BUDGET:.0f}x budget")
    label, echo, rpc = worst_row
    result(
        "bench_rpc_roundtrip",
        "rpc",
        f"{rpc * 1e6:.1f}us",
        f"{echo * 1e6:.1f}us",
        worst,
        f"<={BUDGET:.0f}x",
        worst <= BUDGET,
        client=label.split(" ")[0],
    )
    return 0  # a missed goal is in the RESULT line; make bench fails on it


if __name__ == "__main__":
    sys.exit(main())
