"""Sync runs as the RPC API shows them: stored state, with live progress while they run."""

from __future__ import annotations

from typing import Any

from daemon.errors import NotFound
from daemon.model import ACTIVE_RUN_STATES
from daemon.store.records import Run


def shape(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "configuration_id": run.configuration_id,
        "period": run.period,
        "kind": run.kind,
        "trigger": run.trigger,
        "state": run.state,
        "progress": {"stage": run.stage, "done": run.done, "total": run.total},
        "error": run.error,
        "error_kind": run.error_kind,
        "attempts": run.attempts,
        "draft_id": run.draft_id,
        "entry_id": run.entry_id,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


class Runs:
    def __init__(self, app: Any) -> None:
        self.app = app

    def shape(self, run: Run) -> dict[str, Any]:
        shaped = shape(run)
        live = self.app.engine.live_progress(run.id) if hasattr(self.app, "engine") else None
        if live is not None and run.state in ACTIVE_RUN_STATES:
            shaped["progress"] = live
        return shaped

    async def record(self, run_id: int) -> Run:
        run = await self.app.store.runs.get(run_id)
        if run is None:
            raise NotFound(f"No sync run with id {run_id}.")
        return run

    async def get(self, run_id: int) -> dict[str, Any]:
        return self.shape(await self.record(run_id))

    async def list(
        self, configuration_id: int | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        runs = await self.app.store.runs.recent(configuration_id, state, limit)
        return [self.shape(r) for r in runs]

    async def running(self) -> list[dict[str, Any]]:
        return [self.shape(r) for r in await self.app.store.runs.running()]
