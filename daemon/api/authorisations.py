"""authorisations.*: a named login at a provider, verified by activate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from daemon.api.backend import ApiBackend, Ctx, Shaped
from daemon.api.shapes import Authorisation, Deleted, LoginStarted
from daemon.rpc.registry import Registry
from daemon.rpc.wire import Int64, JSONObject, Meta, Params

registry: Registry[ApiBackend] = Registry()


class ById(Params):
    id: Int64


class Create(Params):
    name: Annotated[str, Meta(max_length=200)]
    provider: Annotated[str, Meta(max_length=50)]
    settings: JSONObject | None = None


class Complete(Params):
    id: Int64
    redirect_url: Annotated[str, Meta(max_length=8000)] | None = None
    code: Annotated[str, Meta(max_length=4000)] | None = None
    credentials: JSONObject | None = None


class Activate(Params):
    id: Int64
    tenant_id: Annotated[str, Meta(max_length=200)] | None = None


@registry.method("authorisations.list", summary="Every authorisation", result=list[Authorisation])
async def list_(ctx: Ctx) -> Sequence[Shaped]:
    return await ctx.app.authorisations.list()


@registry.method("authorisations.get", summary="One authorisation", result=Authorisation)
async def get(ctx: Ctx, p: ById) -> Shaped:
    return await ctx.app.authorisations.get(p.id)


@registry.method(
    "authorisations.create",
    summary="Create an authorisation and get the provider's login step",
    result=LoginStarted,
)
async def create(ctx: Ctx, p: Create) -> Shaped:
    return await ctx.app.authorisations.create(p.name, p.provider, p.settings)


@registry.method(
    "authorisations.login",
    summary="Log in again (a refused or expired login): the provider's login step, as for create",
    description="Then authorisations.complete with what the user brings back, and "
    "authorisations.activate to verify it; the old login stays until complete replaces it.",
    result=LoginStarted,
)
async def login(ctx: Ctx, p: ById) -> Shaped:
    return await ctx.app.authorisations.login(p.id)


@registry.method(
    "authorisations.complete",
    summary="Finish the login: the pasted redirect URL, a code, or the credentials form",
    result=Authorisation,
)
async def complete(ctx: Ctx, p: Complete) -> Shaped:
    return await ctx.app.authorisations.complete(p.id, p.redirect_url, p.code, p.credentials)


@registry.method(
    "authorisations.activate",
    summary="Verify the login against the provider now; active or error with the reason",
    result=Authorisation,
)
async def activate(ctx: Ctx, p: Activate) -> Shaped:
    return await ctx.app.authorisations.activate(p.id, p.tenant_id)


@registry.method(
    "authorisations.delete",
    summary="Delete an authorisation without configurations",
    result=Deleted,
)
async def delete(ctx: Ctx, p: ById) -> Shaped:
    return await ctx.app.authorisations.delete(p.id)
