"""The store's repositories written once in portable SQL, over the ``SqlDatabase`` seam.

SQLite (``daemon.store.sqlite``) and PostgreSQL (``daemon.store.postgres``) each give an opened
``SqlDatabase``; ``SqlStore`` builds every repository of ``daemon.store.Store`` on it. Each
repository subclasses its protocol in ``daemon.store.interface``, where what its methods promise
is documented (once).
"""

from __future__ import annotations

from daemon.formats import Clock
from daemon.store.sql.base import Backend, Opener
from daemon.store.sql.configurations import SqlConfigurations, SqlPeriods
from daemon.store.sql.entries import SqlEntries, SqlNotifications, SqlReports
from daemon.store.sql.runs import SqlDrafts, SqlRuns
from daemon.store.sql.seam import SqlDatabase
from daemon.store.sql.secrets import SqlSecrets
from daemon.store.sql.setup import (
    SqlAdministrations,
    SqlAuthorisations,
    SqlCredentials,
    SqlPendingLogins,
    SqlPms,
)


class SqlStore:
    """``daemon.store.Store`` on the database that ``opener`` opens (and migrates)."""

    def __init__(self, opener: Opener, clock: Clock) -> None:
        self._backend = backend = Backend(opener, clock)
        self.pms = SqlPms(backend)
        self.administrations = SqlAdministrations(backend)
        self.authorisations = SqlAuthorisations(backend)
        self.credentials = SqlCredentials(backend)
        self.logins = SqlPendingLogins(backend)
        self.secrets = SqlSecrets(backend)
        self.configurations = SqlConfigurations(backend)
        self.periods = SqlPeriods(backend)
        self.runs = SqlRuns(backend)
        self.drafts = SqlDrafts(backend)
        self.entries = SqlEntries(backend)
        self.notifications = SqlNotifications(backend)
        self.reports = SqlReports(backend)

    async def open(self) -> None:
        await self._backend.open()

    async def close(self) -> None:
        await self._backend.close()

    @property
    def sql(self) -> SqlDatabase:
        """The open database (``bexsyncd migrate`` copies through it)."""
        return self._backend.db


__all__ = ["SqlStore"]
