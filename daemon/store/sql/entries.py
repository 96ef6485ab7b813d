"""Posted entries, notifications, and the figures across tables for status and metrics."""

from __future__ import annotations

from daemon.formats import dumps
from daemon.store.interface import EntryRepository, NotificationRepository, ReportRepository
from daemon.store.records import (
    Counts,
    Entry,
    JsonObject,
    LastPosting,
    MetricsFigures,
    NewNotification,
    Notification,
    Run,
)
from daemon.store.sql import rows
from daemon.store.sql.base import Repository, add_notification
from daemon.store.sql.rows import ACTIVE_SQL, ENTRY_COLUMNS, RUNS


class SqlEntries(Repository, EntryRepository):
    async def recent(
        self,
        *,
        configuration_id: int | None,
        administration_id: str | None,
        period_prefix: str | None,
        limit: int,
        offset: int,
    ) -> list[Entry]:
        where: list[str] = []
        params: list[object] = []
        if configuration_id is not None:
            where.append("configuration_id = ?")
            params.append(configuration_id)
        if administration_id is not None:
            where.append(
                "administration_number = (SELECT number FROM administrations WHERE id = ?)"
            )
            params.append(administration_id)
        if period_prefix:
            where.append("period LIKE ?")
            params.append(period_prefix.replace("%", "") + "%")
        sql = f"SELECT {ENTRY_COLUMNS} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        found = await self._db.fetchall(sql, (*params, limit, offset))
        return [rows.entry(r) for r in found]

    async def get(self, entry_id: int) -> Entry | None:
        row = await self._db.fetchone("SELECT * FROM entries WHERE id = ?", (entry_id,))
        return None if row is None else rows.entry(row, with_lines=True)

    async def for_period(self, config_id: int, period: str) -> list[Entry]:
        found = await self._db.fetchall(
            "SELECT * FROM entries WHERE configuration_id = ? AND period = ? ORDER BY id",
            (config_id, period),
        )
        return [rows.entry(r, with_lines=True) for r in found]

    async def set_source(self, entry_id: int, source_lines: list[JsonObject]) -> None:
        await self._db.execute(
            "UPDATE entries SET source_lines = ? WHERE id = ?", (dumps(source_lines), entry_id)
        )

    async def corrections(self, config_id: int, period: str) -> int:
        return int(
            await self._db.fetchval(
                "SELECT count(*) FROM entries WHERE configuration_id = ? AND period = ? "
                "AND kind = 'correction'",
                (config_id, period),
            )
        )


class SqlNotifications(Repository, NotificationRepository):
    async def create(self, note: NewNotification) -> Notification:
        now = self._now()
        async with self._db.transaction() as tx:
            return await add_notification(tx, note, now)

    async def recent(self, *, unread_only: bool, limit: int) -> list[Notification]:
        sql = "SELECT * FROM notifications" + (" WHERE read = 0" if unread_only else "")
        found = await self._db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (limit,))
        return [rows.notification(r) for r in found]

    async def unread_count(self) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM notifications WHERE read = 0"))

    async def mark_read(self, notification_id: int | None) -> int:
        if notification_id is None:
            return await self._db.execute("UPDATE notifications SET read = 1 WHERE read = 0")
        return await self._db.execute(
            "UPDATE notifications SET read = 1 WHERE id = ? AND read = 0", (notification_id,)
        )


class SqlReports(Repository, ReportRepository):
    async def counts(self) -> Counts:
        row = await self._db.fetchone(
            "SELECT (SELECT count(*) FROM administrations), (SELECT count(*) FROM "
            "authorisations), (SELECT count(*) FROM configurations), (SELECT count(*) FROM "
            f"entries), (SELECT count(*) FROM runs WHERE state IN {ACTIVE_SQL}), "
            "(SELECT count(*) FROM notifications WHERE read = 0)"
        )
        assert row is not None
        return Counts(*(int(value) for value in row))

    async def runs_needing_attention(self, limit: int) -> list[Run]:
        found = await self._db.fetchall(
            RUNS + " r WHERE r.id IN (SELECT max(id) FROM runs GROUP BY configuration_id, "
            "period) AND r.state IN ('failed', 'needs_review') AND NOT EXISTS (SELECT 1 FROM "
            "period_status s WHERE s.configuration_id = r.configuration_id AND s.period = "
            "r.period) ORDER BY r.id DESC LIMIT ?",
            (limit,),
        )
        return [rows.run(r) for r in found]

    async def metrics(self) -> MetricsFigures:
        db = self._db
        runs = await db.fetchall("SELECT state, count(*) FROM runs GROUP BY state")
        auths = await db.fetchall("SELECT status, count(*) FROM authorisations GROUP BY status")
        errors = await db.fetchall(
            "SELECT au.provider, r.error_kind, count(*) FROM runs r JOIN configurations c "
            "ON c.id = r.configuration_id JOIN authorisations au ON au.id = "
            "c.authorisation_id WHERE r.error_kind IS NOT NULL GROUP BY 1, 2"
        )
        last = await db.fetchall(
            "SELECT c.id, ad.number, max(r.finished_at) FROM runs r JOIN configurations c "
            "ON c.id = r.configuration_id JOIN administrations ad ON ad.id = "
            "c.administration_id WHERE r.state = 'posted' GROUP BY c.id, ad.number"
        )
        return MetricsFigures(
            runs_by_state={r[0]: r[1] for r in runs},
            authorisations_by_status={r[0]: r[1] for r in auths},
            errors_by_provider_and_kind={(r[0], r[1]): r[2] for r in errors},
            last_postings=[LastPosting(r[0], r[1], r[2]) for r in last],
        )
