"""syncs.*, drafts.* and entries.*: preview, correct, post, and the entries overview."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from daemon.api.backend import ApiBackend, Ctx, Shaped
from daemon.api.shapes import Draft, Entry, Run, RunStarted
from daemon.model import RunState
from daemon.rpc.registry import Registry
from daemon.rpc.wire import Int64, JSONObject, Meta, Params

registry: Registry[ApiBackend] = Registry()

PeriodKey = Annotated[str, Meta(max_length=10)]
Limit = Annotated[int, Meta(ge=1, le=1000)]


class Preview(Params):
    configuration_id: Int64
    period: PeriodKey | None = None


class Start(Params):
    configuration_id: Int64
    period: PeriodKey | None = None
    draft_id: Int64 | None = None
    force: bool = False
    early: bool = False
    """Post a period that is not due yet (the PMS may still add to it): the user confirmed."""


class ByRun(Params):
    run_id: Int64


class ListRuns(Params):
    configuration_id: Int64 | None = None
    state: RunState | None = None
    limit: Limit = 50


class DraftUpdate(Params):
    id: Int64
    lines: Annotated[list[JSONObject], Meta(max_length=2000)]


class DraftGet(Params):
    id: Int64


class ListEntries(Params):
    configuration_id: Int64 | None = None
    administration_id: Annotated[str, Meta(max_length=100)] | None = None
    period: PeriodKey | None = None
    limit: Limit = 100
    offset: Annotated[int, Meta(ge=0, le=10**9)] = 0


class EntryGet(Params):
    id: Int64


@registry.method(
    "syncs.preview",
    summary="Build a draft for a period (default: the oldest due one) without posting it",
    result=Draft,
)
async def preview(ctx: Ctx, p: Preview) -> Shaped:
    return await ctx.app.drafts.preview(p.configuration_id, p.period)


@registry.method(
    "syncs.run",
    summary="Start a sync now (a period, or a corrected draft); returns at once",
    description="force=true on an already posted period posts a correcting entry for the "
    "difference, never a duplicate. A period that is not due yet is refused with its due time "
    "unless early=true.",
    result=RunStarted,
)
async def run(ctx: Ctx, p: Start) -> Shaped:
    run_id = await ctx.app.engine.start(
        p.configuration_id,
        p.period,
        draft_id=p.draft_id,
        trigger="manual",
        force=p.force,
        early=p.early,
    )
    return {"run_id": run_id}


@registry.method("syncs.get", summary="One sync run with its live progress", result=Run)
async def get(ctx: Ctx, p: ByRun) -> Shaped:
    return await ctx.app.runs.get(p.run_id)


@registry.method("syncs.cancel", summary="Cancel a run that is not posting yet", result=Run)
async def cancel(ctx: Ctx, p: ByRun) -> Shaped:
    return await ctx.app.engine.cancel(p.run_id)


@registry.method("syncs.list", summary="Sync runs, newest first", result=list[Run])
async def list_(ctx: Ctx, p: ListRuns) -> Sequence[Shaped]:
    return await ctx.app.runs.list(p.configuration_id, p.state, p.limit)


@registry.method("drafts.get", summary="One draft", result=Draft)
async def draft_get(ctx: Ctx, p: DraftGet) -> Shaped:
    return await ctx.app.drafts.get(p.id)


@registry.method(
    "drafts.update",
    summary="Replace a draft's lines; the draft is re-validated (balance, known accounts)",
    result=Draft,
)
async def draft_update(ctx: Ctx, p: DraftUpdate) -> Shaped:
    return await ctx.app.drafts.update(p.id, p.lines)


@registry.method("entries.list", summary="Posted journal entries, newest first", result=list[Entry])
async def entries_list(ctx: Ctx, p: ListEntries) -> Sequence[Shaped]:
    return await ctx.app.entries.list(
        p.configuration_id, p.administration_id, p.period, p.limit, p.offset
    )


@registry.method("entries.get", summary="One journal entry with its lines", result=Entry)
async def entries_get(ctx: Ctx, p: EntryGet) -> Shaped:
    return await ctx.app.entries.get(p.id)
