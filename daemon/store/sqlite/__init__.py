"""The SQLite backend of the store: one database file under the state dir (WAL, a writer and a
reader connection: ``daemon.store.db``), versioned migrations, and the portable repositories
of ``daemon.store.sql`` on it."""

from __future__ import annotations

from pathlib import Path

from daemon.formats import Clock
from daemon.store.db import DB_NAME, Database, open_database
from daemon.store.sql import SqlStore
from daemon.store.sql.seam import SqlDatabase


class SqliteStore(SqlStore):
    """``daemon.store.Store`` on SQLite; ``open()`` creates or upgrades the database."""

    def __init__(self, state_dir: Path, clock: Clock, *, name: str = DB_NAME) -> None:
        self.state_dir = state_dir
        self.name = name
        self._database: Database | None = None
        super().__init__(self._open, clock)

    async def _open(self) -> SqlDatabase:
        self._database = await open_database(self.state_dir, name=self.name)
        return self._database

    @property
    def db(self) -> Database:
        """The SQLite database itself (backup, tests that look at the file's state)."""
        if self._database is None:
            raise RuntimeError("the store is not open")
        return self._database


__all__ = ["SqliteStore"]
