"""The smaller points of issue 17.8, each as a user (or an attacker) would meet it."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from bexsync_tui.client import RpcCallError
from daemon.backup import main as backup_main
from daemon.dirs import make_dirs
from daemon.rpc.unix_socket import bind_unix_socket
from daemon.store.db import DB_NAME, prepare_state_dir
from tests.support.daemon import DaemonProcess, demo_daemon, run_cli
from tests.support.waiting import HANG_S
from tests.test_rpc_protocol import serve

# --- bexsync call --params-file: secrets stay out of argv ----------------------------------------


def test_call_reads_its_params_from_stdin_or_a_file(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, "--demo").start()
    params = tmp_path / "params.json"
    params.write_text('{"id": 3}')
    get = ("call", "configurations.get")
    try:
        from_stdin = run_cli(daemon.socket, *get, "--params-file", "-", stdin='{"id": 2}')
        from_file = run_cli(daemon.socket, *get, "--params-file", str(params))
        both = run_cli(daemon.socket, *get, '{"id": 1}', "--params-file", "-", stdin="{}")
        missing = run_cli(daemon.socket, "call", "daemon.hello", "--params-file", str(params) + "x")
    finally:
        daemon.stop()
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout)["id"] == 2
    assert from_file.returncode == 0 and json.loads(from_file.stdout)["id"] == 3
    assert both.returncode == 2 and "not both" in both.stderr
    assert missing.returncode == 2 and "--params-file" in missing.stderr


# --- authorisation names that look the same are the same ----------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Café", "Cafe\u0301"),  # composed, decomposed
        ("Books", "Ｂｏｏｋｓ"),  # full-width
        ("My Books", "My\u00a0Books"),  # no-break space
        ("My Books", "My  Books"),
        ("Straße", "STRASSE"),
    ],
)
async def test_names_that_look_identical_are_one_name(tmp_path: Path, first, second) -> None:
    async with demo_daemon(tmp_path) as (_app, client):
        await client.call("authorisations.create", {"name": first, "provider": "sandbox"})
        before = await client.call("authorisations.list")
        with pytest.raises(RpcCallError) as info:
            await client.call("authorisations.create", {"name": second, "provider": "sandbox"})
        after = await client.call("authorisations.list")
    assert info.value.code == -32003 and "already exists" in info.value.message
    assert after == before


async def test_a_name_is_stored_folded(tmp_path: Path) -> None:
    async with demo_daemon(tmp_path) as (_app, client):
        made = await client.call(
            "authorisations.create", {"name": "  My\u00a0\u00a0Ｂooks ", "provider": "sandbox"}
        )
    assert made["authorisation"]["name"] == "My Books"


# --- draft lines: ASCII decimals, known fields, bounded texts ------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"debit": "١٠٦١٠.٠٠"}, "debit"),
        ({"surprise": "x"}, "surprise"),
        ({"description": "x" * 900_000}, "description"),
    ],
)
async def test_draft_lines_refuse_what_no_ledger_should_get(tmp_path: Path, change, field) -> None:
    async with demo_daemon(tmp_path) as (_app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        draft = await client.call("syncs.preview", {"configuration_id": manual["id"]})
        lines = [dict(line) for line in draft["lines"]]
        lines[0].update(change)
        with pytest.raises(RpcCallError) as info:
            await client.call("drafts.update", {"id": draft["id"], "lines": lines})
        after = await client.call("drafts.get", {"id": draft["id"]})
    assert info.value.code == -32002
    assert [e["field"] for e in info.value.data["errors"]] == [f"lines[0].{field}"]
    assert after["lines"] == draft["lines"]


# --- backup into a directory that does not exist --------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/"])
def test_a_backup_into_a_missing_directory_is_refused(tmp_path: Path, capsys, suffix) -> None:
    daemon = DaemonProcess(tmp_path).start()
    daemon.stop()
    target = tmp_path / "backups"
    code = backup_main(["--state-dir", str(daemon.state_dir), "backup", f"{target}{suffix}"])
    err = capsys.readouterr().err
    assert code == 1 and "does not exist" in err and "install -d" in err
    assert not target.exists()
    assert (daemon.state_dir / DB_NAME).exists()


# --- directories under umask 000 ----------------------------------------------------------------


def test_no_directory_the_daemon_makes_is_world_writable_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        state = prepare_state_dir(tmp_path / "home" / "share" / "bexsync")
        sock, _ = bind_unix_socket(str(tmp_path / "run" / "user" / "bexsyncd.sock"), 0o600)
        sock.close()
        make_dirs(tmp_path / "keys" / "inner")
    finally:
        os.umask(old)
    made = [
        tmp_path / "home", tmp_path / "home" / "share", state,
        tmp_path / "run", tmp_path / "run" / "user",
        tmp_path / "keys", tmp_path / "keys" / "inner",
    ]  # fmt: skip
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in made}
    assert all(int(m, 8) & 0o077 == 0 for m in modes.values()), modes


# --- the admin group when the daemon runs as root -----------------------------------------------

NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the daemon as root, a client as nobody")
async def test_the_admin_group_may_connect_to_a_daemon_run_as_root() -> None:
    # Not under pytest's tmp dir, which only root may enter.
    with tempfile.TemporaryDirectory(prefix="bexsync-group-", dir="/tmp") as top:
        os.chmod(top, 0o755)
        await _connect_as_nobody(Path(top) / "run" / "bexsyncd.sock")


async def _connect_as_nobody(path: Path) -> None:
    async with serve(path, socket_mode=0o660, allowed_gid=NOBODY):
        assert path.stat().st_gid == NOBODY and path.parent.stat().st_gid == NOBODY
        code = (
            "import json, socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
            's.sendall(b\'{"jsonrpc":"2.0","method":"test.get","id":1}\\n\'); '
            "print(s.makefile().readline())"
        )
        proc = await asyncio.create_subprocess_exec(
            "/usr/bin/python3", "-c", code, str(path),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, user=NOBODY, group=NOBODY,
            extra_groups=[],
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), HANG_S)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["result"] == 0
