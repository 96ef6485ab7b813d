"""The SQLite connection pair: one writer serialised by a lock, one reader for committed data.

WAL lets the reader see only committed state while the writer holds a transaction, so RPC reads
never observe a half-finished write of another coroutine. sqlite3's exceptions stop here: what
leaves this module is a ``daemon.store.errors`` error (disk full -> ``StoreUnavailable``, a
UNIQUE rule -> ``Duplicate``), so nothing above the store depends on the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from daemon.dirs import make_dirs
from daemon.store.errors import (
    DatabaseDamaged,
    Duplicate,
    StateDirError,
    StoreError,
    StoreUnavailable,
)
from daemon.store.migrations import LATEST_VERSION, render
from daemon.store.sql.seam import Dialect, Fetching

DB_NAME = "bexsync.sqlite3"

__all__ = [
    "DB_NAME",
    "Database",
    "DatabaseDamaged",
    "StateDirError",
    "open_database",
    "prepare_state_dir",
]

_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
RESTORE_HINT = (
    "stop here and restore a backup: python -m daemon.backup --state-dir {state_dir} restore "
    "<backup file> (README: Backup and restore)"
)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """sqlite3's exceptions as the store's own (the original is kept as ``__cause__``)."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc):
            raise Duplicate(str(exc)) from exc
        raise StoreError(str(exc)) from exc
    except sqlite3.OperationalError as exc:  # disk full, I/O error, database locked
        raise StoreUnavailable(str(exc)) from exc
    except sqlite3.Error as exc:
        raise StoreError(str(exc)) from exc


def prepare_state_dir(state_dir: Path) -> Path:
    """Create the state dir 0700 (never following a planted symlink) and return it resolved."""
    if state_dir.is_symlink():
        raise StateDirError(f"state dir {state_dir} is a symbolic link; refusing to follow it")
    make_dirs(state_dir, 0o700)
    st = state_dir.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise StateDirError(f"state dir {state_dir} is not a directory")
    if st.st_uid != os.geteuid() and os.geteuid() != 0:
        raise StateDirError(f"state dir {state_dir} belongs to another user (uid {st.st_uid})")
    os.chmod(state_dir, 0o700)
    return state_dir


def _create_file_0600(path: Path) -> None:
    if path.is_symlink():
        raise StateDirError(f"{path} is a symbolic link; refusing to follow it")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


SQLITE = Dialect("sqlite", for_update="")


