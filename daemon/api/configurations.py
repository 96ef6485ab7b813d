"""configurations.*: what to sync, where to, and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

import msgspec

from daemon.api.backend import ApiBackend, Ctx, Shaped
from daemon.api.shapes import Account, Configuration, ConfigurationOptions, Deleted
from daemon.model import Frequency
from daemon.rpc.errors import ValidationFailed
from daemon.rpc.registry import Registry
from daemon.rpc.wire import UNSET, Int64, Meta, Params, UnsetType, provided

registry: Registry[ApiBackend] = Registry()

Code = Annotated[str, Meta(max_length=64)]
AdministrationId = Annotated[str, Meta(max_length=100)]
LedgerId = Annotated[str, Meta(max_length=200)]
TenantId = Annotated[str, Meta(max_length=200)]
Schedule = Annotated[str, Meta(max_length=100)]
DelayDays = Annotated[int, Meta(ge=-1000, le=1000)]  # the rule (0..14) is ValidationFailed


class ById(Params):
    id: Int64


class Options(Params):
    authorisation_id: Int64


class ListParams(Params):
    authorisation_id: Int64 | None = None


class Create(Params):
    authorisation_id: Int64
    administration_id: AdministrationId
    frequency: Frequency
    ledger_id: LedgerId
    start_date: date
    end_date: date | None = None
    delay_days: DelayDays = 0
    automatic: bool = False
    tenant_id: TenantId | None = None
    activate: bool = False
    no_vat_code: Code | None = None
    account_map: dict[str, Code] = {}
    vat_map: dict[str, Code] = {}
    schedule: Schedule | None = None
    allow_duplicate_target: bool = False
    """Allow posting where another authorisation's active configuration posts too."""


class Update(Params):
    """Only the fields sent change; null clears the optional ones."""

    id: Int64
    administration_id: AdministrationId | UnsetType | None = UNSET
    frequency: Frequency | UnsetType | None = UNSET
    ledger_id: LedgerId | UnsetType | None = UNSET
    start_date: date | UnsetType | None = UNSET
    end_date: date | UnsetType | None = UNSET
    delay_days: DelayDays | UnsetType | None = UNSET
    automatic: bool | UnsetType | None = UNSET
    tenant_id: TenantId | UnsetType | None = UNSET
    no_vat_code: Code | UnsetType | None = UNSET
    account_map: dict[str, Code] | UnsetType | None = UNSET
    vat_map: dict[str, Code] | UnsetType | None = UNSET
    schedule: Schedule | UnsetType | None = UNSET
    allow_duplicate_target: bool | UnsetType = UNSET


NOT_NULLABLE = ("administration_id", "frequency", "ledger_id", "start_date", "delay_days",
                "automatic")  # fmt: skip


@registry.method(
    "configurations.options",
    summary="Live choices for the configuration form: administrations, ledgers, tenants, VAT codes",
    result=ConfigurationOptions,
)
async def options(ctx: Ctx, p: Options) -> Shaped:
    return await ctx.app.configurations.options(p.authorisation_id)


@registry.method(
    "configurations.accounts",
    summary="The provider's chart of accounts for a configuration, to pick a line's account",
    result=list[Account],
)
async def accounts(ctx: Ctx, p: ById) -> Sequence[Shaped]:
    return await ctx.app.configurations.accounts(p.id)


@registry.method("configurations.list", summary="Configurations", result=list[Configuration])
async def list_(ctx: Ctx, p: ListParams) -> Sequence[Shaped]:
    return await ctx.app.configurations.list(p.authorisation_id)


@registry.method("configurations.get", summary="One configuration", result=Configuration)
async def get(ctx: Ctx, p: ById) -> Shaped:
    return await ctx.app.configurations.get(p.id)


@registry.method("configurations.create", summary="Create a configuration", result=Configuration)
async def create(ctx: Ctx, p: Create) -> Shaped:
    return await ctx.app.configurations.create(msgspec.structs.asdict(p))


@registry.method(
    "configurations.update", summary="Change any field of a configuration", result=Configuration
)
async def update(ctx: Ctx, p: Update) -> Shaped:
    changes = provided(p)
    del changes["id"]

    nulls = [name for name in NOT_NULLABLE if name in changes and changes[name] is None]
    if nulls:
        raise ValidationFailed(
            "Some fields cannot be empty.",
            errors=[{"field": n, "message": "cannot be null"} for n in nulls],
        )
    return await ctx.app.configurations.update(p.id, changes)


@registry.method("configurations.delete", summary="Delete a configuration", result=Deleted)
async def delete(ctx: Ctx, p: ById) -> Shaped:
    return await ctx.app.configurations.delete(p.id)


@registry.method(
    "configurations.activate",
    summary="Activate: scheduled syncs start (the authorisation must be active)",
    result=Configuration,
)
async def activate(ctx: Ctx, p: ById) -> Shaped:
    return await ctx.app.configurations.set_active(p.id, True)


@registry.method(
    "configurations.deactivate", summary="Deactivate: no scheduled syncs", result=Configuration
)
async def deactivate(ctx: Ctx, p: ById) -> Shaped:
    return await ctx.app.configurations.set_active(p.id, False)
