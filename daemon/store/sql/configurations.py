"""Configurations (with their administration and login) and the status of their periods."""

from __future__ import annotations

from daemon.formats import dumps
from daemon.store.interface import ConfigurationRepository, PeriodRepository
from daemon.store.records import (
    Configuration,
    ConfigurationValues,
    DoneSummary,
    NewNotification,
    Notification,
)
from daemon.store.sql import rows
from daemon.store.sql.base import Backend, Repository, add_notification
from daemon.store.sql.reuse import Reused


def _columns(values: ConfigurationValues) -> tuple[object, ...]:
    return (
        values.administration_id,
        values.frequency,
        values.ledger_id,
        values.ledger_name,
        values.tenant_id,
        values.start_date.isoformat(),
        values.end_date.isoformat() if values.end_date else None,
        values.delay_days,
        int(values.automatic),
        values.no_vat_code,
        dumps(values.account_map),
        dumps(values.vat_map),
        values.schedule,
        int(values.allow_duplicate_target),
    )


class SqlConfigurations(Repository, ConfigurationRepository):
    def __init__(self, backend: Backend) -> None:
        super().__init__(backend)
        self._listed = Reused(rows.configuration)  # the TUI lists again after every change
        self._scheduled = Reused(rows.configuration)  # every scheduling pass

    async def get(self, config_id: int) -> Configuration | None:
        row = await self._db.fetchone(rows.CONFIGURATIONS + " WHERE c.id = ?", (config_id,))
        return None if row is None else rows.configuration(row)

    async def all(self, authorisation_id: int | None = None) -> list[Configuration]:
        if authorisation_id is None:
            found = await self._db.fetchall(rows.CONFIGURATIONS + " ORDER BY ad.number, c.id")
        else:
            found = await self._db.fetchall(
                rows.CONFIGURATIONS + " WHERE c.authorisation_id = ? ORDER BY ad.number, c.id",
                (authorisation_id,),
            )
        return self._listed(found)

    async def schedulable(self) -> list[Configuration]:
        found = await self._db.fetchall(
            rows.CONFIGURATIONS + " WHERE c.active = 1 AND c.automatic = 1 "
            "AND au.status = 'active' AND ad.access = 1 ORDER BY c.id"
        )
        return self._scheduled(found)

    async def without_ledger_name(self, authorisation_id: int) -> list[Configuration]:
        found = await self._db.fetchall(
            rows.CONFIGURATIONS + " WHERE c.authorisation_id = ? AND c.ledger_name = '' "
            "ORDER BY c.id",
            (authorisation_id,),
        )
        return [rows.configuration(r) for r in found]

    async def on_target(
        self, provider: str, tenant_id: str | None, ledger_id: str, administration_id: str
    ) -> list[Configuration]:
        found = await self._db.fetchall(
            rows.CONFIGURATIONS + " WHERE c.active = 1 AND au.provider = ? AND "
            "coalesce(c.tenant_id, '') = ? AND c.ledger_id = ? AND c.administration_id = ? "
            "ORDER BY c.id",
            (provider, tenant_id or "", ledger_id, administration_id),
        )
        return [rows.configuration(r) for r in found]

    async def clash(
        self, authorisation_id: int, administration_id: str, other_than: int | None
    ) -> int | None:
        found = await self._db.fetchval(
            "SELECT id FROM configurations WHERE authorisation_id = ? AND administration_id = ? "
            "AND id IS DISTINCT FROM ?",
            (authorisation_id, administration_id, other_than),
        )
        return None if found is None else int(found)

    async def create(self, values: ConfigurationValues, *, active: bool) -> int:
        now = self._now()
        return await self._db.insert(
            "INSERT INTO configurations (authorisation_id, administration_id, frequency, "
            "ledger_id, ledger_name, tenant_id, start_date, end_date, delay_days, automatic, "
            "no_vat_code, account_map, vat_map, schedule, allow_duplicate_target, active, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (values.authorisation_id, *_columns(values), int(active), now, now),
        )

    async def update(self, config_id: int, values: ConfigurationValues) -> None:
        await self._db.execute(
            "UPDATE configurations SET administration_id = ?, frequency = ?, ledger_id = ?, "
            "ledger_name = ?, tenant_id = ?, start_date = ?, end_date = ?, delay_days = ?, "
            "automatic = ?, no_vat_code = ?, account_map = ?, vat_map = ?, schedule = ?, "
            "allow_duplicate_target = ?, updated_at = ? WHERE id = ?",
            (*_columns(values), self._now(), config_id),
        )

    async def set_active(self, config_id: int, active: bool) -> None:
        await self._db.execute(
            "UPDATE configurations SET active = ?, updated_at = ? WHERE id = ?",
            (int(active), self._now(), config_id),
        )

    async def set_ledger_name(self, config_id: int, name: str) -> None:
        await self._db.execute(
            "UPDATE configurations SET ledger_name = ? WHERE id = ?", (name, config_id)
        )

    async def delete(self, config_id: int) -> None:
        await self._db.execute("DELETE FROM configurations WHERE id = ?", (config_id,))


class SqlPeriods(Repository, PeriodRepository):
    async def done(self, config_id: int) -> set[str]:
        found = await self._db.fetchall(
            "SELECT period FROM period_status WHERE configuration_id = ?", (config_id,)
        )
        return {r[0] for r in found}

    async def summary_by_configuration(self) -> dict[int, DoneSummary]:
        of_it = "FROM period_status s WHERE s.configuration_id = c.id"
        keyed = f"{of_it} AND length(s.period) = CASE c.frequency WHEN 'monthly' THEN 7 ELSE 10 END"
        found = await self._db.fetchall(
            f"SELECT c.id, (SELECT count(*) {of_it}), (SELECT count(*) {keyed}), "
            f"(SELECT min(s.period) {keyed}), (SELECT max(s.period) {keyed}) "
            f"FROM configurations c WHERE EXISTS (SELECT 1 {of_it})"
        )
        return {row[0]: DoneSummary(int(row[1]), int(row[2]), row[3], row[4]) for row in found}

    async def source_hash(self, config_id: int, period: str) -> str | None:
        value = await self._db.fetchval(
            "SELECT source_hash FROM period_status WHERE configuration_id = ? AND period = ?",
            (config_id, period),
        )
        return None if value is None else str(value)

    async def record_drift(
        self, config_id: int, period: str, digest: str, note: NewNotification
    ) -> Notification:
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE period_status SET source_hash = ? WHERE configuration_id = ? "
                "AND period = ?",
                (digest, config_id, period),
            )
            return await add_notification(tx, note, now)