class SqliteTransaction(Fetching):
    """The writer inside BEGIN IMMEDIATE, as ``daemon.store.sql.seam.Transaction``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._conn.execute(sql, params)
        return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._conn.execute(sql, params)
        return int(cur.lastrowid or 0)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))


class Database(Fetching):
    """``daemon.store.sql.seam.SqlDatabase`` on one SQLite file."""

    dialect = SQLITE

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self._unfinished: asyncio.Future[None] | None = None  # see _begin

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        """All writes that belong together go through one of these: BEGIN IMMEDIATE ... COMMIT."""
        async with self._lock:
            with translated_errors():
                await self._begin()
                try:
                    yield SqliteTransaction(self._writer)
                except BaseException:
                    await self._writer.rollback()
                    raise
                else:
                    await self._writer.commit()

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, ended again if the caller is cancelled while it runs.

        The writer's thread runs the BEGIN whether or not its caller still waits. Cancelled
        there, the transaction would stay open after the lock is let go, and the next writer's
        BEGIN would fail with "cannot start a transaction within a transaction". So a task of
        its own rolls it back, and the next writer waits for that task before its BEGIN.
        """
        if self._unfinished is not None:
            await asyncio.shield(self._unfinished)
            self._unfinished = None
        begin = asyncio.ensure_future(self._writer.execute("BEGIN IMMEDIATE"))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            self._unfinished = asyncio.ensure_future(self._roll_back_after(begin))
            raise

    async def _roll_back_after(self, begin: asyncio.Future[Any]) -> None:
        with contextlib.suppress(Exception):
            await begin
            await self._writer.rollback()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One call on the reader's thread: execute and fetch to the end, so no statement stays
        # open between awaits. An open statement would pin another coroutine's read to an old
        # WAL snapshot and it would miss a write that had just committed.
        with translated_errors():
            return list(await self._reader.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.transaction() as tx:
            return await tx.insert(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def purge_free_pages(self) -> None:
        """Rebuild the file (VACUUM) and empty the WAL: what was overwritten or deleted is no
        longer anywhere in the database files."""
        async with self._lock:
            with translated_errors():
                for sql in (
                    "PRAGMA wal_checkpoint(TRUNCATE)",
                    "VACUUM",
                    "PRAGMA wal_checkpoint(TRUNCATE)",
                ):
                    await self._writer.execute_fetchall(sql)  # fetched: no statement stays open

    async def version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version"))

    async def close(self) -> None:
        if self._unfinished is not None:
            with contextlib.suppress(Exception):
                await self._unfinished
        await self._reader.close()
        await self._writer.close()


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA busy_timeout = 5000")
    return conn


async def migrate(conn: aiosqlite.Connection, target: int = LATEST_VERSION) -> int:
    """Apply every migration above the database's version, each in one transaction."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    if current > LATEST_VERSION:
        raise StateDirError(
            f"the database is at schema version {current}, newer than this bexsync "
            f"understands ({LATEST_VERSION}); upgrade bexsync or restore a backup"
        )
    for version in range(current + 1, target + 1):
        # executescript would COMMIT implicitly; run statement by statement inside BEGIN.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_sql(render(version, "sqlite")):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
    return target


def split_sql(script: str) -> list[str]:
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def damaged(path: Path, what: str) -> DatabaseDamaged:
    hint = RESTORE_HINT.format(state_dir=path.parent)
    return DatabaseDamaged(f"the database {path} {what}; {hint}")


def _create_database(path: Path) -> None:
    """A new, empty WAL database at ``path``, made aside and renamed in: a crash while it is
    made never leaves a zero-byte file, so a zero-byte file always means a damaged one."""
    making = path.with_name(path.name + ".new")
    making.unlink(missing_ok=True)
    _create_file_0600(making)
    conn = sqlite3.connect(making, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    os.replace(making, path)


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


async def _check(writer: aiosqlite.Connection, path: Path) -> None:
    """``PRAGMA quick_check``: every page and index readable and consistent (O(size))."""
    async with writer.execute("PRAGMA quick_check") as cur:
        rows = [str(r[0]) for r in await cur.fetchall()]
    if rows != ["ok"]:
        raise damaged(path, f"is corrupt (quick_check: {'; '.join(rows[:3])[:300]})")


async def open_database(
    state_dir: Path, *, target_version: int = LATEST_VERSION, name: str = DB_NAME
) -> Database:
    """Open (or create) the database, check it, migrate it; ``DatabaseDamaged`` if it is
    empty, truncated or corrupt, never a fresh database in place of one that existed."""
    prepare_state_dir(state_dir)
    path = state_dir / name
    if path.is_symlink():
        raise StateDirError(f"{path} is a symbolic link; refusing to follow it")
    if not path.exists():
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise damaged(path, f"is missing while its journal {wal.name} is not")
        _create_database(path)
    elif path.stat().st_size == 0:
        raise damaged(path, "is empty (0 bytes)")
    _create_file_0600(path)
    writer = await _connect(path)
    try:
        try:
            await writer.execute("PRAGMA journal_mode = WAL")
            await writer.execute("PRAGMA synchronous = NORMAL")
            await _check(writer, path)
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            raise damaged(path, f"is not a readable database ({exc})") from None
        await migrate(writer, target_version)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists() and not side.is_symlink():
                os.chmod(side, 0o600)
        reader = await _connect(path)
    except BaseException:
        await writer.close()  # a refused database (too new, unreadable) leaves no thread behind
        raise
    return Database(path, writer, reader)
