"""The client library (bexsync_tui.client) against the real server on a Unix socket."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bexsync_tui.client import (
    SNAPSHOT_TOPIC,
    STATE_TOPIC,
    Client,
    ConnectionState,
    DaemonUnavailable,
    ReconnectingClient,
    RpcCallError,
    default_socket_path,
)
from daemon.events import EventBus
from tests.support.waiting import HANG_S, until
from tests.test_rpc_protocol import DummyApp, serve


async def test_call_notify_and_errors(tmp_path: Path) -> None:
    app = DummyApp()
    async with (
        serve(tmp_path / "d.sock", app=app) as srv,
        await Client().connect(srv.socket_path) as client,
    ):
        assert await client.call("test.echo", {"text": "hi", "times": 2}) == {"text": "hihi"}
        assert await client.call("test.echo", ["positional"]) == {"text": "positional"}
        await client.notify("test.add", {"amount": 4})
        assert await client.call("test.get") == 4
        with pytest.raises(RpcCallError) as caught:
            await client.call("test.missing")
        assert caught.value.code == -32001
        assert caught.value.name == "NotFound"
        assert caught.value.message == "No configuration with id 7."
        assert caught.value.to_json()["data"]["name"] == "NotFound"
        with pytest.raises(RpcCallError) as caught:
            await client.call("test.echo", {"text": 1})
        assert caught.value.name == "InvalidParams"
        assert caught.value.data["errors"] == [{"field": "text", "message": "must be a string"}]


async def test_many_concurrent_calls_share_one_connection(tmp_path: Path) -> None:
    async with serve(tmp_path / "d.sock") as srv:
        client = await Client().connect(srv.socket_path)
        results = await asyncio.gather(
            *(client.call("test.echo", {"text": str(i)}) for i in range(200))
        )
        assert [r["text"] for r in results] == [str(i) for i in range(200)]
        await client.aclose()


async def test_timeout_leaves_the_client_usable(tmp_path: Path) -> None:
    async with serve(tmp_path / "d.sock") as srv:
        client = await Client().connect(srv.socket_path)
        with pytest.raises(TimeoutError):
            await client.call("test.slow", {"seconds": 0.3}, timeout=0.05)
        assert await client.call("test.get") == 0
        await client.aclose()


async def test_no_daemon_is_daemon_unavailable(tmp_path: Path) -> None:
    with pytest.raises(DaemonUnavailable, match="no such socket"):
        await Client().connect(tmp_path / "missing.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "stale.sock"))
    stale.close()
    with pytest.raises(DaemonUnavailable, match="refused"):
        await Client().connect(tmp_path / "stale.sock")


async def test_daemon_going_away_fails_pending_calls(tmp_path: Path) -> None:
    async with serve(tmp_path / "d.sock") as srv:
        client = await Client().connect(srv.socket_path)
        pending = asyncio.create_task(client.call("test.slow", {"seconds": 5.0}))
        await until(lambda: srv.app.started, "the call to start")
        await srv.stop(timeout=0.05)
        with pytest.raises(DaemonUnavailable):
            await asyncio.wait_for(pending, HANG_S)
        with pytest.raises(DaemonUnavailable):
            await client.call("test.get")
        await asyncio.wait_for(client.wait_closed(), HANG_S)


async def test_subscribe_and_iterate_events(tmp_path: Path) -> None:
    bus = EventBus()

    async def snapshot(topics: list[str]) -> dict[str, Any]:
        return {"running": [41]}

    bus.snapshot_provider = snapshot
    async with serve(tmp_path / "d.sock", bus=bus) as srv:
        client = await Client().connect(srv.socket_path)
        seen: list[tuple[str, dict[str, Any]]] = []
        client.on_event(lambda topic, data: seen.append((topic, data)))
        stream = client.events()
        assert await client.subscribe(["sync.finished"]) == {"running": [41]}
        bus.publish("sync.finished", {"run_id": 41, "state": "posted"})
        assert await asyncio.wait_for(anext(stream), HANG_S) == (
            "sync.finished",
            {"run_id": 41, "state": "posted"},
        )
        assert seen == [("sync.finished", {"run_id": 41, "state": "posted"})]
        assert await client.unsubscribe() == []
        await srv.stop()
        with pytest.raises(StopAsyncIteration):  # the stream ends with the connection
            await asyncio.wait_for(anext(stream), HANG_S)


async def test_a_stream_taken_before_iterating_misses_no_event(tmp_path: Path) -> None:
    """``events()`` registers the stream when it returns: events delivered before the first
    ``anext`` wait in it (they were lost while the registration waited for iteration)."""
    bus = EventBus()
    async with serve(tmp_path / "d.sock", bus=bus) as srv:
        client = await Client().connect(srv.socket_path)
        delivered: list[str] = []
        client.on_event(lambda topic, data: delivered.append(topic))
        stream = client.events()
        await client.subscribe(["sync.finished"])
        for run_id in (1, 2):
            bus.publish("sync.finished", {"run_id": run_id})
        # both reach the client before anyone iterates
        await until(lambda: len(delivered) == 2, "both events")
        assert delivered == ["sync.finished", "sync.finished"]
        got = [await asyncio.wait_for(anext(stream), HANG_S) for _ in range(2)]
        assert [data["run_id"] for _, data in got] == [1, 2]
        stream.close()  # unregistered: later events are not kept for it
        bus.publish("sync.finished", {"run_id": 3})
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(stream), HANG_S)
        await client.aclose()
        with pytest.raises(StopAsyncIteration):  # a stream of a closed client ends at once
            await asyncio.wait_for(anext(client.events()), HANG_S)


async def test_reconnecting_client_stream_has_the_first_state_and_snapshot(
    tmp_path: Path,
) -> None:
    """Taken before ``start()`` and read only after ``subscribe()``: nothing is missing."""
    bus = EventBus()

    async def snapshot(topics: list[str]) -> dict[str, Any]:
        return {"running": []}

    bus.snapshot_provider = snapshot
    async with serve(tmp_path / "d.sock", bus=bus):
        rc = ReconnectingClient(tmp_path / "d.sock", backoff_initial=0.02)
        stream = rc.events()
        await rc.start(wait=HANG_S)
        await rc.subscribe(["sync.finished"])
        bus.publish("sync.finished", {"run_id": 7})
        first = [await asyncio.wait_for(anext(stream), HANG_S) for _ in range(4)]
        assert first[0] == (STATE_TOPIC, {"state": "connecting", "error": None})
        assert first[1] == (STATE_TOPIC, {"state": "connected", "error": None})
        assert first[2][0] == SNAPSHOT_TOPIC and first[2][1]["snapshot"] == {"running": []}
        assert first[3] == ("sync.finished", {"run_id": 7})
        await rc.close()
        rest = [item async for item in stream]  # ends with the client
        assert rest == [(STATE_TOPIC, {"state": "down", "error": None})]


async def test_reconnecting_client_survives_a_daemon_restart(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    first_app, second_app = DummyApp(), DummyApp()
    first_bus, second_bus = EventBus(), EventBus()

    async def snapshot_of(app: DummyApp) -> Any:
        async def provider(topics: list[str]) -> dict[str, Any]:
            return {"instance": app.instance_id}

        return provider

    first_bus.snapshot_provider = await snapshot_of(first_app)
    second_bus.snapshot_provider = await snapshot_of(second_app)
    states: list[ConnectionState] = []
    rc = ReconnectingClient(path, client_name="test", backoff_initial=0.02, backoff_max=0.1)
    rc.add_state_listener(states.append)
    events: list[tuple[str, dict[str, Any]]] = []

    async def collect() -> None:
        async for item in rc.events():
            events.append(item)

    collector = asyncio.create_task(collect())
    await asyncio.sleep(0)

    async def wait_for(predicate: Any) -> None:
        await until(predicate, lambda: f"a condition; events so far: {events}")

    async with serve(path, app=first_app, bus=first_bus):
        await rc.start(wait=HANG_S)
        assert rc.state == ConnectionState.CONNECTED
        assert rc.instance_id == first_app.instance_id and first_app.hellos == 1
        assert await rc.subscribe(["sync.finished"]) == {"instance": first_app.instance_id}
        first_bus.publish("sync.finished", {"run_id": 1})
        await wait_for(lambda: ("sync.finished", {"run_id": 1}) in events)

    await wait_for(lambda: rc.state == ConnectionState.RECONNECTING)
    with pytest.raises(DaemonUnavailable):
        await rc.call("test.get")

    async with serve(path, app=second_app, bus=second_bus):
        await rc.wait_connected(HANG_S)
        await wait_for(lambda: second_bus.subscribers == 1)
        assert second_app.hellos == 1  # the hello was sent again
        assert rc.instance_id == second_app.instance_id
        assert await rc.call("test.add", {"amount": 2}) == 2
        second_bus.publish("sync.finished", {"run_id": 2})
        await wait_for(lambda: ("sync.finished", {"run_id": 2}) in events)
        await rc.close()

    await asyncio.wait_for(collector, HANG_S)
    snapshots = [data for topic, data in events if topic == SNAPSHOT_TOPIC]
    assert [s["snapshot"] for s in snapshots] == [
        {"instance": first_app.instance_id},
        {"instance": second_app.instance_id},
    ]
    assert [s["restarted"] for s in snapshots] == [False, True]
    # the fresh snapshot comes before the events that apply on top of it
    order = [topic if topic != "sync.finished" else data["run_id"] for topic, data in events]
    assert order.index(SNAPSHOT_TOPIC, order.index(1)) < order.index(2)
    assert states[:2] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert ConnectionState.RECONNECTING in states
    assert states[-2:] == [ConnectionState.CONNECTED, ConnectionState.DOWN]
    assert [d["state"] for t, d in events if t == STATE_TOPIC][-1] == "down"


async def test_reconnecting_client_reports_no_daemon(tmp_path: Path) -> None:
    rc = ReconnectingClient(tmp_path / "none.sock", backoff_initial=0.01, backoff_max=0.05)
    with pytest.raises(DaemonUnavailable, match="no such socket"):
        await rc.start(wait=0.2)
    assert rc.state == ConnectionState.CONNECTING
    await rc.close()
    assert rc.state == ConnectionState.DOWN


def test_default_socket_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEXSYNC_SOCKET", "/srv/x.sock")
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/bexsync:/run/other")
    assert default_socket_path() == "/srv/x.sock"
    monkeypatch.delenv("BEXSYNC_SOCKET")
    assert default_socket_path() == "/run/bexsync/bexsyncd.sock"
    monkeypatch.delenv("RUNTIME_DIRECTORY")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1234")
    assert default_socket_path() == "/run/user/1234/bexsync/bexsyncd.sock"


def test_client_does_not_import_the_daemon() -> None:
    code = (
        "import sys, bexsync_tui.client; "
        "bad = [m for m in sys.modules if m == 'daemon' or m.startswith('daemon.')]; "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
