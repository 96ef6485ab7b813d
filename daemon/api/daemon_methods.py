"""daemon.*, providers.*, pms.* and administrations.*: the daemon and its PMS side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from daemon.api.backend import ApiBackend, Ctx, Shaped
from daemon.api.shapes import Administration, Hello, PmsConnection, ProviderInfo, Status
from daemon.model import PmsAuth
from daemon.rpc.registry import Registry
from daemon.rpc.wire import Meta, Params

registry: Registry[ApiBackend] = Registry()


class HelloParams(Params):
    client: Annotated[str, Meta(max_length=200)] | None = None
    version: Annotated[str, Meta(max_length=50)] | None = None


@registry.method(
    "daemon.hello",
    summary="Introduce a client; learn the API and server versions",
    result=Hello,
)
async def hello(ctx: Ctx, p: HelloParams) -> Shaped:
    return ctx.app.report.hello()


@registry.method(
    "daemon.status",
    summary="Daemon health, counts, next due runs and what needs attention",
    result=Status,
)
async def status(ctx: Ctx) -> Shaped:
    return await ctx.app.report.status()


@registry.method(
    "providers.list",
    summary="Every provider id with its route, login kinds and capabilities",
    result=list[ProviderInfo],
)
async def providers_list(ctx: Ctx) -> Sequence[Shaped]:
    return ctx.app.provider_settings.catalog()


class PmsConnect(Params):
    kind: Literal["bex"] = "bex"
    base_url: Annotated[str, Meta(max_length=500)] | None = None
    # "api_key" (the default) verifies the key now; "oauth" starts a login: pms.complete ends it
    auth: PmsAuth | None = None
    api_key: Annotated[str, Meta(max_length=500)] | None = None


class PmsComplete(Params):
    redirect_url: Annotated[str, Meta(max_length=8000)] | None = None
    code: Annotated[str, Meta(max_length=4000)] | None = None


@registry.method(
    "pms.get",
    summary="The PMS connection: how it logs in and its status (never a key or token)",
    result=PmsConnection,
)
async def pms_get(ctx: Ctx) -> Shaped:
    return await ctx.app.administrations.pms_get()


@registry.method(
    "pms.connect",
    summary="Connect to the PMS: verify an API key and load its administrations, or start an "
    'OAuth login (auth "oauth": next_step.kind open_url, then pms.complete)',
    result=PmsConnection,
)
async def pms_connect(ctx: Ctx, p: PmsConnect) -> Shaped:
    return await ctx.app.administrations.pms_connect(p.base_url, p.api_key, p.auth)


@registry.method(
    "pms.complete",
    summary="Finish the PMS OAuth login: the pasted redirect URL (or the code); the tokens are "
    "stored sealed and the administrations loaded",
    result=PmsConnection,
)
async def pms_complete(ctx: Ctx, p: PmsComplete) -> Shaped:
    return await ctx.app.administrations.pms_complete(p.redirect_url, p.code)


@registry.method(
    "administrations.list",
    summary="Administrations the PMS lists, with bexsync's access flag",
    result=list[Administration],
)
async def administrations_list(ctx: Ctx) -> Sequence[Shaped]:
    return await ctx.app.administrations.list()


class SetAccess(Params):
    id: Annotated[str, Meta(max_length=100)]
    access: bool


@registry.method(
    "administrations.set_access",
    summary="Tick or untick bexsync's access to an administration",
    result=Administration,
)
async def administrations_set_access(ctx: Ctx, p: SetAccess) -> Shaped:
    return await ctx.app.administrations.set_access(p.id, p.access)
