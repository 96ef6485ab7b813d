"""Configurations: one per administration under an authorisation, with its schedule."""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Callable, Container, Sequence
from datetime import datetime
from typing import Any

from daemon.errors import (
    Conflict,
    NotFound,
    ProviderFailure,
    ValidationFailed,
)
from daemon.formats import Clock, iso
from daemon.labels import configuration_label
from daemon.model import (
    ACTIVE_RUN_STATES,
    ConfigurationFields,
    FieldProblem,
    configuration_state,
    validate_configuration,
)
from daemon.overdue import overdue_periods
from daemon.periods import DoneSpan, Period, Schedule
from daemon.provider_pool import ProviderPool
from daemon.publisher import EventPublisher
from daemon.services.authorisations import active_authorisation, find_authorisation
from daemon.services.ledgers import ledger_name
from daemon.services.runs import Runs
from daemon.store.errors import Duplicate
from daemon.store.interface import Store
from daemon.store.records import Configuration, ConfigurationValues, DoneSummary, Run
from daemon.targets import Target, config_target, duplicate_warning, target_of, twins
from daemon.views import administration_view
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
    "allow_duplicate_target",
)


_schedule = functools.lru_cache(maxsize=4096, typed=True)(Schedule)
"""A Schedule is immutable and checks its fields (zone, cron) when made: one per timetable,
shared by every listing and scheduling pass (a refused one raises again each time)."""


_NOTHING_DONE: frozenset[str] = frozenset()

_due_text = functools.lru_cache(maxsize=8192)(iso)
"""Due times come from ``periods.due_at``'s cache: the same few instants, listing after listing."""


def schedule_of(cfg: Configuration) -> Schedule:
    return _schedule(
        cfg.frequency, cfg.start_date, cfg.end_date, cfg.delay_days, cfg.timezone, cfg.schedule
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
        allow_duplicate_target=bool(values.get("allow_duplicate_target")),
    )


def next_due_of(
    cfg: Configuration, now: datetime, done: Container[str]
) -> tuple[tuple[Period, datetime] | None, str | None]:
    """The oldest period not done and its due time, or why this row cannot be scheduled.

    The rules keep such rows out, but one written before them (or by hand) must not break a
    listing: it is shown with its problem instead, and the scheduler leaves it aside.
    """
    try:
        return schedule_of(cfg).next_due(now, done), None
    except (ValueError, OverflowError) as exc:
        return None, f"its dates cannot be scheduled ({exc}); correct its start or end date"


async def find_configuration(store: Store, config_id: int) -> Configuration:
    cfg = await store.configurations.get(config_id)
    if cfg is None:
        raise NotFound(f"No configuration with id {config_id}.")
    return cfg


