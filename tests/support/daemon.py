"""Real daemons for tests: in-process (fast, injectable clock) or as a child process (signals)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bexsync_tui.client import Client
from daemon.app import DaemonApp
from daemon.config import parse_config
from daemon.demo import seed_demo
from tests.support.waiting import HANG_S, until_async, until_sync

ROOT = Path(__file__).resolve().parents[2]

STORE_URL: str | None = None
"""``[store] url`` of the daemons ``demo_daemon`` starts unless a test's config says otherwise
(None: SQLite in the state dir); the ``store_backend`` fixture sets it."""


@contextlib.asynccontextmanager
async def demo_daemon(
    tmp: Path,
    *,
    clock: Callable[[], datetime] | None = None,
    providers: str | None = None,
    config: dict[str, Any] | None = None,
    seed: bool = True,
) -> AsyncIterator[tuple[DaemonApp, Client]]:
    """A demo daemon in this event loop, with a connected client."""
    # Bigger PMS pages than the default keep a test's calls well inside BEX's rate limit.
    config = {"pms": {"page_size": 1000}, **(config or {})}
    if STORE_URL is not None:
        config.setdefault("store", {"url": STORE_URL})
    app = DaemonApp(
        state_dir=tmp / "state",
        socket_path=tmp / "bexsyncd.sock",
        config=parse_config(config),
        clock=clock,
    )
    await app.open()
    if seed:
        await seed_demo(app, providers=providers)
    await app.start()
    client = Client()
    await client.connect(str(app.socket_path))
    watchdog = asyncio.get_running_loop().call_later(STUCK_AFTER_S, dump_tasks)
    try:
        yield app, client
    finally:
        watchdog.cancel()
        # Stopping has its own watchdog: a stop that hangs must show where it waits, too.
        watchdog = asyncio.get_running_loop().call_later(STOP_STUCK_AFTER_S, dump_tasks)
        try:
            await client.aclose()
            await app.stop()
        finally:
            watchdog.cancel()


STUCK_AFTER_S = 90.0
"""Below pytest-timeout's 120 s, so that a hung test's report shows where each task waits."""
STOP_STUCK_AFTER_S = 30.0


def dump_tasks() -> None:
    """Print every asyncio task's stack to stderr (pytest shows it with the failure)."""
    tasks = asyncio.all_tasks()
    print(f"--- {len(tasks)} asyncio tasks still waiting ---", file=sys.stderr)
    for task in tasks:
        task.print_stack(limit=12, file=sys.stderr)


async def wait_run(client: Client, run_id: int, timeout: float = HANG_S) -> dict[str, Any]:
    """Poll until the run is no longer active; return it. The timeout only bounds a hang."""
    return await wait_run_via(client.call, run_id, timeout)


async def wait_run_via(
    call: Callable[..., Awaitable[Any]], run_id: int, timeout: float = HANG_S
) -> dict[str, Any]:
    """``wait_run`` through any ``call(method, params)`` (a raw connection, the TUI's client)."""

    async def ended() -> dict[str, Any] | None:
        run: dict[str, Any] = await call("syncs.get", {"run_id": run_id})
        return None if run["state"] in ("queued", "fetching", "building", "posting") else run

    return await until_async(ended, f"run {run_id} to end", timeout)


async def open_when_listening(browser: httpx.AsyncClient, url: str) -> httpx.Response:
    """The browser's request to a daemon's login listener (it starts in the background), tried
    again as a user would reload while it is not up yet."""

    async def opened() -> httpx.Response | None:
        try:
            return await browser.get(url)
        except httpx.ConnectError:
            return None

    return await until_async(opened, f"the daemon's login listener at {url}")


def run_cli(
    socket: Path | str, *args: str, stdin: str | None = None, timeout: float = HANG_S
) -> subprocess.CompletedProcess[str]:
    """``bexsync --socket SOCKET ARGS...`` as a process of its own (its own pid, as a user's)."""
    return subprocess.run(
        [sys.executable, "-m", "bexsync_tui.cli", "--socket", str(socket), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_listening(
    proc: subprocess.Popen[Any], socket: Path, log: Path | None = None, timeout: float = HANG_S
) -> None:
    """Until a ``bexsyncd`` child process listens on ``socket``: ``RuntimeError`` if it exits
    first, ``TimeoutError`` if it never does (each with its log, if it has one)."""

    def output() -> str:
        return log.read_text(errors="replace") if log is not None and log.exists() else ""

    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"bexsyncd exited {proc.returncode}:\n{output()}")
        return socket.exists()

    try:
        until_sync(listening, f"bexsyncd to listen on {socket}", timeout)
    except AssertionError:
        raise TimeoutError(f"bexsyncd did not start:\n{output()}") from None


class DaemonProcess:
    """``bexsyncd`` as systemd would run it: a child process we can signal."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.state_dir = tmp / "state"
        self.socket = tmp / "bexsyncd.sock"
        self.log = tmp / "bexsyncd.log"
        self.args = args
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "daemon.main",
            "--state-dir",
            str(self.state_dir),
            "--socket",
            str(self.socket),
            "--config",
            os.devnull,
            *self.args,
        ]

    def start(self, wait: bool = True, timeout: float = HANG_S) -> DaemonProcess:
        with contextlib.suppress(FileNotFoundError):
            if wait:
                self.socket.unlink()
        log = self.log.open("ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env=self.env)
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = HANG_S) -> None:
        assert self.proc is not None
        try:
            wait_listening(self.proc, self.socket, self.log, timeout)
        except TimeoutError:
            self.proc.kill()  # no daemon left behind by a failed test
            self.proc.wait(HANG_S)
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = HANG_S) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
