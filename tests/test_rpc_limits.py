"""The socket server against hostile requests (issue 17.3, 17.4): ids it could not echo, batches
too long or with too large an answer, batch members past the in-flight limit, slow readers.

Each request gets exactly one answer, and nothing runs that is not answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from daemon.rpc import CallContext, Server
from daemon.rpc.dispatch import MAX_ID_LENGTH
from tests.support.waiting import until
from tests.test_rpc_protocol import DummyApp, RawConn, assert_error, make_registry


class GateApp(DummyApp):
    """Counts the calls waiting at the gate, and the most that ever waited at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0
        self.peak = 0


@contextlib.asynccontextmanager
async def gated_server(path: Path, **kwargs: Any) -> AsyncIterator[Server]:
    registry = make_registry()

    @registry.method("test.gate")
    async def gate(ctx: CallContext) -> int:
        app: GateApp = ctx.app
        app.waiting += 1
        app.peak = max(app.peak, app.waiting)
        await app.gate.wait()
        app.waiting -= 1
        return app.peak

    server = Server(registry, app=GateApp(), socket_path=path, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(timeout=2.0)


def request(method: str, rid: Any = None, **params: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if rid is not None:
        message["id"] = rid
    return message


def add(rid: Any) -> bytes:
    return b'{"jsonrpc":"2.0","method":"test.add","params":{"amount":1},"id":' + rid + b"}\n"


# --- ids (17.4) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rid",
    [b"1e400", b"-1e400", b"1.5", b"1.0", b"9007199254740993", b"-9007199254740993", b"true",
     b'"' + b"x" * (MAX_ID_LENGTH + 1) + b'"', b"[1]"],
)  # fmt: skip
async def test_an_id_that_cannot_be_echoed_is_refused_and_nothing_runs(tmp_path, rid) -> None:
    async with gated_server(tmp_path / "d.sock") as server:
        conn = await RawConn.open(server.socket_path)
        await conn.send(add(rid))
        assert_error(await conn.recv(), -32600, "InvalidRequest", None)
        # The connection is still served, and the refused call changed nothing.
        assert (await conn.call("test.get", rid=2))["result"] == 0
        conn.close()


@pytest.mark.parametrize(
    ("rid", "echoed"),
    [(b"9007199254740992", 2**53), (b"-9007199254740992", -(2**53)), (b"null", None),
     (b'"' + b"x" * MAX_ID_LENGTH + b'"', "x" * MAX_ID_LENGTH)],
)  # fmt: skip
async def test_the_ids_at_the_limits_are_answered(tmp_path, rid, echoed) -> None:
    async with gated_server(tmp_path / "d.sock") as server:
        conn = await RawConn.open(server.socket_path)
        await conn.send(add(rid))
        assert await conn.recv() == {"jsonrpc": "2.0", "result": 1, "id": echoed}
        conn.close()


async def test_a_batch_with_an_infinite_id_answers_every_member(tmp_path) -> None:
    async with gated_server(tmp_path / "d.sock") as server:
        conn = await RawConn.open(server.socket_path)
        await conn.send(
            b"[" + add(b"1")[:-1] + b"," + add(b"1e400")[:-1] + b"," + add(b"3")[:-1] + b"]\n"
        )
        answers = await conn.recv()
        assert [a.get("result") for a in answers] == [1, None, 2]
        assert_error(answers[1], -32600, "InvalidRequest", None)
        assert (await conn.call("test.get", rid=4))["result"] == 2  # what ran was answered
        conn.close()


# --- batches (17.3) -----------------------------------------------------------------------------


async def test_a_batch_over_the_count_is_refused_whole(tmp_path) -> None:
    async with gated_server(tmp_path / "d.sock", max_batch=10) as server:
        conn = await RawConn.open(server.socket_path)
        await conn.send([request("test.add", i, amount=1) for i in range(11)])
        error = assert_error(await conn.recv(), -32600, "BatchTooLarge", None)
        assert "at most 10" in error["message"]
        assert (await conn.call("test.get", rid="after"))["result"] == 0
        await conn.send([request("test.add", i, amount=1) for i in range(10)])
        assert [a["result"] for a in await conn.recv()] == list(range(1, 11))
        conn.close()


async def test_a_batch_answer_is_bounded_and_what_did_not_run_is_answered(tmp_path) -> None:
    big = {"text": "x" * 5000, "times": 2}  # 10 kB an answer
    async with gated_server(tmp_path / "d.sock", max_batch_reply=35_000) as server:
        conn = await RawConn.open(server.socket_path)
        batch = []
        for i in range(8):
            batch.append(request("test.echo", f"e{i}", **big))
            batch.append(request("test.add", f"a{i}", amount=1))
        await conn.send(batch)
        answers = await conn.recv()
        assert [a["id"] for a in answers] == [m["id"] for m in batch]  # one answer each
        ran = [a for a in answers if "result" in a]
        refused = [a for a in answers if "error" in a]
        assert 0 < len(ran) < len(batch) and refused
        assert all(a["error"]["data"]["name"] == "BatchTooLarge" for a in refused)
        assert answers.index(refused[0]) == len(ran)  # the rest, in order, did not run
        adds_run = sum(1 for a in ran if a["id"].startswith("a"))
        assert (await conn.call("test.get", rid="after"))["result"] == adds_run
        conn.close()


async def test_batch_members_wait_for_the_connections_in_flight_slots(tmp_path) -> None:
    async with gated_server(tmp_path / "d.sock", max_inflight=2) as server:
        app: GateApp = server.app
        conn = await RawConn.open(server.socket_path)
        await conn.send([request("test.gate", i) for i in range(6)])
        await until(lambda: app.waiting == 2, "two members at the gate")
        app.gate.set()
        answers = await conn.recv()
        assert len(answers) == 6 and app.peak == 2
        conn.close()


async def test_a_client_that_never_reads_its_answers_is_disconnected(tmp_path) -> None:
    async with gated_server(tmp_path / "d.sock", max_write_buffer=256 * 1024) as server:
        hog = await RawConn.open(server.socket_path)
        echo = request("test.echo", None, text="x" * 9000, times=5)  # 45 kB an answer
        lines = b"".join(json.dumps({**echo, "id": i}).encode() + b"\n" for i in range(400))
        hog.writer.write(lines)  # about 18 MB of answers it never reads
        other = await RawConn.open(server.socket_path)
        await until(lambda: server.clients <= 1, "the hog to be disconnected")
        assert (await other.call("test.get", rid="still"))["result"] == 0
        assert sum(c.write_buffer_size for c in server.connections) < 1024 * 1024
        other.close()
        hog.writer.transport.abort()
