"""Notifications: written in the same transaction as the event they report, published after."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite

from daemon.services.common import dumps, iso, loads


def shape(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "level": row["level"],
        "title": row["title"],
        "body": row["body"],
        "created_at": row["created_at"],
        "read": bool(row["read"]),
        "link": loads(row["link"]),
    }


class Notifications:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def add(
        self,
        conn: aiosqlite.Connection,
        level: str,
        title: str,
        body: str,
        link: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Insert inside the caller's transaction; the caller publishes the returned shape."""
        created = iso(self.app.clock())
        cur = await conn.execute(
            "INSERT INTO notifications (level, title, body, created_at, link) "
            "VALUES (?, ?, ?, ?, ?)",
            (level, title, body, created, dumps(link) if link else None),
        )
        return {
            "id": cur.lastrowid,
            "level": level,
            "title": title,
            "body": body,
            "created_at": created,
            "read": False,
            "link": link,
        }

    def publish(self, notification: dict[str, Any]) -> None:
        self.app.bus.publish("notification.created", notification)

    async def create(
        self, level: str, title: str, body: str, link: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        async with self.app.db.transaction() as conn:
            note = await self.add(conn, level, title, body, link)
        self.publish(note)
        return note

    async def list(self, unread_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        sql = "SELECT * FROM notifications"
        if unread_only:
            sql += " WHERE read = 0"
        rows = await self.app.db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (limit,))
        return [shape(r) for r in rows]

    async def unread_count(self) -> int:
        return int(await self.app.db.fetchval("SELECT count(*) FROM notifications WHERE read = 0"))

    async def mark_read(self, notification_id: int | None, all_: bool) -> int:
        async with self.app.db.transaction() as conn:
            if all_:
                cur = await conn.execute("UPDATE notifications SET read = 1 WHERE read = 0")
            else:
                cur = await conn.execute(
                    "UPDATE notifications SET read = 1 WHERE id = ? AND read = 0",
                    (notification_id,),
                )
            return cur.rowcount
