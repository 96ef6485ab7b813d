"""The journal entries overview: what was posted where, newest first."""

from __future__ import annotations

import sqlite3
from typing import Any

from daemon.errors import NotFound
from daemon.services.common import loads


def shape(row: sqlite3.Row, *, with_lines: bool = False) -> dict[str, Any]:
    entry = {
        "id": row["id"],
        "configuration_id": row["configuration_id"],
        "administration_number": row["administration_number"],
        "period": row["period"],
        "kind": row["kind"],
        "reference": row["reference"],
        "date": row["date"],
        "provider": row["provider"],
        "external_id": row["external_id"],
        "total": row["total"],
        "line_count": row["line_count"],
        "posted_at": row["posted_at"],
        "run_id": row["run_id"],
    }
    if with_lines:
        entry["lines"] = loads(row["lines"], [])
    return entry


COLUMNS = (
    "id, configuration_id, administration_number, period, kind, reference, date, provider, "
    "external_id, total, line_count, posted_at, run_id"
)


class Entries:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def list(
        self,
        configuration_id: int | None,
        administration_id: str | None,
        period: str | None,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        where, params = [], []
        if configuration_id is not None:
            where.append("configuration_id = ?")
            params.append(configuration_id)
        if administration_id is not None:
            where.append(
                "administration_number = (SELECT number FROM administrations WHERE id = ?)"
            )
            params.append(administration_id)
        if period:
            where.append("period LIKE ?")
            params.append(period.replace("%", "") + "%")
        sql = f"SELECT {COLUMNS} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        rows = await self.app.db.fetchall(sql, (*params, limit, offset))
        return [shape(r) for r in rows]

    async def count(self) -> int:
        return int(await self.app.db.fetchval("SELECT count(*) FROM entries"))

    async def get(self, entry_id: int) -> dict[str, Any]:
        row = await self.app.db.fetchone("SELECT * FROM entries WHERE id = ?", (entry_id,))
        if row is None:
            raise NotFound(f"No entry with id {entry_id}.")
        return shape(row, with_lines=True)
