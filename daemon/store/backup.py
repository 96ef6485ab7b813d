"""Backup and restore of the SQLite database file: one consistent snapshot, checked.

A backup uses SQLite's online backup API in one step, which reads one consistent snapshot while
the daemon keeps writing (WAL): no need to stop the service. The copy is checked with
``PRAGMA integrity_check``, converted to a self-contained file (no -wal) and only then renamed
into place, mode 0600 (it holds tokens). ``daemon.backup`` is the command line around this, and
holds the state dir lock for a restore.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from daemon.store.db import DB_NAME


class BackupError(Exception):
    """A backup or restore could not be made safely; the message says why (no secrets)."""


def match_owner(path: Path, like: Path) -> None:
    """When run as root (sudo), give files we create in the state dir to the dir's owner."""
    if os.geteuid() == 0:
        st = like.stat()
        os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)


def _uri(path: Path, mode: str) -> str:
    return f"{path.resolve().as_uri()}?mode={mode}"


def _check(conn: sqlite3.Connection, what: str) -> None:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    if [tuple(r) for r in rows] != [("ok",)]:
        problems = "; ".join(str(r[0]) for r in rows[:3])
        raise BackupError(f"{what} failed the integrity check: {problems}")


def _copy_database(src: sqlite3.Connection, dest: Path, what: str) -> None:
    """Copy `src` into the (new, empty) file `dest` and make it a checked standalone file."""
    dst = sqlite3.connect(dest, isolation_level=None)
    try:
        # pages=-1: all pages in one step = one read transaction = a consistent snapshot; a
        # stepwise copy would restart whenever the daemon commits and might never finish.
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # a standalone file, no -wal beside it
        _check(dst, what)
    finally:
        dst.close()
    with open(dest, "rb+") as fh:
        os.fsync(fh.fileno())


def _new_temp(directory: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".partial")
    os.close(fd)  # mkstemp created it 0600; SQLite treats an empty file as an empty database
    return Path(tmp)


def _remove_with_sidecars(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_database_sync(src_db: Path, dest: Path) -> Path:
    """`backup_database` without the event loop (for the command line)."""
    src_db, dest = Path(src_db), Path(dest)
    if not src_db.is_file():
        raise BackupError(f"no database at {src_db}")
    if dest.is_dir():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = dest / f"bexsync-{stamp}.sqlite3"
    elif not dest.exists() and not dest.suffix:
        # "/var/backups/bexsync/" that does not exist yet: meant as a directory, not a file name
        raise BackupError(
            f"{dest} does not exist: create the directory first (install -d -m 0700 {dest}), "
            "or name a file such as bexsync.sqlite3"
        )
    elif not dest.parent.is_dir():
        raise BackupError(f"the directory {dest.parent} does not exist: create it first")
    tmp = _new_temp(dest.parent, dest.name)
    try:
        src = sqlite3.connect(_uri(src_db, "rw"), uri=True, timeout=30, isolation_level=None)
        try:
            _copy_database(src, tmp, "the backup")
        finally:
            src.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        _remove_with_sidecars(tmp)
        raise BackupError(f"backup of {src_db} failed: {exc}") from None
    except BaseException:
        _remove_with_sidecars(tmp)
        raise
    _fsync_dir(dest.parent)
    return dest


async def backup_database(src_db: Path, dest: Path) -> Path:
    """Copy the live database to `dest` (a file, or a directory for a timestamped name).

    Safe while the daemon writes. Returns the backup's path; raises BackupError.
    """
    return await asyncio.to_thread(backup_database_sync, src_db, dest)


def _schema_version(path: Path) -> int:
    conn = sqlite3.connect(_uri(path, "ro"), uri=True, isolation_level=None)
    try:
        _check(conn, f"backup {path}")
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def restore_database_file(backup: Path, state_dir: Path) -> Path | None:
    """Replace the state dir's database with ``backup``; the caller holds the state dir lock.

    The current database (with its -wal, which may hold committed data after a crash) is kept
    beside it as ``bexsync.sqlite3.pre-restore-<time>``; that path is returned (None if there
    was no database). Schema migrations run when the daemon next starts.
    """
    backup, state_dir = Path(backup), Path(state_dir)
    try:
        if _schema_version(backup) < 1:
            raise BackupError(f"{backup} is not a bexsync database (schema version 0)")
    except sqlite3.Error as exc:
        raise BackupError(f"{backup} cannot be read as a database: {exc}") from None
    db = state_dir / DB_NAME
    tmp = _new_temp(state_dir, DB_NAME)
    try:
        src = sqlite3.connect(_uri(backup, "ro"), uri=True, isolation_level=None)
        try:
            _copy_database(src, tmp, f"the copy of {backup}")
        finally:
            src.close()
        os.chmod(tmp, 0o600)
        match_owner(tmp, state_dir)
    except BaseException:
        _remove_with_sidecars(tmp)
        raise
    kept: Path | None = None
    if db.exists():
        kept = state_dir / f"{DB_NAME}.pre-restore-{time.strftime('%Y%m%dT%H%M%S')}"
        # -wal/-shm move with their database: left behind, SQLite would replay the old
        # database's log into the restored one.
        for suffix in ("-wal", "-shm", "-journal", ""):
            if Path(f"{db}{suffix}").exists():
                os.replace(f"{db}{suffix}", f"{kept}{suffix}")
    os.replace(tmp, db)
    _fsync_dir(state_dir)
    return kept
