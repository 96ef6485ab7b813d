"""JSON-RPC 2.0 conformance of the daemon's socket server, over real Unix sockets.

The helpers at the top (a small test registry, ``serve``, ``RawConn``) are shared by the other
RPC test files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest

from daemon.events import EventBus, register_event_methods
from daemon.rpc import (
    CallContext,
    Int64,
    Meta,
    NotFound,
    Params,
    Registry,
    Server,
    SocketInUse,
    Text,
    UnsafeSocketPath,
)
from providers.errors import rate_limited
from tests.support.waiting import HANG_S, until

# --- a small application and registry used by all RPC tests -------------------------------------


@dataclass
class DummyApp:
    counter: int = 0
    started: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    hellos: int = 0
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class EchoParams(Params):
    text: Text
    times: Annotated[int, Meta(ge=1, le=5)] = 1


class AddParams(Params):
    amount: Int64


class SlowParams(Params):
    seconds: float
    tag: Text = ""


class HelloParams(Params):
    client: Text | None = None
    version: Text | None = None


def make_registry(bus: EventBus | None = None) -> Registry:
    registry = Registry()

    @registry.method("test.echo")
    async def echo(ctx: CallContext, p: EchoParams) -> dict[str, Any]:
        """Return the text, repeated."""
        return {"text": p.text * p.times}

    @registry.method("test.add")
    async def add(ctx: CallContext, p: AddParams) -> int:
        """Change the dummy state (the only method that does)."""
        ctx.app.counter += p.amount
        return ctx.app.counter

    @registry.method("test.get")
    async def get(ctx: CallContext) -> int:
        return ctx.app.counter

    @registry.method("test.slow")
    async def slow(ctx: CallContext, p: SlowParams) -> str:
        ctx.app.started.append(p.tag)
        await asyncio.sleep(p.seconds)
        ctx.app.completed.append(p.tag)
        return p.tag

    @registry.method("test.crash")
    async def crash(ctx: CallContext) -> None:
        raise RuntimeError("token=s3cr3t-value leaked into an exception")

    @registry.method("test.missing")
    async def missing(ctx: CallContext) -> None:
        raise NotFound("No configuration with id 7.")

    @registry.method("test.provider")
    async def provider(ctx: CallContext) -> None:
        raise rate_limited("xero", "Xero asks us to slow down.", retry_after=30.0)

    @registry.method("test.money")
    async def money(ctx: CallContext) -> dict[str, Any]:
        return {"total": Decimal("1234.50"), "day": date(2024, 5, 1)}

    @registry.method("test.float_nan")
    async def float_nan(ctx: CallContext) -> float:
        return float("nan")

    @registry.method("test.whoami")
    async def whoami(ctx: CallContext) -> dict[str, int]:
        return {"uid": ctx.peer.uid, "gid": ctx.peer.gid, "pid": ctx.peer.pid}

    @registry.method("daemon.hello")
    async def hello(ctx: CallContext, p: HelloParams) -> dict[str, Any]:
        ctx.app.hellos += 1
        return {"api_version": "1.0", "server_version": "test", "instance_id": ctx.app.instance_id}

    if bus is not None:
        register_event_methods(registry, bus)
    return registry


@contextlib.asynccontextmanager
async def serve(
    path: Path | str,
    *,
    app: DummyApp | None = None,
    bus: EventBus | None = None,
    **kwargs: Any,
) -> AsyncIterator[Server]:
    server = Server(make_registry(bus), app=app or DummyApp(), socket_path=path, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(timeout=2.0)


class RawConn:
    """A bare socket client: bytes in, parsed JSON lines out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, path: Path | str) -> RawConn:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=16 * 1024 * 1024)
        return cls(reader, writer)

    async def send(self, data: bytes | dict[str, Any] | list[Any]) -> None:
        if not isinstance(data, bytes):
            data = json.dumps(data).encode() + b"\n"
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = HANG_S) -> Any:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        assert line, "the server closed the connection"
        return json.loads(line)

    async def call(self, method: str, params: Any = None, rid: Any = 1) -> Any:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return await self.recv()

    async def assert_silent(self, wait: float = 0.2) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.reader.readline(), wait)

    async def assert_closed(self, timeout: float = HANG_S) -> None:
        rest = await asyncio.wait_for(self.reader.read(), timeout)
        assert rest == b""

    def close(self) -> None:
        self.writer.close()


def assert_error(response: dict[str, Any], code: int, name: str, rid: Any = None) -> dict[str, Any]:
    assert response["jsonrpc"] == "2.0"
    assert "result" not in response
    assert response["id"] == rid
    error = response["error"]
    assert error["code"] == code
    assert error["data"]["name"] == name
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serve(tmp_path / "d.sock") as srv:
        yield srv


