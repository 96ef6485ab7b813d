"""What the scheduler is asked to look at: something changed (wake up and plan again), a run
finished, a run's posting must be looked up again later. The engine and the services only
post here; the scheduler alone decides what follows (``daemon.scheduler``)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from daemon.store.records import Run


class FollowUps:
    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._finished: list[Run] = []
        self._recoveries: dict[int, float] = {}  # run id -> monotonic time to look again

    def wake(self) -> None:
        """Something the plan depends on changed (a configuration, a login, the PMS)."""
        self._changed.set()

    def run_finished(self, run: Run) -> None:
        self._finished.append(run)
        self._changed.set()

    def retry_recovery(self, run_id: int, delay: float) -> None:
        """Look the posting of ``run_id`` up again in ``delay`` seconds (monotonic time: a
        frozen test clock does not hold it back)."""
        self._recoveries[run_id] = time.monotonic() + delay
        self._changed.set()

    def take_finished(self) -> list[Run]:
        finished, self._finished = self._finished, []
        return finished

    def take_due_recoveries(self) -> list[int]:
        now = time.monotonic()
        due = [run_id for run_id, at in self._recoveries.items() if at <= now]
        for run_id in due:
            del self._recoveries[run_id]
        return due

    def next_recovery_in(self) -> float | None:
        if not self._recoveries:
            return None
        return max(0.0, min(self._recoveries.values()) - time.monotonic())

    async def wait(self, timeout: float) -> None:
        """Until something is posted here, or ``timeout`` seconds."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation that lands
        # as the wake-up does, and the daemon's stop then waited for the next plan (hours).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()

    def clear(self) -> None:
        self._changed.clear()
