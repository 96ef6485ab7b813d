"""sd_notify as systemd sees it: datagrams on a real AF_UNIX socket, pings from the loop."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from daemon.sdnotify import Notifier, status_line, watchdog_interval, watchdog_loop
from tests.support.waiting import until
from tests.support_notify import NotifyListener

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_messages_arrive_in_order_from_our_pid(abstract: bool) -> None:
    with NotifyListener(abstract=abstract) as sd:
        n = Notifier(env=sd.env())
        assert n.enabled
        assert n.ready(status="starting up")
        assert n.status("next sync: configuration 3 period 2024-05")
        assert n.watchdog()
        assert n.extend_timeout(90_000_000)
        assert n.stopping()
        sd.wait_for("STOPPING=1")
        msgs = sd.messages
        n.close()
    assert [m.fields for m in msgs] == [
        (("READY", "1"), ("STATUS", "starting up")),
        (("STATUS", "next sync: configuration 3 period 2024-05"),),
        (("WATCHDOG", "1"),),
        (("EXTEND_TIMEOUT_USEC", "90000000"),),
        (("STOPPING", "1"),),
    ]
    assert {m.pid for m in msgs} == {os.getpid()}


def test_status_is_one_line() -> None:
    with NotifyListener() as sd:
        n = Notifier(env=sd.env())
        n.status("first line\nREADY=1\n  second")
        msg = sd.wait_for(lambda m: m.get("STATUS") is not None)
        n.close()
    assert msg.fields == (("STATUS", "first line READY=1 second"),)


def test_without_notify_socket_everything_is_a_quiet_noop() -> None:
    n = Notifier(env={})
    assert not n.enabled
    assert n.ready() is False
    assert n.watchdog() is False
    assert n.stopping() is False


def test_vsock_address_is_not_used() -> None:
    assert not Notifier(env={"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


def test_a_vanished_listener_does_not_raise() -> None:
    sd = NotifyListener()
    n = Notifier(env=sd.env())
    sd.close()
    assert n.ready() is False  # socket path removed with its dir: no exception, just False
    n.close()


def test_watchdog_interval_is_half_the_timeout_and_only_for_our_pid() -> None:
    me = str(os.getpid())
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": me}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def record_pings(n: Notifier) -> list[float]:
    """When ``n`` sent each watchdog ping (the listener's receipt times lag on a busy machine)."""
    sent: list[float] = []
    ping = n.watchdog

    def watchdog() -> bool:
        sent.append(time.monotonic())
        return ping()

    n.watchdog = watchdog  # type: ignore[method-assign]
    return sent


async def test_watchdog_loop_pings_at_half_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    with NotifyListener() as sd:
        for key, value in sd.env(watchdog_usec=100_000).items():  # 0.1 s -> ping every 0.05 s
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        n = Notifier()
        sent = record_pings(n)
        task = asyncio.create_task(watchdog_loop(n))
        await until(lambda: len(sd.matching("WATCHDOG=1")) >= 5, "five pings")
        task.cancel()
        await until(lambda: len(sd.matching("WATCHDOG=1")) == len(sent), "every ping sent")
        n.close()
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.049  # never faster than half of WATCHDOG_USEC, however busy the loop


async def test_watchdog_loop_returns_when_there_is_no_watchdog() -> None:
    with NotifyListener() as sd:
        n = Notifier(env=sd.env())
        await asyncio.wait_for(watchdog_loop(n, None), timeout=30)  # env has no WATCHDOG_USEC
        n.close()
    assert sd.messages == []


async def test_a_blocked_event_loop_sends_no_pings() -> None:
    with NotifyListener() as sd:
        n = Notifier(env=sd.env())
        sent = record_pings(n)
        task = asyncio.create_task(watchdog_loop(n, 0.02))
        await until(lambda: len(sent) >= 3, "pings before the block")
        t0 = time.monotonic()
        time.sleep(0.5)  # synchronous work hogging the loop, as a bug would
        t1 = time.monotonic()
        await until(lambda: len([t for t in sent if t >= t1]) >= 3, "pings after the block")
        task.cancel()
        await until(lambda: len(sd.matching("WATCHDOG=1")) == len(sent), "every ping received")
        n.close()
    assert [t for t in sent if t0 < t < t1] == []  # none while blocked; they resumed after


def test_status_line_names_the_soonest_due_sync() -> None:
    runs = [
        {"configuration_id": 7, "period": "2024-06", "due_at": "2024-07-01T02:00:00+02:00"},
        {"configuration_id": 3, "period": "2024-06-30", "due_at": "2024-07-01T01:30:00+00:00"},
    ]
    # 01:30Z is later than 02:00+02:00 (= 00:00Z): compare instants, not strings
    assert status_line(runs) == (
        "next sync: configuration 7 period 2024-06 at 2024-07-01T02:00:00+02:00"
    )
    assert status_line([], attention=2) == "idle: no sync scheduled; 2 need attention"
    assert status_line(runs[1:], attention=1).endswith("; 1 needs attention")


MINI_DAEMON = textwrap.dedent(
    """
    import asyncio, signal
    from daemon.sdnotify import Notifier, start_watchdog, stop_task

    async def main():
        n = Notifier()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        dog = start_watchdog(n)
        n.ready(status="next sync: configuration 1 period 2024-05 at 2024-06-01T02:00:00+00:00")
        await stop.wait()
        n.stopping()
        await stop_task(dog)

    asyncio.run(main())
    """
)


def test_a_child_process_is_driven_like_systemd_would() -> None:
    """The pattern the daemon end-to-end test uses, with a minimal daemon as the child."""
    with NotifyListener() as sd:
        env = {**os.environ, **sd.env(watchdog_usec=200_000), "PYTHONPATH": str(ROOT)}
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen([sys.executable, "-c", MINI_DAEMON], env=env)
        try:
            ready = sd.wait_for("READY=1")
            assert ready.get("STATUS", "").startswith("next sync: configuration 1")
            sd.wait_for(lambda m: len(sd.matching("WATCHDOG=1")) >= 2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            sd.wait_for("STOPPING=1")
        finally:
            proc.kill()
            proc.wait()
        assert {m.pid for m in sd.messages} == {proc.pid}