@pytest.fixture
async def conn(server: Server) -> AsyncIterator[RawConn]:
    c = await RawConn.open(server.socket_path)
    yield c
    c.close()


# --- the error cases of the spec ----------------------------------------------------------------


async def test_call_returns_result_with_the_same_id(conn: RawConn) -> None:
    response = await conn.call("test.echo", {"text": "ab", "times": 2}, rid="req-7")
    assert response == {"jsonrpc": "2.0", "result": {"text": "abab"}, "id": "req-7"}


async def test_positional_params_map_to_fields_in_order(conn: RawConn) -> None:
    response = await conn.call("test.echo", ["x", 3], rid=2)
    assert response["result"] == {"text": "xxx"}


@pytest.mark.parametrize(
    "line",
    [b"{not json", b'{"jsonrpc": "2.0", "method": "test.get", "id": 1', b"\xff\xfe{}", b"NaN"],
)
async def test_parse_error_answers_with_null_id_and_keeps_the_connection(
    conn: RawConn, line: bytes
) -> None:
    await conn.send(line + b"\n")
    assert_error(await conn.recv(), -32700, "ParseError")
    assert (await conn.call("test.get"))["result"] == 0


@pytest.mark.parametrize(
    ("message", "rid"),
    [
        (42, None),
        ("a string", None),
        ({"jsonrpc": "1.0", "method": "test.get", "id": 1}, 1),
        ({"method": "test.get", "id": 2}, 2),
        ({"jsonrpc": "2.0", "method": 5, "id": 3}, 3),
        ({"jsonrpc": "2.0", "id": 4}, 4),
        ({"jsonrpc": "2.0", "method": "test.get", "id": {"x": 1}}, None),
        ({"jsonrpc": "2.0", "method": "test.get", "id": True}, None),
        ({"jsonrpc": "2.0", "method": "test.echo", "params": "text", "id": 5}, 5),
    ],
)
async def test_invalid_request(conn: RawConn, message: Any, rid: Any) -> None:
    await conn.send(message)
    assert_error(await conn.recv(), -32600, "InvalidRequest", rid)


async def test_unknown_method(conn: RawConn) -> None:
    error = assert_error(await conn.call("no.such", rid=9), -32601, "MethodNotFound", 9)
    assert "no.such" in error["message"]


async def test_invalid_params_lists_every_field(conn: RawConn) -> None:
    response = await conn.call("test.echo", {"times": 9, "colour": "red"}, rid=3)
    error = assert_error(response, -32602, "InvalidParams", 3)
    assert sorted(error["data"]["errors"], key=lambda e: e["field"]) == [
        {"field": "colour", "message": "unknown parameter"},
        {"field": "text", "message": "is required"},
        {"field": "times", "message": "must be between 1 and 5"},
    ]


async def test_params_on_a_method_without_params(conn: RawConn) -> None:
    error = assert_error(await conn.call("test.get", {"x": 1}), -32602, "InvalidParams", 1)
    assert error["data"]["errors"] == [{"field": "x", "message": "unknown parameter"}]


async def test_empty_batch_is_one_invalid_request(conn: RawConn) -> None:
    await conn.send(b"[]\n")
    assert_error(await conn.recv(), -32600, "InvalidRequest")


async def test_mixed_batch_answers_in_order_without_notifications(
    server: Server, conn: RawConn
) -> None:
    await conn.send(
        [
            {"jsonrpc": "2.0", "method": "test.echo", "params": {"text": "a"}, "id": 1},
            1,
            {"jsonrpc": "2.0", "method": "test.add", "params": {"amount": 5}},
            {"jsonrpc": "2.0", "method": "no.such", "id": "x"},
            {"jsonrpc": "2.0", "method": "test.echo", "params": {}, "id": 2},
        ]
    )
    responses = await conn.recv()
    assert isinstance(responses, list) and len(responses) == 4
    assert responses[0] == {"jsonrpc": "2.0", "result": {"text": "a"}, "id": 1}
    assert_error(responses[1], -32600, "InvalidRequest")
    assert_error(responses[2], -32601, "MethodNotFound", "x")
    assert_error(responses[3], -32602, "InvalidParams", 2)
    assert server.app.counter == 5  # the notification in the batch ran


async def test_notification_runs_but_gets_no_answer(server: Server, conn: RawConn) -> None:
    await conn.send({"jsonrpc": "2.0", "method": "test.add", "params": {"amount": 2}})
    await conn.send({"jsonrpc": "2.0", "method": "no.such"})  # errors are silent too
    await conn.assert_silent()
    assert (await conn.call("test.get", rid=8)) == {"jsonrpc": "2.0", "result": 2, "id": 8}


