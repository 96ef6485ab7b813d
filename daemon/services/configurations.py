"""Configurations: one per administration under an authorisation, with its schedule."""

from __future__ import annotations

from typing import Any

from daemon.errors import (
    AuthorisationRequired,
    Conflict,
    NotFound,
    ProviderFailure,
    ValidationFailed,
)
from daemon.formats import iso
from daemon.model import (
    ACTIVE_RUN_STATES,
    ConfigurationFields,
    FieldProblem,
    configuration_state,
    validate_configuration,
)
from daemon.periods import Schedule
from daemon.store.errors import Duplicate
from daemon.store.records import Configuration, ConfigurationValues
from providers.errors import ProviderError

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


def schedule_of(cfg: Configuration) -> Schedule:
    return Schedule(
        frequency=cfg.frequency,
        start_date=cfg.start_date,
        end_date=cfg.end_date,
        delay_days=cfg.delay_days,
        tz=cfg.timezone,
        cron=cfg.schedule,
    )


def _values(values: dict[str, Any], ledger_name: str) -> ConfigurationValues:
    return ConfigurationValues(
        authorisation_id=values["authorisation_id"],
        administration_id=values["administration_id"],
        frequency=values["frequency"],
        ledger_id=values["ledger_id"],
        ledger_name=ledger_name,
        tenant_id=values.get("tenant_id"),
        start_date=values["start_date"],
        end_date=values["end_date"],
        delay_days=values["delay_days"],
        automatic=bool(values["automatic"]),
        no_vat_code=values.get("no_vat_code"),
        account_map=dict(values.get("account_map") or {}),
        vat_map=dict(values.get("vat_map") or {}),
        schedule=values.get("schedule"),
    )


class Configurations:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def row(self, config_id: int) -> Configuration:
        cfg = await self.app.store.configurations.get(config_id)
        if cfg is None:
            raise NotFound(f"No configuration with id {config_id}.")
        return cfg

    async def done_periods(self, config_id: int) -> set[str]:
        return set(await self.app.store.periods.done(config_id))

    async def shape(self, cfg: Configuration) -> dict[str, Any]:
        done = await self.done_periods(cfg.id)
        schedule = schedule_of(cfg)
        nxt = schedule.next_due(self.app.clock(), done)
        finished = nxt is None
        last = await self.app.store.runs.latest(cfg.id)
        running = last is not None and last.state in ACTIVE_RUN_STATES
        return {
            "id": cfg.id,
            "authorisation_id": cfg.authorisation_id,
            "authorisation_name": cfg.authorisation_name,
            "provider": cfg.provider,
            "administration_id": cfg.administration_id,
            "administration_number": cfg.administration_number,
            "administration_name": cfg.administration_name,
            "frequency": cfg.frequency,
            "ledger_id": cfg.ledger_id,
            "ledger_name": cfg.ledger_name,
            "tenant_id": cfg.tenant_id,
            "start_date": cfg.start_date.isoformat(),
            "end_date": cfg.end_date.isoformat() if cfg.end_date else None,
            "delay_days": cfg.delay_days,
            "automatic": cfg.automatic,
            "active": cfg.active,
            "no_vat_code": cfg.no_vat_code,
            "account_map": cfg.account_map,
            "vat_map": cfg.vat_map,
            "schedule": cfg.schedule,
            "state": configuration_state(
                active=cfg.active,
                authorisation_status=cfg.authorisation_status,
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
        configs = await self.app.store.configurations.all(authorisation_id)
        return [await self.shape(c) for c in configs]

    async def _validate(self, values: dict[str, Any], config_id: int | None) -> None:
        admin = await self.app.store.administrations.get(values["administration_id"])
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
            fields, administration_access=None if admin is None else admin.access
        )
        if values.get("schedule") and admin is not None and not problems:
            try:
                Schedule(
                    values["frequency"],
                    values["start_date"],
                    values["end_date"],
                    values["delay_days"],
                    admin.timezone,
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
        clash = await self.app.store.configurations.clash(
            values["authorisation_id"], values["administration_id"], config_id
        )
        if clash is not None:
            raise Conflict(
                "This authorisation already has a configuration for that administration "
                f"(configuration {clash})."
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
            provider = await self.app.providers.provider_for(authorisation_id)
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
        if activate and auth.status != "active":
            await self.app.authorisations.require_active(auth.id)
        values["tenant_id"] = values.get("tenant_id") or auth.settings.get("tenant_id")
        name = ""
        if auth.status == "active":
            name = await self.ledger_name(
                auth.id, values["ledger_id"], values["tenant_id"], must_exist=True
            )
        try:
            config_id = await self.app.store.configurations.create(
                _values(values, name), active=bool(activate)
            )
        except Duplicate:
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
        cfg = await self.row(config_id)
        current = await self.shape(cfg)
        values: dict[str, Any] = {
            "authorisation_id": cfg.authorisation_id,
            **{k: current[k] for k in EDITABLE if k in current},
        }
        values["start_date"] = cfg.start_date
        values["end_date"] = cfg.end_date
        values.update(changes)
        if values["administration_id"] != cfg.administration_id:
            posted = await self.done_periods(config_id)
            if posted:
                raise Conflict(
                    "This configuration has already posted periods; the administration cannot "
                    "change. Create a new configuration instead."
                )
        await self._validate(values, config_id)
        ledger_name = cfg.ledger_name
        if values["ledger_id"] != cfg.ledger_id:
            ledger_name = await self.ledger_name(
                cfg.authorisation_id,
                values["ledger_id"],
                values.get("tenant_id"),
                must_exist=True,
            )
        await self.app.store.configurations.update(config_id, _values(values, ledger_name))
        return await self.changed(config_id)

    async def set_active(self, config_id: int, active: bool) -> dict[str, Any]:
        cfg = await self.row(config_id)
        if active:
            await self.app.authorisations.require_active(cfg.authorisation_id)
        await self.app.store.configurations.set_active(config_id, active)
        return await self.changed(config_id)

    async def delete(self, config_id: int) -> dict[str, Any]:
        await self.row(config_id)
        if await self.app.store.runs.active(config_id) is not None:
            raise Conflict("A sync of this configuration is running; cancel it or wait.")
        await self.app.store.configurations.delete(config_id)
        self.app.bus.publish("configuration.updated", {"id": config_id, "deleted": True})
        self.app.wake_scheduler()
        return {"deleted": True}

    async def options(self, authorisation_id: int) -> dict[str, Any]:
        """Live choices for the configuration form's dropdowns."""
        auth = await self.app.authorisations.require_active(authorisation_id)
        tenant = auth.settings.get("tenant_id")
        provider = await self.app.providers.provider_for(authorisation_id)
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
