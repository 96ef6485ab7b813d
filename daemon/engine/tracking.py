"""A run in flight as the engine follows it: its state moves on in the store, its progress is
announced (``sync.progress``) and kept in memory for ``syncs.get``."""

from __future__ import annotations

from dataclasses import dataclass

from daemon.progress import LiveProgress, Progress
from daemon.publisher import EventPublisher
from daemon.store.interface import Store
from daemon.store.records import Run


@dataclass
class RunInFlight:
    id: int
    configuration_id: int
    period: str
    kind: str
    state: str
    draft_id: int | None

    @classmethod
    def of(cls, run: Run) -> RunInFlight:
        return cls(run.id, run.configuration_id, run.period, run.kind, run.state, run.draft_id)


class RunTracker:
    def __init__(self, *, store: Store, progress: LiveProgress, events: EventPublisher) -> None:
        self._store = store
        self._live = progress
        self._events = events

    def report(self, run: RunInFlight, stage: str, done: int, total: int | None) -> None:
        progress: Progress = {"stage": stage, "done": done, "total": total}
        self._live.set(run.id, progress)
        self._events.publish(
            "sync.progress",
            {
                "run_id": run.id,
                "configuration_id": run.configuration_id,
                "period": run.period,
                "state": run.state,
                **progress,
            },
        )

    async def step(self, run: RunInFlight, state: str, stage: str | None = None) -> None:
        """The run moves on (fetching, building): stored, then announced."""
        run.state = state
        await self._store.runs.set_state(run.id, state, stage)
        progress = self._live.get(run.id)
        done, total = (progress["done"], progress["total"]) if progress else (0, None)
        self.report(run, stage or state, done, total)
