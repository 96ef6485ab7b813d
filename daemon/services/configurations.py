"""Configurations: one per administration under an authorisation, with its schedule."""

from __future__ import annotations

import sqlite3
from datetime import date
from typing import Any

from daemon.errors import (
    AuthorisationRequired,
    Conflict,
    NotFound,
    ProviderFailure,
    ValidationFailed,
)
from daemon.model import (
    ACTIVE_RUN_STATES,
    ConfigurationFields,
    FieldProblem,
    configuration_state,
    validate_configuration,
)
from daemon.periods import Schedule
from daemon.services.common import dumps, iso, loads
from providers.errors import ProviderError

SELECT = (
    "SELECT c.*, ad.number AS administration_number, ad.name AS administration_name, "
    "ad.timezone AS timezone, ad.currency AS currency, ad.access AS access, "
    "au.status AS authorisation_status, au.provider AS provider, au.name AS authorisation_name, "
    "au.updated_at AS authorisation_updated_at "
    "FROM configurations c JOIN administrations ad ON ad.id = c.administration_id "
    "JOIN authorisations au ON au.id = c.authorisation_id"
)

EDITABLE = (
    "administration_id",
    "frequency",
    "ledger_id",
    "start_date",
    "end_date",
    "delay_days",
    "automatic",
    "tenant_id",
    "no_vat_code",
    "account_map",
    "vat_map",
    "schedule",
)


def schedule_of(row: sqlite3.Row) -> Schedule:
    return Schedule(
        frequency=row["frequency"],
        start_date=date.fromisoformat(row["start_date"]),
        end_date=date.fromisoformat(row["end_date"]) if row["end_date"] else None,
        delay_days=row["delay_days"],
        tz=row["timezone"],
        cron=row["schedule"],
    )


