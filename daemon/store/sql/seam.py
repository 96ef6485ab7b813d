"""The seam between the portable repositories (``daemon.store.sql``) and a database driver.

The repositories write each statement once, with ``?`` placeholders, and reach the database only
through ``SqlDatabase`` and the ``Transaction`` it yields. A backend (SQLite, PostgreSQL) turns
the placeholders into its own, returns new ids, maps its driver's errors to the store's and
says in ``Dialect`` the little that differs (row locks).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol


class Row(Protocol):
    """A result row: by position and by column name."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class Dialect:
    name: str
    """``sqlite`` or ``postgresql``."""
    for_update: str
    """Appended to a SELECT that locks the rows it reads until the transaction ends ('' where
    the whole database is one writer at a time, as SQLite's BEGIN IMMEDIATE)."""


class Reader(Protocol):
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any: ...


class Transaction(Reader, Protocol):
    """Statements of one transaction: committed together when the block ends, or none."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The number of rows changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """An INSERT into a table with an ``id`` key; the new row's id."""


class SqlDatabase(Reader, Protocol):
    """An open database. Reads outside a transaction see committed data only."""

    @property
    def dialect(self) -> Dialect: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in a transaction of its own; the number of rows changed."""

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One INSERT in a transaction of its own; the new row's id."""

    async def purge_free_pages(self) -> None:
        """Leave no overwritten or deleted value readable in the database's files."""

    async def close(self) -> None: ...


class Fetching:
    """``fetchone`` and ``fetchval`` for a class that has ``fetchall`` (each backend's reader
    and transaction)."""

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]:
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]
