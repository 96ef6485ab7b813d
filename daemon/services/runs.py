"""Sync runs as the RPC API shows them: stored state, with live progress while they run."""

from __future__ import annotations

import builtins
from typing import Any

from daemon.errors import NotFound
from daemon.model import ACTIVE_RUN_STATES
from daemon.progress import LiveProgress
from daemon.store.interface import Store
from daemon.store.records import Run
from daemon.views import run_view


class Runs:
    def __init__(self, *, store: Store, progress: LiveProgress) -> None:
        self._store = store
        self._progress = progress

    def shape(self, run: Run) -> dict[str, Any]:
        live = self._progress.get(run.id) if run.state in ACTIVE_RUN_STATES else None
        return run_view(run, dict(live) if live is not None else None)

    async def record(self, run_id: int) -> Run:
        run = await self._store.runs.get(run_id)
        if run is None:
            raise NotFound(f"No sync run with id {run_id}.")
        return run

    async def get(self, run_id: int) -> dict[str, Any]:
        return self.shape(await self.record(run_id))

    async def list(
        self, configuration_id: int | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        runs = await self._store.runs.recent(configuration_id, state, limit)
        return [self.shape(r) for r in runs]

    async def running(self) -> builtins.list[dict[str, Any]]:
        return [self.shape(r) for r in await self._store.runs.running()]
