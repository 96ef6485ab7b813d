"""SO_PEERCRED: only the daemon's uid, root, or members of the admin group may talk to it.

The refused client really runs as another user (``setpriv``, we are root in CI), on a socket
whose file mode lets everyone connect, so the refusal can only come from the peer check.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_rpc_protocol import RawConn, assert_error, serve

NOBODY = 65534
ADMIN_GID = 4242

CLIENT = r"""
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(5)
sock.connect(sys.argv[1])
try:
    sock.sendall(b'{"jsonrpc": "2.0", "method": "test.whoami", "id": 1}\n')
except OSError:
    pass  # the daemon may already have hung up
data = b""
closed = False
while True:
    try:
        chunk = sock.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        closed = True
        break
    data += chunk
    if b"\n" in data and b'"result"' in data:
        break
print(json.dumps({"lines": [json.loads(l) for l in data.splitlines()], "closed": closed}))
"""

pytestmark = [
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing"),
    pytest.mark.skipif(os.geteuid() != 0, reason="running a client as another uid needs root"),
]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path lives under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="bexsync-peercred-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def run_as(uid: int, gid: int, groups: list[int], socket_path: Path) -> dict[str, Any]:
    group_args = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    process = await asyncio.create_subprocess_exec(
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        *group_args,
        sys.executable,
        "-c",
        CLIENT,
        str(socket_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/",
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout)


async def test_other_user_is_refused_with_32006_and_disconnected(open_dir: Path) -> None:
    path = open_dir / "d.sock"
    async with serve(path, socket_mode=0o666, allowed_gid=ADMIN_GID) as srv:
        outcome = await run_as(NOBODY, NOBODY, [], path)
        assert outcome["closed"] is True
        assert len(outcome["lines"]) == 1  # the refusal, and no answer to its call
        error = assert_error(outcome["lines"][0], -32006, "PermissionDenied")
        assert f"uid {NOBODY}" in error["message"]
        assert srv.clients == 0
        own = await RawConn.open(path)  # root (and the daemon's own uid) still get in
        assert (await own.call("test.whoami"))["result"]["uid"] == os.geteuid()
        own.close()


async def test_no_admin_group_means_only_the_daemon_user_and_root(open_dir: Path) -> None:
    path = open_dir / "d.sock"
    async with serve(path, socket_mode=0o666):
        outcome = await run_as(NOBODY, ADMIN_GID, [ADMIN_GID], path)
        assert_error(outcome["lines"][0], -32006, "PermissionDenied")
        assert outcome["closed"] is True


async def test_member_of_the_admin_group_is_allowed(open_dir: Path) -> None:
    path = open_dir / "d.sock"
    async with serve(path, socket_mode=0o666, allowed_gid=ADMIN_GID):
        by_primary = await run_as(NOBODY, ADMIN_GID, [], path)
        assert by_primary["closed"] is False
        (answer,) = by_primary["lines"]
        assert answer["id"] == 1
        assert (answer["result"]["uid"], answer["result"]["gid"]) == (NOBODY, ADMIN_GID)
        assert answer["result"]["pid"] > 0
        by_supplementary = await run_as(NOBODY, NOBODY, [ADMIN_GID], path)
        result = by_supplementary["lines"][0]["result"]
        assert (result["uid"], result["gid"]) == (NOBODY, NOBODY)
