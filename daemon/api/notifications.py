"""notifications.*: what happened, with a link to the entries overview."""

from __future__ import annotations

from collections.abc import Sequence

from daemon.api.backend import ApiBackend, Ctx, Shaped
from daemon.api.shapes import Notification, Updated
from daemon.rpc.errors import ValidationFailed
from daemon.rpc.registry import Registry
from daemon.rpc.wire import Int64, Params

registry: Registry[ApiBackend] = Registry()


class ListParams(Params):
    unread_only: bool = False


class MarkRead(Params):
    id: Int64 | None = None
    all: bool = False


@registry.method(
    "notifications.list", summary="Notifications, newest first", result=list[Notification]
)
async def list_(ctx: Ctx, p: ListParams) -> Sequence[Shaped]:
    return await ctx.app.notifications.list(p.unread_only)


@registry.method(
    "notifications.mark_read",
    summary="Mark one notification (id) or all of them read",
    result=Updated,
)
async def mark_read(ctx: Ctx, p: MarkRead) -> Shaped:
    if (p.id is None) == (not p.all):
        raise ValidationFailed(
            "Say which notification to mark read: an id, or all=true.",
            errors=[{"field": "id", "message": "give either id or all=true"}],
        )
    return {"updated": await ctx.app.notifications.mark_read(p.id, p.all)}
