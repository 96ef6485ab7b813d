"""Sync runs as stored: their shape on the wire and the queries the engine and RPC share."""

from __future__ import annotations

import sqlite3
from typing import Any

from daemon.errors import NotFound
from daemon.model import ACTIVE_RUN_STATES

ACTIVE_SQL = "('" + "', '".join(sorted(ACTIVE_RUN_STATES)) + "')"


def shape(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "configuration_id": row["configuration_id"],
        "period": row["period"],
        "kind": row["kind"],
        "trigger": row["trigger"],
        "state": row["state"],
        "progress": {"stage": row["stage"], "done": row["done"], "total": row["total"]},
        "error": row["error"],
        "error_kind": row["error_kind"],
        "attempts": row["attempts"],
        "draft_id": row["draft_id"],
        "entry_id": row["entry_id"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


class Runs:
    def __init__(self, app: Any) -> None:
        self.app = app

    def shape(self, row: sqlite3.Row) -> dict[str, Any]:
        run = shape(row)
        live = self.app.engine.live_progress(row["id"]) if hasattr(self.app, "engine") else None
        if live is not None and run["state"] in ACTIVE_RUN_STATES:
            run["progress"] = live
        return run

    async def row(self, run_id: int) -> sqlite3.Row:
        row = await self.app.db.fetchone("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound(f"No sync run with id {run_id}.")
        return row

    async def get(self, run_id: int) -> dict[str, Any]:
        return self.shape(await self.row(run_id))

    async def active_run(self, config_id: int) -> sqlite3.Row | None:
        return await self.app.db.fetchone(
            f"SELECT * FROM runs WHERE configuration_id = ? AND state IN {ACTIVE_SQL}",
            (config_id,),
        )

    async def list(
        self, configuration_id: int | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        where, params = [], []
        if configuration_id is not None:
            where.append("configuration_id = ?")
            params.append(configuration_id)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.app.db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [self.shape(r) for r in rows]

    async def running(self) -> list[dict[str, Any]]:
        rows = await self.app.db.fetchall(
            f"SELECT * FROM runs WHERE state IN {ACTIVE_SQL} ORDER BY id"
        )
        return [self.shape(r) for r in rows]