async def test_batch_of_notifications_sends_nothing(server: Server, conn: RawConn) -> None:
    note = {"jsonrpc": "2.0", "method": "test.add", "params": {"amount": 1}}
    await conn.send([note, note, note])
    await conn.assert_silent()
    response = await conn.call("test.get", rid="after")
    assert response == {"jsonrpc": "2.0", "result": 3, "id": "after"}


async def test_null_id_is_a_request_not_a_notification(conn: RawConn) -> None:
    assert (await conn.call("test.get", rid=None)) == {"jsonrpc": "2.0", "result": 0, "id": None}


async def test_blank_lines_are_ignored(conn: RawConn) -> None:
    await conn.send(b"\n  \n")
    assert (await conn.call("test.get"))["result"] == 0


# --- errors raised by handlers ------------------------------------------------------------------


async def test_unexpected_exception_is_a_generic_internal_error(
    conn: RawConn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="daemon.rpc.dispatch"):
        response = await conn.call("test.crash", rid=4)
    error = assert_error(response, -32603, "InternalError", 4)
    assert "s3cr3t" not in json.dumps(response)
    assert "test.crash" in error["message"]
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "RuntimeError" in caplog.text  # the traceback stays in the daemon's log


async def test_application_error_keeps_its_code_and_message(conn: RawConn) -> None:
    error = assert_error(await conn.call("test.missing", rid=5), -32001, "NotFound", 5)
    assert error["message"] == "No configuration with id 7."


async def test_provider_error_becomes_32004(conn: RawConn) -> None:
    error = assert_error(await conn.call("test.provider"), -32004, "ProviderError", 1)
    assert error["data"]["provider"] == "xero"
    assert error["data"]["kind"] == "rate_limited"
    assert error["data"]["retryable"] is True
    assert error["data"]["retry_after"] == 30.0


async def test_decimal_and_date_results_travel_as_strings(conn: RawConn) -> None:
    assert (await conn.call("test.money"))["result"] == {"total": "1234.50", "day": "2024-05-01"}


async def test_unserialisable_result_is_an_internal_error(conn: RawConn) -> None:
    assert_error(await conn.call("test.float_nan", rid=6), -32603, "InternalError", 6)
    assert (await conn.call("test.get"))["result"] == 0


# --- size limit, disconnects, concurrency -------------------------------------------------------


async def test_message_at_the_limit_is_accepted(server: Server, conn: RawConn) -> None:
    request = json.dumps({"jsonrpc": "2.0", "method": "test.get", "id": 1}).encode()
    padded = request[:-1] + b" " * (server.max_message - len(request)) + b"}"
    assert len(padded) == server.max_message == 1024 * 1024
    await conn.send(padded + b"\n")
    assert (await conn.recv())["result"] == 0


async def test_oversized_message_gets_32600_then_the_connection_closes(
    server: Server, conn: RawConn
) -> None:
    await conn.send(b"[" + b" " * (1024 * 1024 + 10))  # no newline: counted while it arrives
    assert_error(await conn.recv(), -32600, "MessageTooLarge")
    await conn.assert_closed()
    other = await RawConn.open(server.socket_path)  # the daemon itself is fine
    assert (await other.call("test.get"))["result"] == 0
    other.close()


async def test_oversized_complete_line_is_refused_too(server: Server, conn: RawConn) -> None:
    huge = json.dumps({"jsonrpc": "2.0", "method": "test.echo", "params": {"text": "x" * 2**20}})
    await conn.send(huge.encode() + b"\n")
    assert_error(await conn.recv(), -32600, "MessageTooLarge")
    await conn.assert_closed()


async def test_client_gone_mid_message_disturbs_nothing(server: Server) -> None:
    half = await RawConn.open(server.socket_path)
    await half.send(b'{"jsonrpc": "2.0", "method": "test.add", "params": {"amo')
    half.close()
    await asyncio.sleep(0.05)
    other = await RawConn.open(server.socket_path)
    assert (await other.call("test.get"))["result"] == 0
    other.close()
    assert server.app.counter == 0


