"""What every SQL repository shares: the open database, the clock, the notification insert."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from daemon.formats import Clock, dumps, iso
from daemon.store.records import NewNotification, Notification
from daemon.store.sql.seam import SqlDatabase, Transaction

Opener = Callable[[], Awaitable[SqlDatabase]]


class Backend:
    """The database, opened once by ``opener``; repositories reach it through here."""

    def __init__(self, opener: Opener, clock: Clock) -> None:
        self._opener = opener
        self.clock = clock
        self._db: SqlDatabase | None = None

    async def open(self) -> None:
        if self._db is None:
            self._db = await self._opener()

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @property
    def db(self) -> SqlDatabase:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    def now(self) -> str:
        return iso(self.clock())


class Repository:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def _db(self) -> SqlDatabase:
        return self._backend.db

    def _now(self) -> str:
        return self._backend.now()


async def add_notification(tx: Transaction, note: NewNotification, created_at: str) -> Notification:
    """Inside the caller's transaction: a notification belongs with the change it reports."""
    new_id = await tx.insert(
        "INSERT INTO notifications (level, title, body, created_at, link) VALUES (?, ?, ?, ?, ?)",
        (note.level, note.title, note.body, created_at, dumps(note.link) if note.link else None),
    )
    return Notification(
        id=new_id,
        level=note.level,
        title=note.title,
        body=note.body,
        created_at=created_at,
        read=False,
        link=note.link,
    )
