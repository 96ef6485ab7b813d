"""Hostile clients of a running daemon (issue 17.9), shared by tests/test_hostile_clients.py
(which asserts that the others are still served and nothing changed) and
benchmarks/bench_hostile.py (which measures how long the others waited).

Each attack is a blocking function of the socket path that returns a short outcome; a
``Probe`` is the innocent client next to it, calling ``daemon.hello`` over and over.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READ_LIMIT = 64 * 1024 * 1024


def connect(path: Path, timeout: float = 60.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(path))
    return sock


def read_line(sock: socket.socket) -> bytes:
    """One answer line (b"" if the daemon hung up)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return b""
        if not chunk:
            return b""
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > READ_LIMIT:
            return b"".join(chunks)


def ask(sock: socket.socket, message: Any) -> Any:
    data = message if isinstance(message, bytes) else json.dumps(message).encode()
    sock.sendall(data + b"\n")
    line = read_line(sock)
    return json.loads(line) if line else None


def call(path: Path, method: str, params: Any = None) -> Any:
    """One call on a connection of its own; the result (AssertionError with the error)."""
    sock = connect(path)
    try:
        answer = ask(sock, {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": 1})
    finally:
        sock.close()
    assert answer is not None and "result" in answer, answer
    return answer["result"]


def batch(method: str, count: int) -> bytes:
    return json.dumps(
        [{"jsonrpc": "2.0", "method": method, "id": i} for i in range(count)],
        separators=(",", ":"),
    ).encode()


# --- the attacks ---------------------------------------------------------------------------------


def discover_batch_1mb(path: Path) -> str:
    """19,000 rpc.discover in one batch (just under 1 MiB): 868 MB of answers, once."""
    payload = batch("rpc.discover", 19_000)
    sock = connect(path)
    try:
        answer = ask(sock, payload)
    finally:
        sock.close()
    name = answer["error"]["data"]["name"] if isinstance(answer, dict) else "answered"
    return f"{len(payload) // 1000} kB batch -> {name}"


def hello_batch_10k(path: Path) -> str:
    """10,000 daemon.hello in one batch."""
    sock = connect(path)
    try:
        answer = ask(sock, batch("daemon.hello", 10_000))
    finally:
        sock.close()
    return "answered" if isinstance(answer, list) else answer["error"]["data"]["name"]


def discover_batches_at_the_cap(path: Path, rounds: int = 20) -> str:
    """Batches as large as allowed (100 rpc.discover), one after another, answers read."""
    sock = connect(path)
    ran = refused = 0
    try:
        for _ in range(rounds):
            answers = ask(sock, batch("rpc.discover", 100))
            ran += sum(1 for a in answers if "result" in a)
            refused += sum(1 for a in answers if "error" in a)
    finally:
        sock.close()
    return f"{ran} run, {refused} refused"


def non_readers(path: Path, clients: int = 3, seconds: float = 20.0) -> str:
    """Clients that send batches and never read an answer, until the daemon hangs up."""
    payload = batch("rpc.discover", 100) + b"\n"
    socks = [connect(path, timeout=1.0) for _ in range(clients)]
    dropped = 0
    deadline = time.monotonic() + seconds
    try:
        for sock in socks:
            while time.monotonic() < deadline:
                try:
                    sock.sendall(payload)
                except TimeoutError:
                    continue  # the daemon stopped reading us: keep pushing until it hangs up
                except (BrokenPipeError, ConnectionResetError):
                    dropped += 1
                    break
    finally:
        for sock in socks:
            sock.close()
    return f"{dropped} of {clients} disconnected"


def infinite_ids(path: Path) -> str:
    """An id of 1e400 (read as infinity), alone and in a batch next to a real call."""
    sock = connect(path)
    try:
        alone = ask(sock, b'{"jsonrpc":"2.0","method":"daemon.hello","id":1e400}')
        mixed = ask(
            sock,
            b'[{"jsonrpc":"2.0","method":"daemon.hello","id":1e400},'
            b'{"jsonrpc":"2.0","method":"daemon.hello","id":2}]',
        )
    finally:
        sock.close()
    return f"alone: {alone['error']['code']}, batch: {[a.get('id') for a in mixed]}"


def allow_descriptors(count: int) -> None:
    """Raise this process's soft file descriptor limit to ``count`` (as far as the hard one
    lets): a flood of 1,100 connections must not fail in the attacker at 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def connection_flood(
    path: Path, count: int = 1_100, during: Callable[[], Any] | None = None
) -> str:
    """``count`` connections held open (from this one process) while ``during`` runs."""
    allow_descriptors(count + 200)
    held: list[socket.socket] = []
    refused = 0
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(str(path))
            except OSError:
                refused += 1
                sock.close()
                continue
            held.append(sock)
        if during is not None:
            during()
    finally:
        for sock in held:
            sock.close()
    return f"{len(held)} connections opened, {refused} refused at connect"


def far_future_configuration(path: Path) -> str:
    """configurations.create with 9999-12-31 (it used to be stored and brick the scheduler)."""
    sock = connect(path)
    try:
        made = ask(
            sock,
            {"jsonrpc": "2.0", "method": "authorisations.create", "id": 1,
             "params": {"name": "Hostile dates", "provider": "sandbox"}},
        )  # fmt: skip
        auth = made["result"]["authorisation"]["id"] if "result" in made else 1
        admins = ask(sock, {"jsonrpc": "2.0", "method": "administrations.list", "id": 2})
        answer = ask(
            sock,
            {"jsonrpc": "2.0", "method": "configurations.create", "id": 3,
             "params": {"authorisation_id": auth, "administration_id": admins["result"][0]["id"],
                        "frequency": "monthly", "ledger_id": "BEX", "start_date": "9999-12-31"}},
        )  # fmt: skip
        ask(sock, {"jsonrpc": "2.0", "method": "authorisations.delete", "id": 4,
                   "params": {"id": auth}})  # fmt: skip
    finally:
        sock.close()
    return f"create -> {answer['error']['code']}"


ATTACKS: dict[str, Callable[[Path], str]] = {
    "1 MB batch of 19,000 rpc.discover": discover_batch_1mb,
    "batch of 10,000 daemon.hello": hello_batch_10k,
    "20 batches of 100 rpc.discover": discover_batches_at_the_cap,
    "3 clients that never read": non_readers,
    "ids of 1e400": infinite_ids,
    "1,100 connections held": connection_flood,
    "a configuration in year 9999": far_future_configuration,
}


# --- the innocent client -------------------------------------------------------------------------


@dataclass
class Probe:
    """Calls ``daemon.hello`` on its own connection every ``pause`` seconds, in a thread,
    recording each call's latency; ``failures`` holds anything but a proper answer."""

    path: Path
    pause: float = 0.02
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Probe:
        self._sock = connect(self.path)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)
        with contextlib.suppress(OSError):
            self._sock.close()

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                answer = ask(self._sock, {"jsonrpc": "2.0", "method": "daemon.hello", "id": n})
            except OSError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                return
            self.latencies.append(time.monotonic() - started)
            if not (isinstance(answer, dict) and answer.get("id") == n and "result" in answer):
                self.failures.append(repr(answer)[:200])
                return
            self._stop.wait(self.pause)
