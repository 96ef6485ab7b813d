"""Every sealed column in one place, for sealing what an older version stored in plain text."""

from __future__ import annotations

from collections.abc import Sequence

from daemon.store.interface import SecretRepository
from daemon.store.records import StoredSecret
from daemon.store.sql.base import Repository

# (table, key column, sealed column): every column that holds a ``Sealed`` value.
_COLUMNS = (
    ("credentials", "authorisation_id", "data"),
    ("pending_logins", "authorisation_id", "data"),
    ("pms_connection", "id", "api_key"),
    ("pms_connection", "id", "token"),
    ("pms_pending_login", "id", "data"),
)


class SqlSecrets(Repository, SecretRepository):
    async def all(self) -> list[StoredSecret]:
        found: list[StoredSecret] = []
        for table, key, column in _COLUMNS:
            for row in await self._db.fetchall(
                f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL"
            ):
                found.append(StoredSecret(f"{table}.{column}", str(row[0]), row[1]))
        return found

    async def rewrite(self, secrets: Sequence[StoredSecret]) -> None:
        columns = {f"{t}.{c}": (t, k, c) for t, k, c in _COLUMNS}
        async with self._db.transaction() as tx:
            for secret in secrets:
                table, key, column = columns[secret.place]
                await tx.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (secret.value, secret.key)
                )
        await self._db.purge_free_pages()
