"""The schema on PostgreSQL: the same versioned migrations as SQLite (``daemon.store.migrations``,
rendered for PostgreSQL), recorded in ``schema_version``.

Several daemons may start at once on one database: the upgrade holds a transaction-scoped
advisory lock, so one applies it and the others find it done. PostgreSQL's DDL is
transactional: an upgrade completes or leaves the old version untouched.
"""

from __future__ import annotations

from typing import Any

from daemon.store.db import split_sql
from daemon.store.errors import StateDirError
from daemon.store.migrations import LATEST_VERSION, render

MIGRATION_LOCK = 0x62657873  # "bexs": the advisory lock key of schema upgrades

# The case-insensitive collation that COLLATE NOCASE names (SQLite has it built in).
NOCASE = (
    "CREATE COLLATION IF NOT EXISTS nocase "
    "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
)


async def schema_version(conn: Any) -> int:
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    row = await cur.fetchone()
    if not row[0]:
        return 0
    cur = await conn.execute("SELECT max(version) FROM schema_version")
    row = await cur.fetchone()
    return int(row[0] or 0)


async def migrate(conn: Any, target: int = LATEST_VERSION) -> int:
    """Bring the database to ``target`` in one transaction; ``StateDirError`` if it is newer."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        current = await schema_version(conn)
        if current > LATEST_VERSION:
            raise StateDirError(
                f"the database is at schema version {current}, newer than this bexsync "
                f"understands ({LATEST_VERSION}); upgrade bexsync"
            )
        if current == 0:
            await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            await conn.execute(NOCASE)
        for version in range(current + 1, target + 1):
            for statement in split_sql(render(version, "postgresql")):
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    return max(current, target)
