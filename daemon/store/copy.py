"""``bexsyncd migrate --to postgresql://...``: an existing SQLite state copied into an empty
PostgreSQL database, row for row, ids kept, and the counts of every table compared after.

Secrets are copied as they are stored: sealed (``daemon.vault``); every host that uses the new
database needs the same ``encryption_key_file``.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.store.errors import StoreError
from daemon.store.postgres.database import PgDatabase
from daemon.store.sql.seam import SqlDatabase

# In the order their foreign keys allow; ``daemons`` and ``leases`` belong to the running
# daemons of the new database, not to the state being moved.
TABLES = (
    "meta",
    "pms_connection",
    "pms_pending_login",
    "administrations",
    "authorisations",
    "credentials",
    "pending_logins",
    "configurations",
    "drafts",
    "runs",
    "entries",
    "period_status",
    "notifications",
)
WITH_IDENTITY = ("authorisations", "configurations", "runs", "drafts", "entries", "notifications")


class TargetNotEmpty(StoreError):
    """The database to copy into already holds a state: nothing is copied over it."""


@dataclass(frozen=True)
class Copied:
    table: str
    source: int
    target: int


async def copy_state(source: SqlDatabase, target: PgDatabase) -> list[Copied]:
    """Copy every table in one transaction; the counts per table, source and target."""
    for table in TABLES:
        if await target.fetchval(f"SELECT count(*) FROM {table}"):
            raise TargetNotEmpty(
                f"the target database already holds {table}; copy into a new database"
            )
    async with target.transaction() as tx:
        for table in TABLES:
            rows = await source.fetchall(f"SELECT * FROM {table}")
            if not rows:
                continue
            columns = list(rows[0].keys())  # type: ignore[attr-defined]
            await tx.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                [tuple(row) for row in rows],
            )
        for table in WITH_IDENTITY:  # new rows continue after the copied ids
            await tx.fetchval(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
    return [
        Copied(
            table,
            int(await source.fetchval(f"SELECT count(*) FROM {table}")),
            int(await target.fetchval(f"SELECT count(*) FROM {table}")),
        )
        for table in TABLES
    ]
