"""Hypothesis against a live bexsyncd: random bytes, random JSON, random params for every method.

The daemon must answer every request with a well-formed JSON-RPC message, keep answering, and a
refused call must leave the state exactly as it was (compared as a full SQL dump).
"""

from __future__ import annotations

import json
import socket
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.daemon import DaemonProcess
from tests.test_daemon_lifecycle import call

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


class Line:
    def __init__(self, path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")

    def ask(self, payload: bytes) -> bytes:
        self.sock.sendall(payload + b"\n")
        return self.reader.readline()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    proc = DaemonProcess(tmp).start()
    made = call(proc.socket, "authorisations.create", {"name": "Books", "provider": "sandbox"})
    assert made.returncode == 0, made.stderr
    doc = json.loads(call(proc.socket, "rpc.discover").stdout)
    proc.methods = sorted(m["name"] for m in doc["methods"])
    proc.line = Line(proc.socket)
    yield proc
    proc.stop()


def dump(proc) -> str:
    with sqlite3.connect(proc.state_dir / "bexsync.sqlite3") as db:
        return "\n".join(db.iterdump())


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=st.data())
def test_random_params_for_every_method(daemon, data):
    method = data.draw(st.sampled_from([m for m in daemon.methods if m != "events.subscribe"]))
    params = data.draw(json_values | st.dictionaries(st.text(max_size=20), json_values))
    before = dump(daemon)
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = json.loads(daemon.line.ask(json.dumps(request).encode()))
    assert answer["jsonrpc"] == "2.0" and answer["id"] == 1
    if "error" in answer:
        assert answer["error"]["data"]["name"]
        assert "Traceback" not in answer["error"]["message"]
        assert dump(daemon) == before, (method, params)
    else:
        assert "result" in answer


@FUZZ
@given(raw=st.binary(max_size=300).filter(lambda b: b"\n" not in b) | st.builds(
    lambda v: json.dumps(v).encode(), json_values))  # fmt: skip
def test_random_lines_never_break_the_daemon(daemon, raw):
    before = dump(daemon)
    if not raw.strip():
        raw = b" " + raw + b"{}"  # blank lines are skipped; make it a line that needs an answer
    answer = daemon.line.ask(raw)
    if answer:  # notifications (valid ones) get no answer; everything else a JSON-RPC message
        message = json.loads(answer)
        items = message if isinstance(message, list) else [message]
        assert all(item.get("jsonrpc") == "2.0" for item in items)
    else:
        daemon.line = Line(daemon.socket)  # the daemon closed a broken connection
    assert json.loads(daemon.line.ask(b'{"jsonrpc":"2.0","id":9,"method":"daemon.hello"}'))[
        "result"
    ]["api_version"]
    assert dump(daemon) == before
