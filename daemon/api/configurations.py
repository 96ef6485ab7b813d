"""configurations.*: what to sync, where to, and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from daemon.api.schemas import CONFIGURATION, DELETED, array, obj
from daemon.model import Frequency
from daemon.rpc.errors import ValidationFailed
from daemon.rpc.params import MaxLen, Range, provided_fields
from daemon.rpc.registry import CallContext, Registry

registry = Registry()

Code = Annotated[str, MaxLen(64)]


@dataclass
class ById:
    id: int


@dataclass
class Options:
    authorisation_id: int


@dataclass
class ListParams:
    authorisation_id: int | None = None


@dataclass
class Create:
    authorisation_id: int
    administration_id: Annotated[str, MaxLen(100)]
    frequency: Frequency
    ledger_id: Annotated[str, MaxLen(200)]
    start_date: date
    end_date: date | None = None
    delay_days: Annotated[int, Range(-1000, 1000)] = 0
    automatic: bool = False
    tenant_id: Annotated[str, MaxLen(200)] | None = None
    activate: bool = False
    no_vat_code: Code | None = None
    account_map: dict[str, Code] = field(default_factory=dict)
    vat_map: dict[str, Code] = field(default_factory=dict)
    schedule: Annotated[str, MaxLen(100)] | None = None


@dataclass
class Update:
    id: int
    administration_id: Annotated[str, MaxLen(100)] | None = None
    frequency: Frequency | None = None
    ledger_id: Annotated[str, MaxLen(200)] | None = None
    start_date: date | None = None
    end_date: date | None = None
    delay_days: Annotated[int, Range(-1000, 1000)] | None = None
    automatic: bool | None = None
    tenant_id: Annotated[str, MaxLen(200)] | None = None
    no_vat_code: Code | None = None
    account_map: dict[str, Code] | None = None
    vat_map: dict[str, Code] | None = None
    schedule: Annotated[str, MaxLen(100)] | None = None


NOT_NULLABLE = ("administration_id", "frequency", "ledger_id", "start_date", "delay_days",
                "automatic")  # fmt: skip


@registry.method(
    "configurations.options",
    summary="Live choices for the configuration form: administrations, ledgers, tenants, VAT codes",
    result=obj({"administrations": array(obj({})), "ledgers": array(obj({}))}),
)
async def options(ctx: CallContext, p: Options) -> dict[str, Any]:
    return await ctx.app.configurations.options(p.authorisation_id)


@registry.method("configurations.list", summary="Configurations", result=array(CONFIGURATION))
async def list_(ctx: CallContext, p: ListParams) -> list[dict[str, Any]]:
    return await ctx.app.configurations.list(p.authorisation_id)


@registry.method("configurations.get", summary="One configuration", result=CONFIGURATION)
async def get(ctx: CallContext, p: ById) -> dict[str, Any]:
    return await ctx.app.configurations.get(p.id)


@registry.method("configurations.create", summary="Create a configuration", result=CONFIGURATION)
async def create(ctx: CallContext, p: Create) -> dict[str, Any]:
    return await ctx.app.configurations.create(dict(vars(p)))


@registry.method(
    "configurations.update", summary="Change any field of a configuration", result=CONFIGURATION
)
async def update(ctx: CallContext, p: Update) -> dict[str, Any]:
    given = provided_fields(p) - {"id"}
    changes = {name: getattr(p, name) for name in given}

    nulls = [name for name in NOT_NULLABLE if name in changes and changes[name] is None]
    if nulls:
        raise ValidationFailed(
            "Some fields cannot be empty.",
            errors=[{"field": n, "message": "cannot be null"} for n in nulls],
        )
    return await ctx.app.configurations.update(p.id, changes)


@registry.method("configurations.delete", summary="Delete a configuration", result=DELETED)
async def delete(ctx: CallContext, p: ById) -> dict[str, Any]:
    return await ctx.app.configurations.delete(p.id)


@registry.method(
    "configurations.activate",
    summary="Activate: scheduled syncs start (the authorisation must be active)",
    result=CONFIGURATION,
)
async def activate(ctx: CallContext, p: ById) -> dict[str, Any]:
    return await ctx.app.configurations.set_active(p.id, True)


@registry.method(
    "configurations.deactivate", summary="Deactivate: no scheduled syncs", result=CONFIGURATION
)
async def deactivate(ctx: CallContext, p: ById) -> dict[str, Any]:
    return await ctx.app.configurations.set_active(p.id, False)
