"""daemon.*, providers.*, pms.* and administrations.*: the daemon and its PMS side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from daemon.api.schemas import ADMINISTRATION, INT, STR, array, obj
from daemon.rpc.params import MaxLen
from daemon.rpc.registry import CallContext, Registry

registry = Registry()


@dataclass
class Hello:
    client: Annotated[str, MaxLen(200)] | None = None
    version: Annotated[str, MaxLen(50)] | None = None


@registry.method(
    "daemon.hello",
    summary="Introduce a client; learn the API and server versions",
    result=obj({"api_version": STR, "server_version": STR, "instance_id": STR}),
)
async def hello(ctx: CallContext, p: Hello) -> dict[str, Any]:
    return ctx.app.hello()


@registry.method(
    "daemon.status",
    summary="Daemon health, counts, next due runs and what needs attention",
    result=obj({"version": STR, "uptime_s": INT, "next_runs": array(obj({}))}),
)
async def status(ctx: CallContext) -> dict[str, Any]:
    return await ctx.app.status()


@registry.method(
    "providers.list",
    summary="Every provider id with its route, login kinds and capabilities",
    result=array(obj({"id": STR, "title": STR, "route": STR})),
)
async def providers_list(ctx: CallContext) -> list[dict[str, Any]]:
    return ctx.app.providers_list()


@dataclass
class PmsConnect:
    kind: Literal["bex"] = "bex"
    base_url: Annotated[str, MaxLen(500)] | None = None
    api_key: Annotated[str, MaxLen(500)] | None = None


@registry.method(
    "pms.get",
    summary="The PMS connection (never its key)",
    result=obj({"kind": STR, "status": STR}),
)
async def pms_get(ctx: CallContext) -> dict[str, Any]:
    return await ctx.app.administrations.pms_get()


@registry.method(
    "pms.connect",
    summary="Connect to the PMS: verify the key, then load its administrations",
    result=obj({"kind": STR, "status": STR}),
)
async def pms_connect(ctx: CallContext, p: PmsConnect) -> dict[str, Any]:
    return await ctx.app.administrations.pms_connect(p.base_url, p.api_key)


@registry.method(
    "administrations.list",
    summary="Administrations the PMS lists, with bexsync's access flag",
    result=array(ADMINISTRATION),
)
async def administrations_list(ctx: CallContext) -> list[dict[str, Any]]:
    return await ctx.app.administrations.list()


@dataclass
class SetAccess:
    id: Annotated[str, MaxLen(100)]
    access: bool


@registry.method(
    "administrations.set_access",
    summary="Tick or untick bexsync's access to an administration",
    result=ADMINISTRATION,
)
async def administrations_set_access(ctx: CallContext, p: SetAccess) -> dict[str, Any]:
    return await ctx.app.administrations.set_access(p.id, p.access)
