"""The PostgreSQL backend of the store: several daemons on one database.

The repositories are the portable ones (``daemon.store.sql``) on a psycopg pool
(``database``); the schema comes from the same migrations as SQLite's (``schema``).
"""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg_pool

from daemon.formats import Clock
from daemon.store.errors import StoreUnavailable
from daemon.store.postgres.database import PgDatabase, pg_row, translated_errors
from daemon.store.postgres.schema import migrate
from daemon.store.sql import SqlStore
from daemon.store.sql.seam import SqlDatabase


async def open_pool(
    conninfo: str, password: str | None, *, max_size: int = 8, timeout: float = 15.0
) -> psycopg_pool.AsyncConnectionPool[Any]:
    """A pool of autocommit connections whose rows read like ``sqlite3.Row``. The password is a
    connection keyword, never part of ``conninfo``: what is logged or shown never holds it."""
    kwargs: dict[str, Any] = {"autocommit": True, "row_factory": pg_row}
    if password is not None:
        kwargs["password"] = password
    with translated_errors():  # one try first: a refused login is said at once, not retried
        first = await psycopg.AsyncConnection.connect(
            conninfo, connect_timeout=max(1, int(timeout)), **kwargs
        )
        await first.close()
    pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
        conninfo, kwargs=kwargs, min_size=1, max_size=max_size, open=False, timeout=timeout
    )
    try:
        with translated_errors():
            await pool.open(wait=True, timeout=timeout)
    except StoreUnavailable:
        await pool.close()
        raise
    return pool


async def open_postgres(conninfo: str, password: str | None) -> PgDatabase:
    """Connect, create or upgrade the schema, and return the database."""
    pool = await open_pool(conninfo, password)
    try:
        with translated_errors():
            async with pool.connection() as conn:
                await migrate(conn)
    except BaseException:
        await pool.close()
        raise
    return PgDatabase(pool, conninfo, password)


class PostgresStore(SqlStore):
    """``daemon.store.Store`` on PostgreSQL; ``open()`` connects and upgrades the schema."""

    def __init__(self, conninfo: str, clock: Clock, *, password: str | None = None) -> None:
        self.conninfo = conninfo
        self._password = password
        self._database: PgDatabase | None = None
        super().__init__(self._open, clock)

    async def _open(self) -> SqlDatabase:
        self._database = await open_postgres(self.conninfo, self._password)
        return self._database

    @property
    def db(self) -> PgDatabase:
        if self._database is None:
            raise RuntimeError("the store is not open")
        return self._database


__all__ = ["PostgresStore", "open_postgres"]