class Configurations:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def row(self, config_id: int) -> sqlite3.Row:
        row = await self.app.db.fetchone(SELECT + " WHERE c.id = ?", (config_id,))
        if row is None:
            raise NotFound(f"No configuration with id {config_id}.")
        return row

    async def done_periods(self, config_id: int) -> set[str]:
        rows = await self.app.db.fetchall(
            "SELECT period FROM period_status WHERE configuration_id = ?", (config_id,)
        )
        return {r[0] for r in rows}

    async def shape(self, row: sqlite3.Row) -> dict[str, Any]:
        done = await self.done_periods(row["id"])
        schedule = schedule_of(row)
        nxt = schedule.next_due(self.app.clock(), done)
        finished = nxt is None
        last = await self.app.db.fetchone(
            "SELECT * FROM runs WHERE configuration_id = ? ORDER BY id DESC LIMIT 1", (row["id"],)
        )
        running = last is not None and last["state"] in ACTIVE_RUN_STATES
        return {
            "id": row["id"],
            "authorisation_id": row["authorisation_id"],
            "authorisation_name": row["authorisation_name"],
            "provider": row["provider"],
            "administration_id": row["administration_id"],
            "administration_number": row["administration_number"],
            "administration_name": row["administration_name"],
            "frequency": row["frequency"],
            "ledger_id": row["ledger_id"],
            "ledger_name": row["ledger_name"],
            "tenant_id": row["tenant_id"],
            "start_date": row["start_date"],
            "end_date": row["end_date"],
            "delay_days": row["delay_days"],
            "automatic": bool(row["automatic"]),
            "active": bool(row["active"]),
            "no_vat_code": row["no_vat_code"],
            "account_map": loads(row["account_map"], {}),
            "vat_map": loads(row["vat_map"], {}),
            "schedule": row["schedule"],
            "state": configuration_state(
                active=bool(row["active"]),
                authorisation_status=row["authorisation_status"],
                finished=finished,
                running=running,
            ),
            "next_due": None if nxt is None else {"period": nxt[0].key, "due_at": iso(nxt[1])},
            "posted_periods": len(done),
            "last_run": None if last is None else self.app.runs.shape(last),
        }

    async def get(self, config_id: int) -> dict[str, Any]:
        return await self.shape(await self.row(config_id))

    async def list(self, authorisation_id: int | None = None) -> list[dict[str, Any]]:
        if authorisation_id is not None:
            await self.app.authorisations.row(authorisation_id)
            rows = await self.app.db.fetchall(
                SELECT + " WHERE c.authorisation_id = ? ORDER BY ad.number, c.id",
                (authorisation_id,),
            )
        else:
            rows = await self.app.db.fetchall(SELECT + " ORDER BY ad.number, c.id")
        return [await self.shape(r) for r in rows]

    async def _validate(self, values: dict[str, Any], config_id: int | None) -> None:
        admin = await self.app.db.fetchone(
            "SELECT access, timezone FROM administrations WHERE id = ?",
            (values["administration_id"],),
        )
        fields = ConfigurationFields(
            administration_id=values["administration_id"],
            frequency=values["frequency"],
            ledger_id=values["ledger_id"],
            start_date=values["start_date"],
            end_date=values["end_date"],
            delay_days=values["delay_days"],
            automatic=values["automatic"],
            no_vat_code=values.get("no_vat_code"),
        )
        problems = validate_configuration(
            fields, administration_access=None if admin is None else bool(admin["access"])
        )
        if values.get("schedule") and admin is not None and not problems:
            try:
                Schedule(
                    values["frequency"],
                    values["start_date"],
                    values["end_date"],
                    values["delay_days"],
                    admin["timezone"],
                    values["schedule"],
                )
            except ValueError as exc:
                problems.append(FieldProblem("schedule", str(exc)))
        for key in ("account_map", "vat_map"):
            mapping = values.get(key) or {}
            if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in mapping.items()):
                problems.append(
                    FieldProblem(key, "must map codes (text) to non-empty codes (text)")
                )
        if problems:
            raise ValidationFailed("The configuration breaks some rules.", errors=problems)
        clash = await self.app.db.fetchone(
            "SELECT id FROM configurations WHERE authorisation_id = ? AND administration_id = ? "
            "AND id IS NOT ?",
            (values["authorisation_id"], values["administration_id"], config_id),
        )
        if clash is not None:
            raise Conflict(
                "This authorisation already has a configuration for that administration "
                f"(configuration {clash['id']})."
            )

    async def ledger_name(
        self, authorisation_id: int, ledger_id: str, tenant: str | None, *, must_exist: bool = False
    ) -> str:
        """The name shown beside the ledger id.

        A provider hiccup is not fatal (the ledger is checked again when posting), but when the
        provider does answer and has no such ledger, ``must_exist`` refuses it now rather than
        at the first sync.
        """
        try:
            provider = await self.app.provider_for(authorisation_id)
            ledgers = await provider.list_ledgers(tenant)
        except (ProviderError, AuthorisationRequired):
            return ""
        for ledger in ledgers:
            if ledger.id == ledger_id:
                return ledger.name
        if must_exist and ledgers:
            known = ", ".join(sorted(ledger.id for ledger in ledgers)[:10])
            raise ValidationFailed(
                "The configuration breaks some rules.",
                errors=[
                    FieldProblem(
                        "ledger_id",
                        f"the provider has no ledger {ledger_id!r} (it has: {known})",
                    )
                ],
            )
        return ""

    async def create(self, values: dict[str, Any]) -> dict[str, Any]:
        auth = await self.app.authorisations.row(values["authorisation_id"])
        values.setdefault("no_vat_code", None)
        values.setdefault("account_map", {})
        values.setdefault("vat_map", {})
        values.setdefault("schedule", None)
        await self._validate(values, None)
        activate = values.pop("activate", False)
        if activate and auth["status"] != "active":
            await self.app.authorisations.require_active(auth["id"])
        tenant = values.get("tenant_id") or loads(auth["settings"], {}).get("tenant_id")
        name = ""
        if auth["status"] == "active":
            name = await self.ledger_name(auth["id"], values["ledger_id"], tenant, must_exist=True)
        now = iso(self.app.clock())
        try:
            config_id = await self.app.db.execute(
                "INSERT INTO configurations (authorisation_id, administration_id, frequency, "
                "ledger_id, ledger_name, tenant_id, start_date, end_date, delay_days, automatic, "
                "active, no_vat_code, account_map, vat_map, schedule, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    auth["id"],
                    values["administration_id"],
                    values["frequency"],
                    values["ledger_id"],
                    name,
                    tenant,
                    values["start_date"].isoformat(),
                    values["end_date"].isoformat() if values["end_date"] else None,
                    values["delay_days"],
                    int(values["automatic"]),
                    int(activate),
                    values["no_vat_code"],
                    dumps(values["account_map"]),
                    dumps(values["vat_map"]),
                    values["schedule"],
                    now,
                    now,
                ),
            )
        except sqlite3.IntegrityError:
            raise Conflict(
                "This authorisation already has a configuration for that administration."
            ) from None
        return await self.changed(config_id)

    async def changed(self, config_id: int) -> dict[str, Any]:
        config = await self.get(config_id)
        self.app.bus.publish("configuration.updated", config)
        self.app.wake_scheduler()
        return config

    async def update(self, config_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        row = await self.row(config_id)
        current = await self.shape(row)
        values: dict[str, Any] = {
            "authorisation_id": row["authorisation_id"],
            **{k: current[k] for k in EDITABLE if k in current},
        }
        values["start_date"] = date.fromisoformat(current["start_date"])
        values["end_date"] = (
            date.fromisoformat(current["end_date"]) if current["end_date"] else None
        )
        values.update(changes)
        if values["administration_id"] != row["administration_id"]:
            posted = await self.done_periods(config_id)
            if posted:
                raise Conflict(
                    "This configuration has already posted periods; the administration cannot "
                    "change. Create a new configuration instead."
                )
        await self._validate(values, config_id)
        ledger_name = row["ledger_name"]
        if values["ledger_id"] != row["ledger_id"]:
            ledger_name = await self.ledger_name(
                row["authorisation_id"],
                values["ledger_id"],
                values.get("tenant_id"),
                must_exist=True,
            )
        await self.app.db.execute(
            "UPDATE configurations SET administration_id = ?, frequency = ?, ledger_id = ?, "
            "ledger_name = ?, tenant_id = ?, start_date = ?, end_date = ?, delay_days = ?, "
            "automatic = ?, no_vat_code = ?, account_map = ?, vat_map = ?, schedule = ?, "
            "updated_at = ? WHERE id = ?",
            (
                values["administration_id"],
                values["frequency"],
                values["ledger_id"],
                ledger_name,
                values.get("tenant_id"),
                values["start_date"].isoformat(),
                values["end_date"].isoformat() if values["end_date"] else None,
                values["delay_days"],
                int(values["automatic"]),
                values.get("no_vat_code"),
                dumps(values.get("account_map") or {}),
                dumps(values.get("vat_map") or {}),
                values.get("schedule"),
                iso(self.app.clock()),
                config_id,
            ),
        )
        return await self.changed(config_id)

    async def set_active(self, config_id: int, active: bool) -> dict[str, Any]:
        row = await self.row(config_id)
        if active:
            await self.app.authorisations.require_active(row["authorisation_id"])
        await self.app.db.execute(
            "UPDATE configurations SET active = ?, updated_at = ? WHERE id = ?",
            (int(active), iso(self.app.clock()), config_id),
        )
        return await self.changed(config_id)

    async def delete(self, config_id: int) -> dict[str, Any]:
        await self.row(config_id)
        if await self.app.runs.active_run(config_id) is not None:
            raise Conflict("A sync of this configuration is running; cancel it or wait.")
        await self.app.db.execute("DELETE FROM configurations WHERE id = ?", (config_id,))
        self.app.bus.publish("configuration.updated", {"id": config_id, "deleted": True})
        self.app.wake_scheduler()
        return {"deleted": True}

    async def options(self, authorisation_id: int) -> dict[str, Any]:
        """Live choices for the configuration form's dropdowns."""
        auth = await self.app.authorisations.require_active(authorisation_id)
        tenant = loads(auth["settings"], {}).get("tenant_id")
        provider = await self.app.provider_for(authorisation_id)
        try:
            tenants = await provider.list_tenants()
            ledgers = await provider.list_ledgers(tenant)
            taxes = await provider.list_tax_codes(tenant)
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None
        admins = await self.app.administrations.list()
        return {
            "administrations": [a for a in admins if a["access"]],
            "ledgers": [{"id": x.id, "code": x.code, "name": x.name} for x in ledgers],
            "tenants": [{"id": t.id, "name": t.name} for t in tenants],
            "vat_codes": [
                {"code": t.code, "name": t.name, "rate": None if t.rate is None else str(t.rate)}
                for t in taxes
            ],
        }
