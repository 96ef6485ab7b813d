"""The SQLite backend of the store: one database file under the state dir (WAL, a writer and a
reader connection: ``daemon.store.db``), versioned migrations, one class per repository."""

from __future__ import annotations

from pathlib import Path

from daemon.formats import Clock
from daemon.store.db import Database
from daemon.store.sqlite.base import Backend
from daemon.store.sqlite.configurations import SqliteConfigurations, SqlitePeriods
from daemon.store.sqlite.entries import SqliteEntries, SqliteNotifications, SqliteReports
from daemon.store.sqlite.runs import SqliteDrafts, SqliteRuns
from daemon.store.sqlite.secrets import SqliteSecrets
from daemon.store.sqlite.setup import (
    SqliteAdministrations,
    SqliteAuthorisations,
    SqliteCredentials,
    SqlitePendingLogins,
    SqlitePms,
)


class SqliteStore:
    """``daemon.store.Store`` on SQLite; ``open()`` creates or upgrades the database."""

    def __init__(self, state_dir: Path, clock: Clock) -> None:
        self._backend = backend = Backend(state_dir, clock)
        self.pms = SqlitePms(backend)
        self.administrations = SqliteAdministrations(backend)
        self.authorisations = SqliteAuthorisations(backend)
        self.credentials = SqliteCredentials(backend)
        self.logins = SqlitePendingLogins(backend)
        self.secrets = SqliteSecrets(backend)
        self.configurations = SqliteConfigurations(backend)
        self.periods = SqlitePeriods(backend)
        self.runs = SqliteRuns(backend)
        self.drafts = SqliteDrafts(backend)
        self.entries = SqliteEntries(backend)
        self.notifications = SqliteNotifications(backend)
        self.reports = SqliteReports(backend)

    async def open(self) -> None:
        await self._backend.open()

    async def close(self) -> None:
        await self._backend.close()

    @property
    def db(self) -> Database:
        """The SQLite database itself (backup, tests that look at the file's state)."""
        return self._backend.db


__all__ = ["SqliteStore"]