class Configurations:
    def __init__(
        self,
        *,
        store: Store,
        pool: ProviderPool,
        runs: Runs,
        events: EventPublisher,
        clock: Clock,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._pool = pool
        self._runs = runs
        self._events = events
        self._clock = clock
        self._wake = wake

    async def row(self, config_id: int) -> Configuration:
        return await find_configuration(self._store, config_id)

    async def done_periods(self, config_id: int) -> set[str]:
        return set(await self._store.periods.done(config_id))

    async def shape(self, cfg: Configuration) -> dict[str, Any]:
        done = await self.done_periods(cfg.id)
        on_target = await self._store.configurations.on_target(*config_target(cfg))
        last = await self._store.runs.latest(cfg.id)
        return self._shape(cfg, done, len(done), last, on_target, self._clock())

    def _shape(
        self,
        cfg: Configuration,
        done: Container[str],
        posted: int,
        last: Run | None,
        on_target: list[Configuration],
        now: datetime,
    ) -> dict[str, Any]:
        """The wire form, from what the store already gave (a listing reads it in bulk)."""
        nxt, problem = next_due_of(cfg, now, done)
        finished = nxt is None and problem is None
        if not cfg.access:
            nxt = None  # paused: nothing is due until access is restored
        running = last is not None and last.state in ACTIVE_RUN_STATES
        overdue = []
        if problem is None:
            overdue = overdue_periods(
                schedule_of(cfg),
                now,
                done,
                automatic=cfg.automatic,
                running=running,
                paused=not (cfg.active and cfg.access and cfg.authorisation_status == "active"),
            )
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
            "schedule_error": problem,
            "state": configuration_state(
                active=cfg.active,
                authorisation_status=cfg.authorisation_status,
                finished=finished,
                running=running,
                access=cfg.access,
            ),
            "next_due": None
            if nxt is None
            else {"period": nxt[0].key, "due_at": _due_text(nxt[1])},
            "overdue": [{"period": p.key, "due_at": _due_text(at)} for p, at in overdue],
            "label": configuration_label(cfg),
            "allow_duplicate_target": cfg.allow_duplicate_target,
            "warning": duplicate_warning(cfg, on_target) if cfg.active else None,
            "posted_periods": posted,
            "last_run": None if last is None else self._runs.shape(last),
        }

    async def get(self, config_id: int) -> dict[str, Any]:
        return await self.shape(await self.row(config_id))

    async def list(self, authorisation_id: int | None = None) -> list[dict[str, Any]]:
        if authorisation_id is not None:
            await find_authorisation(self._store, authorisation_id)
        # Asked at once: the three reads queue together on the database's thread (SQLite) or
        # run side by side on pooled connections (PostgreSQL), not one loop turn after another.
        everyone, summaries, latest = await asyncio.gather(
            self._store.configurations.all(),
            self._store.periods.summary_by_configuration(),
            self._store.runs.latest_by_configuration(),
        )
        configs = [c for c in everyone if authorisation_id in (None, c.authorisation_id)]
        by_target: dict[Target, list[Configuration]] = defaultdict(list)
        for c in everyone:
            by_target[config_target(c)].append(c)
        now = self._clock()  # one moment for the whole listing
        shaped = []
        for c in configs:
            summary = summaries.get(c.id)
            posted = 0 if summary is None else summary.count
            done = await self._done_in_listing(c, summary)
            on_target = by_target[config_target(c)]
            shaped.append(self._shape(c, done, posted, latest.get(c.id), on_target, now))
        return shaped

    async def _done_in_listing(
        self, cfg: Configuration, summary: DoneSummary | None
    ) -> Container[str]:
        """The settled periods as a span when they run unbroken (the usual case, however long
        the history), else read one by one: a gap is a period overdue, which is rare."""
        if summary is None or summary.first is None or summary.last is None:
            return _NOTHING_DONE  # none of its frequency (only older ones of another, if any)
        span = DoneSpan.of(cfg.frequency, summary.matching, summary.first, summary.last)
        return span if span is not None else await self.done_periods(cfg.id)

    async def _one_feed(self, values: dict[str, Any], config_id: int | None) -> None:
        """Refuse a second active configuration on a target (one ledger, one feed)."""
        if values.get("allow_duplicate_target"):
            return
        auth = await find_authorisation(self._store, values["authorisation_id"])
        tenant = values.get("tenant_id") or auth.settings.get("tenant_id")
        target = target_of(auth.provider, tenant, values["ledger_id"], values["administration_id"])
        others = twins(
            target, auth.id, config_id, await self._store.configurations.on_target(*target)
        )
        if others:
            other = others[0]
            raise Conflict(
                f"{configuration_label(other)} already posts administration "
                f"{other.administration_number} into ledger {other.ledger_id} of this "
                f"{auth.provider} organisation under authorisation {other.authorisation_name!r}: "
                "a second feed would post every period twice. Deactivate that one, or set "
                "allow_duplicate_target if both are meant.",
                details={"configuration_id": other.id},
            )

    async def _validate(self, values: dict[str, Any], config_id: int | None) -> None:
        admin = await self._store.administrations.get(values["administration_id"])
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
            fields,
            administration_access=None if admin is None else admin.access,
            today=self._clock().date(),
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
        clash = await self._store.configurations.clash(
            values["authorisation_id"], values["administration_id"], config_id
        )
        if clash is not None:
            raise Conflict(
                "This authorisation already has a configuration for that administration "
                f"(configuration {clash})."
            )

    async def create(self, values: dict[str, Any]) -> dict[str, Any]:
        auth = await find_authorisation(self._store, values["authorisation_id"])
        values.setdefault("no_vat_code", None)
        values.setdefault("account_map", {})
        values.setdefault("vat_map", {})
        values.setdefault("schedule", None)
        await self._validate(values, None)
        activate = values.pop("activate", False)
        if activate and auth.status != "active":
            await active_authorisation(self._store, auth.id)
        if activate:
            await self._one_feed(values, None)
        values["tenant_id"] = values.get("tenant_id") or auth.settings.get("tenant_id")
        name = ""
        if auth.status == "active":
            name = await ledger_name(
                self._pool, auth.id, values["ledger_id"], values["tenant_id"], must_exist=True
            )
        try:
            config_id = await self._store.configurations.create(
                _values(values, name), active=bool(activate)
            )
        except Duplicate:
            raise Conflict(
                "This authorisation already has a configuration for that administration."
            ) from None
        return await self.changed(config_id)

    async def changed(self, config_id: int) -> dict[str, Any]:
        config = await self.get(config_id)
        self._events.publish("configuration.updated", config)
        self._wake()
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
        if cfg.active:
            await self._one_feed(values, config_id)
        name = cfg.ledger_name
        if values["ledger_id"] != cfg.ledger_id:
            name = await ledger_name(
                self._pool,
                cfg.authorisation_id,
                values["ledger_id"],
                values.get("tenant_id"),
                must_exist=True,
            )
        await self._store.configurations.update(config_id, _values(values, name))
        return await self.changed(config_id)

    async def set_active(self, config_id: int, active: bool) -> dict[str, Any]:
        cfg = await self.row(config_id)
        if active:
            await active_authorisation(self._store, cfg.authorisation_id)
            await self._one_feed(
                {
                    "authorisation_id": cfg.authorisation_id,
                    "tenant_id": cfg.tenant_id,
                    "ledger_id": cfg.ledger_id,
                    "administration_id": cfg.administration_id,
                    "allow_duplicate_target": cfg.allow_duplicate_target,
                },
                config_id,
            )
        await self._store.configurations.set_active(config_id, active)
        return await self.changed(config_id)

    async def delete(self, config_id: int) -> dict[str, Any]:
        await self.row(config_id)
        if await self._store.runs.active(config_id) is not None:
            raise Conflict("A sync of this configuration is running; cancel it or wait.")
        await self._store.configurations.delete(config_id)
        self._events.publish("configuration.updated", {"id": config_id, "deleted": True})
        self._wake()
        return {"deleted": True}

    async def options(self, authorisation_id: int) -> dict[str, Any]:
        """Live choices for the configuration form's dropdowns."""
        auth = await active_authorisation(self._store, authorisation_id)
        tenant = auth.settings.get("tenant_id")
        provider = await self._pool.provider_for(authorisation_id)
        try:
            tenants = await provider.list_tenants()
            ledgers = await provider.list_ledgers(tenant)
            taxes = await provider.list_tax_codes(tenant)
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None
        admins = await self._store.administrations.all()
        return {
            "administrations": [administration_view(a) for a in admins if a.access],
            "ledgers": [{"id": x.id, "code": x.code, "name": x.name} for x in ledgers],
            "tenants": [{"id": t.id, "name": t.name} for t in tenants],
            "vat_codes": [
                {"code": t.code, "name": t.name, "rate": None if t.rate is None else str(t.rate)}
                for t in taxes
            ],
        }

    async def accounts(self, config_id: int) -> Sequence[dict[str, str]]:
        """The provider's chart for a configuration (its authorisation and tenant): the
        accounts a draft line or an account mapping may post to, by code."""
        cfg = await self.row(config_id)
        await active_authorisation(self._store, cfg.authorisation_id)
        try:
            known, _taxes = await self._pool.chart(cfg.authorisation_id, cfg.tenant_id)
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None
        return [{"code": code, "name": name} for code, name in sorted(known.items())]