async def test_client_gone_mid_call_lets_the_call_finish_quietly(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    leaving = await RawConn.open(server.socket_path)
    await leaving.send(
        {"jsonrpc": "2.0", "method": "test.slow", "params": {"seconds": 0.2, "tag": "t"}, "id": 1}
    )
    await until(lambda: server.app.started, "the call to start")
    leaving.close()
    with caplog.at_level(logging.WARNING):
        await until(lambda: server.app.completed, "the call to finish")
    assert server.app.completed == ["t"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    other = await RawConn.open(server.socket_path)
    assert (await other.call("test.get"))["result"] == 0
    other.close()


async def test_a_slow_call_does_not_block_the_next_one_on_the_same_connection(
    conn: RawConn,
) -> None:
    await conn.send(
        {"jsonrpc": "2.0", "method": "test.slow", "params": {"seconds": 1.0, "tag": "s"}, "id": 1}
    )
    await conn.send({"jsonrpc": "2.0", "method": "test.get", "id": 2})
    first = await conn.recv()  # the order shows it; a time limit would only guess the load
    assert first["id"] == 2
    assert (await conn.recv())["id"] == 1


async def test_half_closed_client_still_gets_its_answer(server: Server) -> None:
    c = await RawConn.open(server.socket_path)
    await c.send(b'{"jsonrpc": "2.0", "method": "test.echo", "params": {"text": "z"}, "id": 1}')
    c.writer.write_eof()  # like `printf ... | nc -U`: no trailing newline, then EOF
    assert (await c.recv())["result"] == {"text": "z"}
    await c.assert_closed()


async def test_fifty_concurrent_clients(server: Server) -> None:
    conns = await asyncio.gather(*(RawConn.open(server.socket_path) for _ in range(50)))

    async def work(i: int, c: RawConn) -> list[Any]:
        for j in range(5):
            await c.send(
                {"jsonrpc": "2.0", "method": "test.echo", "params": {"text": f"{i}-{j}"}, "id": j}
            )
        return sorted([await c.recv() for _ in range(5)], key=lambda r: r["id"])

    await until(lambda: server.clients == 50, "the server to accept all 50")
    results = await asyncio.gather(*(work(i, c) for i, c in enumerate(conns)))
    for i, responses in enumerate(results):
        assert [r["result"]["text"] for r in responses] == [f"{i}-{j}" for j in range(5)]
    for c in conns:
        c.close()


async def test_client_that_does_not_read_cannot_stall_others(server: Server) -> None:
    hog = await RawConn.open(server.socket_path)
    request = {"jsonrpc": "2.0", "method": "test.echo", "params": {"text": "x" * 9000, "times": 5}}
    line = b"".join(
        json.dumps({**request, "id": i}).encode() + b"\n" for i in range(2000)
    )  # ~90 MB of answers that it never reads
    hog.writer.write(line)
    other = await RawConn.open(server.socket_path)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(20):
        assert (await other.call("test.get"))["result"] == 0
    assert loop.time() - started < 2.0
    # the daemon stopped reading the hog instead of queueing its 90 MB of answers
    assert sum(c.write_buffer_size for c in server.connections) < 8 * 1024 * 1024
    other.close()
    hog.writer.transport.abort()


# --- the socket file ----------------------------------------------------------------------------


async def test_socket_mode_and_cleanup(tmp_path: Path) -> None:
    path = tmp_path / "run" / "d.sock"
    async with serve(path, socket_mode=0o660):
        st = os.lstat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
    assert not path.exists()


async def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: a daemon that crashed
    async with serve(path) as srv:
        c = await RawConn.open(srv.socket_path)
        assert (await c.call("test.get"))["result"] == 0
        c.close()


async def test_live_daemon_on_the_path_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    async with serve(path):
        second = Server(make_registry(), app=DummyApp(), socket_path=path)
        with pytest.raises(SocketInUse, match="already listening"):
            await second.start()
        c = await RawConn.open(path)  # the first one still works
        assert (await c.call("test.get"))["result"] == 0
        c.close()


async def test_symlink_at_the_socket_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    path = tmp_path / "d.sock"
    path.symlink_to(target)
    with pytest.raises(UnsafeSocketPath, match="symbolic link"):
        await Server(make_registry(), app=DummyApp(), socket_path=path).start()
    assert path.is_symlink() and not target.exists()


async def test_regular_file_at_the_socket_path_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    path.write_text("precious")
    with pytest.raises(UnsafeSocketPath, match="not a socket"):
        await Server(make_registry(), app=DummyApp(), socket_path=path).start()
    assert path.read_text() == "precious"


async def test_stop_finishes_in_flight_calls_then_disconnects(tmp_path: Path) -> None:
    async with serve(tmp_path / "d.sock") as srv:
        c = await RawConn.open(srv.socket_path)
        await c.send(
            {
                "jsonrpc": "2.0",
                "method": "test.slow",
                "params": {"seconds": 0.2, "tag": "a"},
                "id": 1,
            }
        )
        await until(lambda: srv.app.started, "the call to start")
        await srv.stop(timeout=5)
        assert (await c.recv())["result"] == "a"
        await c.assert_closed()
        with pytest.raises(OSError):
            await RawConn.open(srv.socket_path)


async def test_rpc_discover_is_served(conn: RawConn) -> None:
    document = (await conn.call("rpc.discover"))["result"]
    assert document["openrpc"].startswith("1.")
    assert {m["name"] for m in document["methods"]} >= {"test.echo", "rpc.discover"}
