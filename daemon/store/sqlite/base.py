"""What every SQLite repository shares: the open database, the clock, the notification insert."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from daemon.formats import Clock, dumps, iso
from daemon.store.db import Database, open_database
from daemon.store.records import NewNotification, Notification


class Backend:
    """The database of one state dir, opened once; repositories reach it through here."""

    def __init__(self, state_dir: Path, clock: Clock) -> None:
        self.state_dir = state_dir
        self.clock = clock
        self._db: Database | None = None

    async def open(self) -> None:
        if self._db is None:
            self._db = await open_database(self.state_dir)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    def now(self) -> str:
        return iso(self.clock())


class Repository:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def _db(self) -> Database:
        return self._backend.db

    def _now(self) -> str:
        return self._backend.now()


async def add_notification(
    conn: aiosqlite.Connection, note: NewNotification, created_at: str
) -> Notification:
    """Inside the caller's transaction: a notification belongs with the change it reports."""
    cur = await conn.execute(
        "INSERT INTO notifications (level, title, body, created_at, link) VALUES (?, ?, ?, ?, ?)",
        (note.level, note.title, note.body, created_at, dumps(note.link) if note.link else None),
    )
    return Notification(
        id=int(cur.lastrowid or 0),
        level=note.level,
        title=note.title,
        body=note.body,
        created_at=created_at,
        read=False,
        link=note.link,
    )
