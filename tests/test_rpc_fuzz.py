"""Fuzzing a live server: random bytes, random JSON and near-valid requests.

Whatever arrives, every answer must be a well-formed JSON-RPC response with ``data.name`` on
errors, the server must keep answering other clients, and the dummy state must not change.
The server runs in its own thread and loop, so the fuzzer can use plain blocking sockets.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.events import EventBus
from daemon.rpc import Server
from tests.support.fuzz_counts import fuzz_settings, tried
from tests.test_rpc_protocol import DummyApp, make_registry

MAX_MESSAGE = 4096  # small, so that the fuzzer also reaches the size limit
SAFE_METHODS = [  # everything but the state-changing and the sleeping dummy methods
    "test.echo",
    "test.get",
    "test.crash",
    "test.missing",
    "test.provider",
    "test.money",
    "test.whoami",
    "daemon.hello",
    "events.subscribe",
    "events.unsubscribe",
    "rpc.discover",
    "no.such",
    "rpc.",
    "",
]


class LiveServer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.app = DummyApp()
        self.loop = asyncio.new_event_loop()
        self.server = Server(
            make_registry(EventBus()),
            app=self.app,
            socket_path=path,
            max_message=MAX_MESSAGE,
            linger=0.2,
        )
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop(timeout=2))
        self.loop.close()

    def __enter__(self) -> LiveServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("fuzz") / "d.sock") as server:
        yield server


def exchange(path: Path, payload: bytes, cuts: list[int] | None = None) -> tuple[list[Any], bool]:
    """Send ``payload`` (in pieces of ``cuts`` bytes first), half-close, read every answer
    until the server hangs up."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(path))
    data = b""
    try:
        try:
            rest = payload
            for cut in cuts or []:
                sock.sendall(rest[:cut])
                rest = rest[cut:]
            sock.sendall(rest)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server already refused an oversized message
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
    too_large = len(max(payload.split(b"\n"), key=len)) > MAX_MESSAGE
    return [json.loads(line) for line in data.splitlines()], too_large


def check_response(response: Any) -> None:
    assert isinstance(response, dict), response
    assert response["jsonrpc"] == "2.0"
    assert "id" in response
    rid = response["id"]
    assert rid is None or (isinstance(rid, str | int | float) and not isinstance(rid, bool))
    assert ("result" in response) != ("error" in response), response
    if "error" in response:
        error = response["error"]
        assert isinstance(error["code"], int)
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["data"]["name"], str) and error["data"]["name"]
        assert "s3cr3t" not in json.dumps(error)


def still_healthy(live: LiveServer) -> None:
    answers, _ = exchange(live.path, b'{"jsonrpc":"2.0","method":"test.get","id":"ping"}\n')
    assert answers == [{"jsonrpc": "2.0", "result": 0, "id": "ping"}]
    assert live.app.counter == 0


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
ids = st.none() | st.integers() | st.text(max_size=8) | st.booleans() | st.lists(st.integers())
requests = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "2.0", "1.0", 2]),
        "method": st.sampled_from(SAFE_METHODS) | st.text(max_size=12),
    },
    optional={
        "id": ids,
        "params": json_values
        | st.fixed_dictionaries({}, optional={"text": json_values, "times": json_values}),
    },
)
lines = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    requests.map(lambda r: json.dumps(r).encode()),
    st.lists(requests | json_values, max_size=5).map(lambda b: json.dumps(b).encode()),
    st.binary(min_size=MAX_MESSAGE - 50, max_size=MAX_MESSAGE + 50),
    st.binary(max_size=60).map(lambda b: b"\xff\xfe" + b + b"\xc3"),  # invalid UTF-8
    st.integers(2, 60).map(lambda n: b"[" * n + b"{" + b"]" * n),  # unbalanced nesting
)


@fuzz_settings(250)
@given(st.lists(lines, min_size=1, max_size=8), st.lists(st.integers(1, 200), max_size=6))
def test_fuzzed_input_gets_well_formed_answers(
    live: LiveServer, messages: list[bytes], cuts: list[int]
) -> None:
    """Several messages in one write or split into partial frames at random byte offsets."""
    payload = b"\n".join(messages) + b"\n"
    answers, too_large = exchange(live.path, payload, cuts)
    errors = 0
    for answer in answers:
        for response in answer if isinstance(answer, list) else [answer]:
            check_response(response)
            errors += "error" in response
    if too_large:
        assert answers and answers[-1]["error"]["data"]["name"] == "MessageTooLarge"
    tried("line protocol, raw frames", refused=errors > 0)
    still_healthy(live)


def test_fuzz_leaves_no_connection_behind(live: LiveServer) -> None:
    still_healthy(live)
    for _ in range(300):
        if live.server.clients == 0:
            break
        threading.Event().wait(0.01)
    assert live.server.clients == 0
