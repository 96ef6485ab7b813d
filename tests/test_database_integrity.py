"""Start-up integrity (issue 17.6): an empty, truncated or corrupt database stops the daemon
with one clear line naming the file and the restore command, and a documented exit code;
never a silent fresh database where one existed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from daemon.main import EXIT_DATABASE_DAMAGED
from daemon.store.db import DB_NAME
from tests.support.daemon import DaemonProcess
from tests.support.waiting import HANG_S


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a demo daemon's database after a clean stop (its WAL checkpointed)."""
    daemon = DaemonProcess(tmp_path_factory.mktemp("populated"), "--demo").start()
    assert daemon.stop() == 0
    return (daemon.state_dir / DB_NAME).read_bytes()


def _start_on(tmp_path: Path, content: bytes) -> tuple[DaemonProcess, int]:
    daemon = DaemonProcess(tmp_path)
    daemon.state_dir.mkdir(mode=0o700)
    (daemon.state_dir / DB_NAME).write_bytes(content)
    daemon.start(wait=False)
    assert daemon.proc is not None
    return daemon, daemon.proc.wait(HANG_S)


def _overwritten(data: bytes, count: int, seed: int) -> bytes:
    """``count`` random 512-byte stretches of garbage past the header page."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(count):
        at = rng.randrange(4096, len(out) - 512)
        out[at : at + 512] = rng.randbytes(512)
    return bytes(out)


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "overwritten"])
def test_a_damaged_database_stops_the_daemon_with_one_clear_line(
    tmp_path: Path, populated: bytes, damage: str
) -> None:
    content = {
        "empty": b"",
        "garbage": random.Random(7).randbytes(64 * 1024),
        "truncated": populated[: len(populated) // 2],
        "overwritten": _overwritten(populated, 40, seed=17),
    }[damage]
    daemon, code = _start_on(tmp_path, content)
    output = daemon.output()
    db = daemon.state_dir / DB_NAME
    assert code == EXIT_DATABASE_DAMAGED, output
    lines = [line for line in output.splitlines() if "cannot start" in line]
    assert len(lines) == 1, output
    assert str(db) in lines[0] and "daemon.backup" in lines[0] and "restore" in lines[0]
    assert "Traceback" not in output
    assert db.read_bytes() == content  # left as it was: nothing fresh in its place
    assert not daemon.socket.exists()


def test_a_missing_database_is_created_and_a_healthy_one_opens(
    tmp_path: Path, populated: bytes
) -> None:
    (tmp_path / "fresh").mkdir()
    fresh = DaemonProcess(tmp_path / "fresh").start()
    assert fresh.stop() == 0
    assert (fresh.state_dir / DB_NAME).stat().st_size > 0
    (tmp_path / "healthy").mkdir()
    daemon = DaemonProcess(tmp_path / "healthy")
    daemon.state_dir.mkdir(mode=0o700)
    (daemon.state_dir / DB_NAME).write_bytes(populated)
    daemon.start()
    assert daemon.stop() == 0, daemon.output()


def test_a_missing_database_whose_journal_remains_is_not_replaced(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path)
    daemon.state_dir.mkdir(mode=0o700)
    wal = daemon.state_dir / (DB_NAME + "-wal")
    wal.write_bytes(b"\x37\x7f\x06\x82" + bytes(60))
    daemon.start(wait=False)
    assert daemon.proc is not None and daemon.proc.wait(HANG_S) == EXIT_DATABASE_DAMAGED
    assert "is missing while its journal" in daemon.output()
    assert not (daemon.state_dir / DB_NAME).exists()
