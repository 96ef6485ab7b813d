"""Live progress of the runs in flight (pages fetched, the stage they are at), in memory: the
store keeps each state change, this keeps what changes too often to write down."""

from __future__ import annotations

import time
from typing import TypedDict


class Progress(TypedDict):
    stage: str
    done: int
    total: int | None


class LiveProgress:
    def __init__(self) -> None:
        self._runs: dict[int, Progress] = {}
        self._began: dict[int, float] = {}  # run id -> monotonic time its work began

    def get(self, run_id: int) -> Progress | None:
        return self._runs.get(run_id)

    def set(self, run_id: int, progress: Progress) -> None:
        self._runs[run_id] = progress

    def drop(self, run_id: int) -> None:
        self._runs.pop(run_id, None)

    def began(self, run_id: int) -> None:
        """The run's work begins now (it got one of the engine's slots)."""
        self._began[run_id] = time.monotonic()

    def take_duration(self, run_id: int) -> float | None:
        """Seconds since the run's work began, once (None if it never began)."""
        began = self._began.pop(run_id, None)
        return None if began is None else time.monotonic() - began
