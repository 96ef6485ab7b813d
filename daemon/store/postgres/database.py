"""``SqlDatabase`` on PostgreSQL: psycopg 3 (async) with its connection pool.

Reads run on a pooled connection in autocommit (committed data only); a transaction is one
pooled connection inside BEGIN ... COMMIT. Statements arrive with ``?`` placeholders and leave
with psycopg's ``%s``. psycopg's exceptions stop here: a unique violation is ``Duplicate``, a
lost connection, a deadlock or a full pool ``StoreUnavailable``, anything else ``StoreError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

import psycopg
import psycopg.errors
import psycopg_pool
from psycopg.rows import RowMaker

from daemon.store.errors import Duplicate, StoreError, StoreUnavailable
from daemon.store.sql.seam import Dialect, Fetching

POSTGRESQL = Dialect("postgresql", for_update=" FOR NO KEY UPDATE")


def to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgRow:
    """A row by position and by column name, like ``sqlite3.Row``."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)


def pg_row(cursor: Any) -> RowMaker[PgRow]:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(names, values)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        raise Duplicate(str(exc)) from exc
    except (
        psycopg.OperationalError,
        psycopg.errors.SerializationFailure,
        psycopg.errors.DeadlockDetected,
        psycopg_pool.PoolTimeout,
    ) as exc:
        raise StoreUnavailable(str(exc)) from exc
    except psycopg.Error as exc:
        raise StoreError(str(exc)) from exc


Connection = psycopg.AsyncConnection[PgRow]


class PgTransaction(Fetching):
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._conn.execute(to_pyformat(sql), params)
        return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._conn.cursor() as cur:
            await cur.executemany(to_pyformat(sql), list(rows))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._conn.execute(to_pyformat(sql + " RETURNING id"), params)
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[PgRow]:
        cur = await self._conn.execute(to_pyformat(sql), params)
        return await cur.fetchall()


class PgDatabase(Fetching):
    """``daemon.store.sql.seam.SqlDatabase`` on a pool of PostgreSQL connections."""

    dialect = POSTGRESQL

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Connection],
        conninfo: str,
        password: str | None,
    ) -> None:
        self.pool = pool
        self._conninfo = conninfo
        self._password = password

    async def connect_alone(self) -> psycopg.AsyncConnection[Any]:
        """A connection of its own, outside the pool (LISTEN keeps one for good)."""
        with translated_errors():
            return await psycopg.AsyncConnection.connect(
                self._conninfo, password=self._password, autocommit=True
            )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTransaction]:
        with translated_errors():
            async with self.pool.connection() as conn, conn.transaction():
                yield PgTransaction(conn)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[PgTransaction]:
        with translated_errors():
            async with self.pool.connection() as conn:
                yield PgTransaction(conn)

    # One statement of its own is shielded from its caller's cancellation: it finishes on its
    # pooled connection while the caller moves on. Cancelled mid-statement, psycopg would ask
    # the server to cancel it and wait for the answer on the caller's behalf.
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[PgRow]:
        return await asyncio.shield(self._fetchall(sql, params))

    async def _fetchall(self, sql: str, params: Sequence[Any]) -> list[PgRow]:
        async with self._reading() as reader:
            return await reader.fetchall(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await asyncio.shield(self._execute(sql, params))

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await asyncio.shield(self._insert(sql, params))

    async def _insert(self, sql: str, params: Sequence[Any]) -> int:
        async with self.transaction() as tx:
            return await tx.insert(sql, params)

    async def purge_free_pages(self) -> None:
        """VACUUM (outside a transaction): dead row versions holding old values are freed."""
        with translated_errors():
            async with self.pool.connection() as conn:
                await conn.execute("VACUUM")

    async def close(self) -> None:
        await self.pool.close()
