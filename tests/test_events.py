"""The event bus over real sockets: snapshot ordering, coalescing, slow subscribers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from daemon.events import EventBus
from daemon.rpc import Server
from tests.support.waiting import HANG_S, until
from tests.test_rpc_protocol import DummyApp, RawConn, assert_error, serve

Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def server(tmp_path: Path, bus: EventBus) -> AsyncIterator[Server]:
    async with serve(tmp_path / "d.sock", bus=bus) as srv:
        yield srv


async def subscribe(server: Server, topics: list[str] | None = None) -> tuple[RawConn, Any]:
    conn = await RawConn.open(server.socket_path)
    params = {} if topics is None else {"topics": topics}
    response = await conn.call("events.subscribe", params, rid="sub")
    assert response["id"] == "sub", response
    return conn, response["result"]


async def next_event(conn: RawConn, timeout: float = HANG_S) -> tuple[str, dict[str, Any]]:
    message = await conn.recv(timeout)
    assert message["method"] == "event"
    return message["params"]["topic"], message["params"]["data"]


async def drain(conn: RawConn, done: Callable[[Events], bool]) -> Events:
    """Every event until ``done(events)``: the last one the test waits for has arrived (a quiet
    spell would only guess it: a busy machine can pause between two events)."""
    events: Events = []
    async with asyncio.timeout(HANG_S):
        while not done(events):
            line = await conn.reader.readline()
            assert line, f"the server closed the connection after {events}"
            message = json.loads(line)
            events.append((message["params"]["topic"], message["params"]["data"]))
    return events


async def stuck_subscriber(server: Server) -> socket.socket:
    """A subscriber that stops reading: a plain socket with a tiny receive buffer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(server.socket_path)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_sendall(
        sock, b'{"jsonrpc": "2.0", "method": "events.subscribe", "id": 1}\n'
    )
    return sock


async def drain_socket(sock: socket.socket, last_seq: int) -> list[tuple[str, Any]]:
    """Read a stuck subscriber at last, up to the event numbered ``last_seq``:
    ("response", result) and (topic, data) items."""
    loop = asyncio.get_running_loop()
    data = b""
    items: list[tuple[str, Any]] = []
    async with asyncio.timeout(HANG_S):
        while not items or items[-1][1].get("seq") != last_seq:
            chunk = await loop.sock_recv(sock, 1 << 16)
            assert chunk, f"the server closed the connection after {len(items)} items"
            data += chunk
            *lines, data = data.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "method" in message:
                    items.append((message["params"]["topic"], message["params"]["data"]))
                else:
                    items.append(("response", message["result"]))
    return items


async def test_snapshot_first_then_only_later_events(server: Server, bus: EventBus) -> None:
    async def snapshot(topics: list[str]) -> dict[str, Any]:
        return {"runs": [{"id": 1, "state": "fetching"}], "topics_seen": topics}

    bus.snapshot_provider = snapshot
    bus.publish("sync.finished", {"run_id": 0, "state": "posted"})  # before: never delivered
    conn, result = await subscribe(server, ["sync.finished", "notification.created"])
    assert result == {
        "topics": ["sync.finished", "notification.created"],
        "snapshot": {
            "runs": [{"id": 1, "state": "fetching"}],
            "topics_seen": ["sync.finished", "notification.created"],
        },
    }
    bus.publish("configuration.updated", {"id": 3})  # not subscribed
    bus.publish("notification.created", {"id": 9, "title": "Posted"})
    assert await next_event(conn) == ("notification.created", {"id": 9, "title": "Posted"})
    await conn.assert_silent()


