"""How many connections, for how long (issue 17.5): a cap per process and in all, idle ones
closed or evicted, accept errors logged once per interval; the CLI gets in during a flood."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from pathlib import Path

from daemon.events import EventBus
from daemon.rpc.throttled_log import ThrottledLog, throttle_loop_errors
from tests.support.daemon import DaemonProcess, run_cli
from tests.support.hostile import allow_descriptors
from tests.support.waiting import until
from tests.test_rpc_protocol import RawConn, assert_error, serve


async def test_one_process_holds_at_most_its_share(tmp_path: Path) -> None:
    async with serve(tmp_path / "d.sock", max_connections_per_client=5) as server:
        conns = [await RawConn.open(server.socket_path) for _ in range(5)]
        for c in conns:
            assert (await c.call("test.get"))["result"] == 0
        extra = await RawConn.open(server.socket_path)
        error = assert_error(await extra.recv(), -32006, "TooManyConnections")
        assert "one process may hold 5" in error["message"]
        await extra.assert_closed()
        conns[0].close()
        await until(lambda: server.clients == 4, "the first connection to go")
        again = await RawConn.open(server.socket_path)
        assert (await again.call("test.get"))["result"] == 0
        for c in [*conns[1:], again]:
            c.close()


async def test_when_full_the_longest_idle_connection_makes_room(tmp_path: Path) -> None:
    bus = EventBus()
    async with serve(tmp_path / "d.sock", bus=bus, max_connections=4) as server:
        subscriber = await RawConn.open(server.socket_path)
        assert "result" in await subscriber.call("events.subscribe", {"topics": ["sync.progress"]})
        idle = [await RawConn.open(server.socket_path) for _ in range(3)]
        await until(lambda: server.clients == 4, "four connections")
        newcomer = await RawConn.open(server.socket_path)
        assert (await newcomer.call("test.get"))["result"] == 0
        await idle[0].assert_closed()  # the oldest without a subscription
        assert (await subscriber.call("test.get", rid=2))["result"] == 0
        for c in [subscriber, *idle[1:], newcomer]:
            c.close()


async def test_idle_connections_are_closed_but_subscribers_stay(tmp_path: Path) -> None:
    bus = EventBus()
    async with serve(tmp_path / "d.sock", bus=bus, idle_timeout=0.2) as server:
        subscriber = await RawConn.open(server.socket_path)
        assert "result" in await subscriber.call("events.subscribe", {"topics": ["sync.progress"]})
        idle = await RawConn.open(server.socket_path)
        await idle.assert_closed()
        assert (await subscriber.call("test.get", rid=2))["result"] == 0
        subscriber.close()


def test_a_repeated_problem_is_logged_once_per_interval(caplog) -> None:
    now = [0.0]
    gate = ThrottledLog(logging.getLogger("bexsync.test"), interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "bexsync.test"):
        logged = [gate.log(logging.WARNING, "k", "accept failed") for _ in range(5000)]
        now[0] = 61.0
        gate.log(logging.WARNING, "k", "accept failed")
    assert logged.count(True) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "accept failed",
        "accept failed (4999 more like it in the last 60 s not logged)",
    ]


async def test_the_event_loop_reports_accept_errors_once_per_interval(caplog) -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    throttle_loop_errors(loop)
    try:
        with caplog.at_level(logging.ERROR, "asyncio"):
            for _ in range(1000):
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(24, "Too many open files"),
                    }
                )
    finally:
        loop.set_exception_handler(previous)
    assert len([r for r in caplog.records if "accept" in r.getMessage()]) == 1


# --- a real daemon under a flood ---------------------------------------------------------------


class DefaultLimitDaemon(DaemonProcess):
    """``bexsyncd`` with the common default of 1,024 file descriptors (not this machine's)."""

    def command(self) -> list[str]:
        cmd = super().command()
        start = (
            "import resource, runpy, sys; "
            "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)); "
            f"sys.argv = ['bexsyncd', *{cmd[3:]!r}]; "
            "runpy.run_module('daemon.main', run_name='__main__')"
        )
        return [sys.executable, "-c", start]


def test_the_cli_gets_in_while_another_process_floods_the_socket(tmp_path: Path) -> None:
    daemon = DefaultLimitDaemon(tmp_path).start()
    flood: list[socket.socket] = []
    allow_descriptors(1300)
    try:
        for _ in range(1100):  # more than the daemon's file descriptors
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(daemon.socket))
            flood.append(s)
        hello = run_cli(daemon.socket, "call", "daemon.hello")
        assert hello.returncode == 0, hello.stderr
        assert json.loads(hello.stdout)["api_version"]
        status = run_cli(daemon.socket, "status")
        assert "Traceback" not in status.stderr + status.stdout
    finally:
        for s in flood:
            s.close()
        daemon.stop()
    refusals = [line for line in daemon.output().splitlines() if "refused a connection" in line]
    assert 1 <= len(refusals) <= 2, refusals  # once per interval, not once per connection
    assert daemon.output().count("Traceback") == 0
