"""Online backup under a writing daemon, and a restore that refuses to run under one."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.backup import (
    LOCK_NAME,
    BackupError,
    StateDirLocked,
    backup_database,
    backup_database_sync,
    lock_state_dir,
    main,
    restore_database,
)
from daemon.store.db import DB_NAME

PAYLOAD = "x" * 400


def make_db(path: Path, rows: int = 0) -> None:
    """A WAL database shaped like the daemon's: schema version set, rows and a row counter."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    conn.execute("CREATE TABLE counter (n INTEGER NOT NULL)")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO counter VALUES (?)", (rows,))
    conn.executemany("INSERT INTO items VALUES (?, ?)", ((i, PAYLOAD) for i in range(1, rows + 1)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA user_version = 3")
    conn.close()


def consistent_count(path: Path) -> int:
    """Rows 1..n all present and the counter, written in the same transactions, says n."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        count, low, high = conn.execute("SELECT count(*), min(id), max(id) FROM items").fetchone()
        (counter,) = conn.execute("SELECT n FROM counter").fetchone()
    finally:
        conn.close()
    assert (low, high) == (1, count)
    assert counter == count
    return count


class Writer(threading.Thread):
    """The daemon stand-in: its own connection, one committed transaction per row."""

    def __init__(self, path: Path, start_at: int):
        super().__init__(daemon=True)
        self.path, self.n = path, start_at
        self.stop = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        conn.execute("PRAGMA synchronous=NORMAL")
        while not self.stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO items VALUES (?, ?)", (self.n + 1, PAYLOAD))
            conn.execute("UPDATE counter SET n = ?", (self.n + 1,))
            conn.execute("COMMIT")
            self.n += 1
        conn.close()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    make_db(d / DB_NAME, rows=20_000)
    return d


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


async def test_backup_while_the_daemon_writes_is_a_consistent_snapshot(
    state_dir: Path, tmp_path: Path
) -> None:
    writer = Writer(state_dir / DB_NAME, 20_000)
    writer.start()
    try:
        overlapped = 0
        counts = []
        for i in range(4):
            before = writer.n
            done = await backup_database(state_dir / DB_NAME, tmp_path / f"b{i}.sqlite3")
            overlapped += writer.n > before
            counts.append(consistent_count(done))
    finally:
        writer.stop.set()
        writer.join()
    assert overlapped >= 1  # rows were committed while a backup ran
    assert counts == sorted(counts)
    assert counts[0] >= 20_000
    assert consistent_count(state_dir / DB_NAME) == writer.n


def test_backup_file_is_private_standalone_and_named_in_a_directory(
    state_dir: Path, tmp_path: Path, umask_022: None
) -> None:
    out = tmp_path / "backups"
    out.mkdir()
    done = backup_database_sync(state_dir / DB_NAME, out)
    assert done.parent == out
    assert done.name.startswith("bexsync-") and done.name.endswith(".sqlite3")
    assert stat.S_IMODE(done.stat().st_mode) == 0o600
    assert os.listdir(out) == [done.name]  # no -wal, no partial file
    conn = sqlite3.connect(done)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert conn.execute("PRAGMA user_version").fetchone() == (3,)
    conn.close()


def test_backup_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database at"):
        backup_database_sync(tmp_path / "missing.sqlite3", tmp_path / "out.sqlite3")
    assert os.listdir(tmp_path) == []


def hold_lock_like_the_daemon(state_dir: Path) -> int:
    fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"4242\n")
    return fd


def test_restore_refuses_while_a_daemon_holds_the_lock(state_dir: Path, tmp_path: Path) -> None:
    backup = backup_database_sync(state_dir / DB_NAME, tmp_path / "b.sqlite3")
    before = (state_dir / DB_NAME).read_bytes()
    fd = hold_lock_like_the_daemon(state_dir)
    try:
        with pytest.raises(StateDirLocked, match=r"running bexsyncd \(pid 4242\)"):
            restore_database(backup, state_dir)
    finally:
        os.close(fd)
    assert (state_dir / DB_NAME).read_bytes() == before
    assert sorted(os.listdir(state_dir)) == [DB_NAME, LOCK_NAME]


def test_the_daemon_cannot_start_during_a_restore(state_dir: Path) -> None:
    with lock_state_dir(state_dir), pytest.raises(StateDirLocked):
        lock_state_dir(state_dir)
    lock_state_dir(state_dir).release()  # released again afterwards


def test_restore_replaces_the_database_and_keeps_the_old_one_with_its_wal(
    state_dir: Path, tmp_path: Path, umask_022: None
) -> None:
    backup = backup_database_sync(state_dir / DB_NAME, tmp_path / "b.sqlite3")
    # After the backup the daemon committed more rows and then crashed: they sit in the -wal.
    live = sqlite3.connect(state_dir / DB_NAME, isolation_level=None)
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.execute("INSERT INTO items VALUES (20001, 'after backup')")
    live.execute("UPDATE counter SET n = 20001")
    crashed = tmp_path / "crashed"
    crashed.mkdir(mode=0o700)
    for suffix in ("", "-wal"):
        (crashed / f"{DB_NAME}{suffix}").write_bytes(
            (state_dir / f"{DB_NAME}{suffix}").read_bytes()
        )
    live.close()
    assert (crashed / f"{DB_NAME}-wal").stat().st_size > 0

    kept = restore_database(backup, crashed)

    assert consistent_count(crashed / DB_NAME) == 20_000  # the old log was not replayed into it
    assert stat.S_IMODE((crashed / DB_NAME).stat().st_mode) == 0o600
    assert kept is not None and kept.name.startswith(f"{DB_NAME}.pre-restore-")
    assert consistent_count(kept) == 20_001  # nothing lost: the old database opens with its log


def test_restore_refuses_a_file_that_is_not_a_bexsync_database(
    state_dir: Path, tmp_path: Path
) -> None:
    before = (state_dir / DB_NAME).read_bytes()
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="cannot be read as a database"):
        restore_database(garbage, state_dir)
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(BackupError, match="not a bexsync database"):
        restore_database(empty, state_dir)
    assert (state_dir / DB_NAME).read_bytes() == before
    assert sorted(os.listdir(state_dir)) == [DB_NAME, LOCK_NAME]


def test_command_line_backup_and_restore(
    state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "b.sqlite3"
    assert main(["--state-dir", str(state_dir), "backup", str(out)]) == 0
    assert f"backup written to {out}" in capsys.readouterr().out
    fd = hold_lock_like_the_daemon(state_dir)
    try:
        assert main(["--state-dir", str(state_dir), "restore", str(out)]) == 1
        assert "stop it first" in capsys.readouterr().err
    finally:
        os.close(fd)
    # Once the daemon's lock is gone the restore goes ahead (a wait on it would hang the test).
    assert main(["--state-dir", str(state_dir), "restore", str(out)]) == 0
    assert "the previous database was kept as" in capsys.readouterr().out
    assert consistent_count(state_dir / DB_NAME) == 20_000