async def test_no_event_lost_or_repeated_around_the_snapshot(server: Server, bus: EventBus) -> None:
    state = {"version": 0}

    async def snapshot(topics: list[str]) -> dict[str, Any]:
        taken = state["version"]
        await asyncio.sleep(0.01)  # the provider still does I/O after reading the state
        return {"version": taken}

    bus.snapshot_provider = snapshot
    stop = asyncio.Event()

    async def publisher() -> None:
        while not stop.is_set():
            state["version"] += 1
            bus.publish("configuration.updated", {"version": state["version"]})
            await asyncio.sleep(0.0005)

    task = asyncio.create_task(publisher())
    try:
        subscribers = []
        for _ in range(6):  # subscribe at several moments of the stream
            await asyncio.sleep(0.02)
            subscribers.append(await subscribe(server))
        await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    last = state["version"]

    def up_to_last(events: Events) -> bool:
        return bool(events) and events[-1][1]["version"] >= last

    received = await asyncio.gather(*(drain(conn, up_to_last) for conn, _ in subscribers))
    for (conn, result), events in zip(subscribers, received, strict=True):
        start = result["snapshot"]["version"]
        assert 0 < start < last
        assert [data["version"] for _, data in events] == list(range(start + 1, last + 1))
        conn.close()


async def test_progress_is_coalesced_but_the_final_state_arrives(
    server: Server, bus: EventBus
) -> None:
    conn, _ = await subscribe(server)
    for done in range(1, 1001):
        bus.publish(
            "sync.progress", {"run_id": 7, "stage": "fetching", "done": done, "total": 1000}
        )
    bus.publish("sync.finished", {"run_id": 7, "state": "posted"})
    events = await drain(conn, lambda events: any(t == "sync.finished" for t, _ in events))
    progress = [data["done"] for topic, data in events if topic == "sync.progress"]
    assert len(progress) <= 2
    assert progress[-1] == 1000
    assert events[-1] == ("sync.finished", {"run_id": 7, "state": "posted"})
    await conn.assert_silent()  # nothing after the finish


async def test_progress_rate_is_limited_per_run(server: Server, bus: EventBus) -> None:
    conn, _ = await subscribe(server, ["sync.progress"])
    seen: dict[str, list[int]] = {"a": [], "b": []}

    async def read() -> None:
        while True:
            _, data = await next_event(conn)
            seen[data["run_id"]].append(data["done"])

    reader = asyncio.create_task(read())
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = 0
    # Publish as fast as the loop allows until each run has had four updates through: the
    # count is what matters; the time it took (however busy the machine) sets the bound.
    while min(len(got) for got in seen.values()) < 4:
        assert loop.time() - started < HANG_S, seen
        done += 1
        for run_id in ("a", "b"):
            bus.publish("sync.progress", {"run_id": run_id, "done": done})
        await asyncio.sleep(0.001)
    elapsed = loop.time() - started
    await until(lambda: all(got[-1] == done for got in seen.values()), "the latest state")
    reader.cancel()
    for got in seen.values():
        assert len(got) <= elapsed * 10 + 3, (got, elapsed)  # 10 a second, plus first and last
        assert got == sorted(got)
        assert got[-1] == done  # the latest state is never dropped


async def test_other_topics_arrive_complete_and_in_order(server: Server, bus: EventBus) -> None:
    conn, _ = await subscribe(server)
    for i in range(300):
        topic = "notification.created" if i % 2 else "authorisation.updated"
        bus.publish(topic, {"seq": i})
    events = await drain(conn, lambda events: len(events) >= 300)
    assert [data["seq"] for _, data in events] == list(range(300))
    await conn.assert_silent()


async def test_slow_subscriber_does_not_block_publisher_or_others(
    server: Server, bus: EventBus
) -> None:
    stuck = await stuck_subscriber(server)
    healthy, _ = await subscribe(server)
    caller = await RawConn.open(server.socket_path)
    received: list[int] = []

    async def read_healthy() -> None:
        while len(received) < 3000:
            _, data = await next_event(healthy)
            received.append(data["seq"])

    reader = asyncio.create_task(read_healthy())
    # publish() is synchronous and never waits on a socket: were it to block on the stuck one,
    # this loop (and the caller's answers) would hang, and the bounded waits below would fail.
    for batch in range(150):
        for i in range(20):
            bus.publish("notification.created", {"seq": batch * 20 + i, "body": "x" * 2000})
        if batch % 30 == 0:
            answer = await caller.call("test.get")
            assert answer["result"] == 0
        await asyncio.sleep(0)
    await asyncio.wait_for(reader, HANG_S)
    assert received == list(range(3000))  # the healthy client lost nothing

    # the stuck one got what fitted in its buffers, then a gap it is told about, then the latest
    events = await drain_socket(stuck, last_seq=2999)
    assert events[0][0] == "response"
    events = events[1:]
    lost = [data for topic, data in events if topic == "events.lost"]
    assert len(lost) == 1 and lost[0]["dropped"] > 0
    seqs = [data["seq"] for topic, data in events if topic == "notification.created"]
    assert seqs == sorted(seqs) and seqs[-1] == 2999
    assert len(seqs) + lost[0]["dropped"] == 3000
    stuck.close()
    for conn in (healthy, caller):
        conn.close()


