"""Sync runs and their drafts: every step of a run's life is one transaction here."""

from __future__ import annotations

from daemon.formats import dumps, loads
from daemon.store.errors import AlreadySynced, Superseded
from daemon.store.interface import DraftRepository, RunRepository
from daemon.store.records import (
    JsonObject,
    NewEntry,
    NewNotification,
    Notification,
    Posted,
    PostingRun,
    Run,
    StoredDraft,
)
from daemon.store.sql import rows
from daemon.store.sql.base import Repository, add_notification
from daemon.store.sql.rows import ACTIVE_SQL, RUN_COLUMNS, RUNS
from daemon.store.sql.seam import Transaction

POSTING = f"SELECT {RUN_COLUMNS}, idempotency_key, payload FROM runs WHERE state = 'posting'"


class SqlRuns(Repository, RunRepository):
    async def _lock_configuration(self, tx: Transaction, config_id: int) -> None:
        """Writes that check before they write take the configuration's row first, so two
        daemons on one PostgreSQL database check and write one after the other (SQLite has
        one writer at a time anyway)."""
        await tx.fetchval(
            "SELECT id FROM configurations WHERE id = ?" + self._db.dialect.for_update,
            (config_id,),
        )

    async def get(self, run_id: int) -> Run | None:
        row = await self._db.fetchone(RUNS + " WHERE id = ?", (run_id,))
        return None if row is None else rows.run(row)

    async def recent(
        self, configuration_id: int | None, state: str | None, limit: int
    ) -> list[Run]:
        where: list[str] = []
        params: list[object] = []
        if configuration_id is not None:
            where.append("configuration_id = ?")
            params.append(configuration_id)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        sql = RUNS + (" WHERE " + " AND ".join(where) if where else "")
        found = await self._db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [rows.run(r) for r in found]

    async def active(self, config_id: int) -> Run | None:
        row = await self._db.fetchone(
            RUNS + f" WHERE configuration_id = ? AND state IN {ACTIVE_SQL}", (config_id,)
        )
        return None if row is None else rows.run(row)

    async def running(self) -> list[Run]:
        found = await self._db.fetchall(RUNS + f" WHERE state IN {ACTIVE_SQL} ORDER BY id")
        return [rows.run(r) for r in found]

    async def latest(self, config_id: int) -> Run | None:
        row = await self._db.fetchone(
            RUNS + " WHERE configuration_id = ? ORDER BY id DESC LIMIT 1", (config_id,)
        )
        return None if row is None else rows.run(row)

    async def latest_by_configuration(self) -> dict[int, Run]:
        found = await self._db.fetchall(
            RUNS + " WHERE id IN (SELECT MAX(id) FROM runs GROUP BY configuration_id)"
        )
        latest = (rows.run(r) for r in found)
        return {run.configuration_id: run for run in latest}

    async def latest_for_period(self, config_id: int, period: str) -> Run | None:
        row = await self._db.fetchone(
            RUNS + " WHERE configuration_id = ? AND period = ? ORDER BY id DESC LIMIT 1",
            (config_id, period),
        )
        return None if row is None else rows.run(row)

    async def interrupted(self) -> list[Run]:
        found = await self._db.fetchall(
            RUNS + f" WHERE state IN {ACTIVE_SQL} AND state != 'posting' ORDER BY id"
        )
        return [rows.run(r) for r in found]

    async def posting(self) -> list[PostingRun]:
        found = await self._db.fetchall(POSTING + " ORDER BY id")
        return [PostingRun(rows.run(r), r["idempotency_key"], loads(r["payload"])) for r in found]

    async def posting_run(self, run_id: int) -> PostingRun | None:
        row = await self._db.fetchone(POSTING + " AND id = ?", (run_id,))
        if row is None:
            return None
        return PostingRun(rows.run(row), row["idempotency_key"], loads(row["payload"]))

    async def queue(
        self,
        config_id: int,
        period: str,
        *,
        trigger: str,
        draft_id: int | None,
        allow_correction: bool,
    ) -> int:
        async with self._db.transaction() as tx:
            await self._lock_configuration(tx, config_id)
            synced = bool(
                await tx.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM entries WHERE configuration_id = ? AND "
                    "period = ?) OR EXISTS (SELECT 1 FROM period_status WHERE "
                    "configuration_id = ? AND period = ? AND coalesce(status, '') != '')",
                    (config_id, period, config_id, period),
                )
            )
            if synced and not allow_correction:
                raise AlreadySynced(f"period {period} of configuration {config_id} is synced")
            return await tx.insert(
                "INSERT INTO runs (configuration_id, period, trigger, state, kind, draft_id, "
                "created_at, attempts) VALUES (?, ?, ?, 'queued', ?, ?, ?, coalesce((SELECT "
                "CASE WHEN state = 'failed' AND coalesce(error_kind, '') != 'interrupted' "
                "THEN attempts ELSE 0 END FROM runs WHERE "
                "configuration_id = ? AND period = ? ORDER BY id DESC LIMIT 1), 0))",
                (
                    config_id,
                    period,
                    trigger,
                    "correction" if synced else "entry",
                    draft_id,
                    self._now(),
                    config_id,
                    period,
                ),
            )

    async def set_state(self, run_id: int, state: str, stage: str | None) -> None:
        await self._db.execute(
            "UPDATE runs SET state = ?, stage = COALESCE(?, stage), "
            "started_at = COALESCE(started_at, ?) WHERE id = ?",
            (state, stage, self._now(), run_id),
        )

    async def set_stage(self, run_id: int, stage: str) -> None:
        await self._db.execute("UPDATE runs SET stage = ? WHERE id = ?", (stage, run_id))

    async def mark_posting(
        self,
        run_id: int,
        *,
        idempotency_key: str,
        payload_hash: str,
        payload: JsonObject,
    ) -> None:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE runs SET state = 'posting', stage = 'posting', idempotency_key = ?, "
                f"payload_hash = ?, payload = ? WHERE id = ? AND state IN {ACTIVE_SQL}",
                (idempotency_key, payload_hash, dumps(payload), run_id),
            )
            if not changed:
                raise Superseded(f"run {run_id} was settled meanwhile; it does not post")
            await tx.execute(
                "UPDATE drafts SET status = 'posting' WHERE id = "
                "(SELECT draft_id FROM runs WHERE id = ?)",
                (run_id,),
            )

    async def record_posted(self, run_id: int, entry: NewEntry, note: NewNotification) -> Posted:
        now = self._now()
        async with self._db.transaction() as tx:
            if entry.configuration_id is not None:
                await self._lock_configuration(tx, entry.configuration_id)
            recorded = await tx.fetchone(
                "SELECT id FROM entries WHERE configuration_id = ? AND period = ? "
                "AND reference = ?",
                (entry.configuration_id, entry.period, entry.reference),
            )
            if recorded is not None:
                await tx.execute(
                    "UPDATE runs SET state = 'posted', stage = 'already recorded', entry_id = ?, "
                    "finished_at = ?, error = NULL, error_kind = NULL WHERE id = ?",
                    (recorded[0], now, run_id),
                )
                return Posted(int(recorded[0]), None)
            entry_id = await tx.insert(
                "INSERT INTO entries (configuration_id, administration_number, period, kind, "
                "reference, date, provider, external_id, total, line_count, lines, posted_at, "
                "run_id, source_lines, corrects) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?)",
                (
                    entry.configuration_id,
                    entry.administration_number,
                    entry.period,
                    entry.kind,
                    entry.reference,
                    entry.date.isoformat(),
                    entry.provider,
                    entry.external_id,
                    f"{entry.total:.2f}",
                    len(entry.lines),
                    dumps(entry.lines),
                    now,
                    run_id,
                    None if entry.source_lines is None else dumps(entry.source_lines),
                    entry.corrects,
                ),
            )
            await tx.execute(
                "INSERT INTO period_status (configuration_id, period, status, entry_id, "
                "updated_at) VALUES (?, ?, 'posted', ?, ?) ON CONFLICT (configuration_id, period) "
                "DO UPDATE SET status = 'posted', updated_at = excluded.updated_at",
                (entry.configuration_id, entry.period, entry_id, now),
            )
            await tx.execute(
                "UPDATE runs SET state = 'posted', stage = 'posted', entry_id = ?, "
                "finished_at = ?, error = NULL, error_kind = NULL WHERE id = ?",
                (entry_id, now, run_id),
            )
            await tx.execute(
                "UPDATE drafts SET status = 'posted' WHERE id = "
                "(SELECT draft_id FROM runs WHERE id = ?)",
                (run_id,),
            )
            link = {**(note.link or {}), "entry_id": entry_id}
            linked = NewNotification(note.level, note.title, note.body, link)
            return Posted(entry_id, await add_notification(tx, linked, now))

    async def record_empty(self, run_id: int) -> None:
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.execute(
                # the whole row anew, as a REPLACE would: no entry, no source hash
                "INSERT INTO period_status (configuration_id, period, status, updated_at) "
                "SELECT configuration_id, period, 'empty', ? FROM runs WHERE id = ? "
                "ON CONFLICT (configuration_id, period) DO UPDATE SET status = 'empty', "
                "entry_id = NULL, source_hash = NULL, updated_at = excluded.updated_at",
                (now, run_id),
            )
            await tx.execute(
                "UPDATE runs SET state = 'posted', stage = 'no transactions', finished_at = ? "
                "WHERE id = ?",
                (now, run_id),
            )

    async def record_unchanged(self, run_id: int, note: NewNotification) -> Notification:
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE runs SET state = 'posted', stage = 'no difference', finished_at = ? "
                "WHERE id = ?",
                (now, run_id),
            )
            return await add_notification(tx, note, now)

    async def record_failed(
        self,
        run_id: int,
        *,
        state: str,
        message: str,
        error_kind: str | None,
        note: NewNotification | None,
    ) -> Notification | None:
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE runs SET state = ?, stage = ?, error = ?, error_kind = ?, "
                "attempts = attempts + 1, finished_at = ? WHERE id = ?",
                (state, state, message, error_kind, now, run_id),
            )
            await tx.execute(
                "UPDATE drafts SET status = 'open' WHERE status = 'posting' AND id = "
                "(SELECT draft_id FROM runs WHERE id = ?)",
                (run_id,),
            )
            return None if note is None else await add_notification(tx, note, now)


class SqlDrafts(Repository, DraftRepository):
    async def create(self, config_id: int, period: str, data: JsonObject) -> int:
        now = self._now()
        return await self._db.insert(
            "INSERT INTO drafts (configuration_id, period, data, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (config_id, period, dumps(data), now, now),
        )

    async def get(self, draft_id: int) -> StoredDraft | None:
        row = await self._db.fetchone("SELECT * FROM drafts WHERE id = ?", (draft_id,))
        return None if row is None else rows.draft(row)

    async def update(self, draft_id: int, data: JsonObject) -> None:
        await self._db.execute(
            "UPDATE drafts SET data = ?, updated_at = ? WHERE id = ?",
            (dumps(data), self._now(), draft_id),
        )
