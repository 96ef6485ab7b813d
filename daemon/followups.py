"""What the scheduler is asked to look at: something changed (plan again), a run finished, a
run's posting must be looked up again later. The engine and the services only post here; the
scheduler alone decides what follows (``daemon.scheduler``)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from daemon.store.records import Run


class FollowUps:
    def __init__(self) -> None:
        self._changed = asyncio.Event()  # for the planning loop
        self._posted = asyncio.Event()  # for the follow-up loop
        self._finished: list[Run] = []
        self._recoveries: dict[int, float] = {}  # run id -> monotonic time to look again

    # -- what the engine and the services post -------------------------------------------
    def wake(self) -> None:
        """Something the plan depends on changed (a configuration, a login, the PMS)."""
        self._changed.set()

    def run_finished(self, run: Run) -> None:
        self._finished.append(run)
        self._posted.set()
        self._changed.set()

    def retry_recovery(self, run_id: int, delay: float) -> None:
        """Look the posting of ``run_id`` up again in ``delay`` seconds (monotonic time: a
        frozen test clock does not hold it back)."""
        self._recoveries[run_id] = time.monotonic() + delay
        self._posted.set()

    # -- what the scheduler takes --------------------------------------------------------
    def recovering(self) -> list[int]:
        """Runs whose posting waits to be looked up again (its result could not be recorded)."""
        return list(self._recoveries)

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

    async def changed(self, timeout: float) -> None:
        """Until something the plan depends on changes, or ``timeout`` seconds; then clear."""
        await _wait(self._changed, timeout)
        self._changed.clear()

    async def posted(self, timeout: float | None) -> None:
        """Until a follow-up is posted, or ``timeout`` seconds (None: no limit); then clear."""
        await _wait(self._posted, timeout)
        self._posted.clear()


async def _wait(event: asyncio.Event, timeout: float | None) -> None:
    # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation that lands as the
    # wake-up does, and the daemon's stop then waited for the next plan (hours).
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