async def test_unknown_topic_is_invalid_params(server: Server) -> None:
    conn = await RawConn.open(server.socket_path)
    response = await conn.call("events.subscribe", {"topics": ["sync.finished", "sync.dance"]})
    error = assert_error(response, -32602, "InvalidParams", 1)
    assert error["data"]["errors"][0]["field"] == "topics[1]"
    conn.close()


async def test_unsubscribe_and_disconnect_stop_delivery(server: Server, bus: EventBus) -> None:
    conn, _ = await subscribe(server)
    response = await conn.call("events.unsubscribe", {"topics": ["sync.progress"]}, rid=2)
    assert "sync.progress" not in response["result"]["topics"]
    bus.publish("sync.progress", {"run_id": 1, "done": 1})
    bus.publish("sync.finished", {"run_id": 1})
    assert await next_event(conn) == ("sync.finished", {"run_id": 1})
    assert (await conn.call("events.unsubscribe", {}, rid=3))["result"] == {"topics": []}
    bus.publish("sync.finished", {"run_id": 2})
    await conn.assert_silent()
    assert bus.subscribers == 0

    other, _ = await subscribe(server)
    assert bus.subscribers == 1
    other.close()
    await until(lambda: bus.subscribers == 0, "the closed subscriber to be dropped")
    bus.publish("sync.finished", {"run_id": 3})  # nobody listens: fine


async def test_resubscribe_changes_the_filter_and_gives_a_fresh_snapshot(
    server: Server, bus: EventBus
) -> None:
    calls: list[list[str]] = []

    async def snapshot(topics: list[str]) -> dict[str, Any]:
        calls.append(topics)
        return {"n": len(calls)}

    bus.snapshot_provider = snapshot
    conn, first = await subscribe(server, ["sync.finished"])
    second = await conn.call("events.subscribe", {"topics": ["notification.created"]}, rid=2)
    assert first["snapshot"] == {"n": 1} and second["result"]["snapshot"] == {"n": 2}
    bus.publish("sync.finished", {"run_id": 1})
    bus.publish("notification.created", {"id": 1})
    assert await next_event(conn) == ("notification.created", {"id": 1})
    await conn.assert_silent()


async def test_failing_snapshot_leaves_no_subscription(server: Server, bus: EventBus) -> None:
    async def broken(topics: list[str]) -> dict[str, Any]:
        raise RuntimeError("database is locked")

    bus.snapshot_provider = broken
    conn = await RawConn.open(server.socket_path)
    assert_error(await conn.call("events.subscribe"), -32603, "InternalError", 1)
    assert bus.subscribers == 0
    bus.publish("sync.finished", {"run_id": 1})
    await conn.assert_silent()


def test_publish_checks_the_topic() -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match="unknown event topic"):
        bus.publish("sync.progres", {})
    bus.publish("sync.progress", {"run_id": 1})  # nobody subscribed: a no-op


async def test_events_of_a_call_are_not_mixed_into_a_response_line(
    tmp_path: Path, bus: EventBus
) -> None:
    async with serve(tmp_path / "e.sock", bus=bus, app=DummyApp()) as srv:
        conn, _ = await subscribe(srv)
        await conn.send({"jsonrpc": "2.0", "method": "test.echo", "params": {"text": "y"}, "id": 5})
        for i in range(50):
            bus.publish("notification.created", {"seq": i})
        messages = [await conn.recv() for _ in range(51)]
        assert sum(1 for m in messages if m.get("id") == 5) == 1
        assert [m["params"]["data"]["seq"] for m in messages if "method" in m] == list(range(50))
        conn.close()
