"""The scheduler: sleeps until the next due period, then starts its sync; catches up after downtime.

No polling loop: each pass computes the earliest future due time and sleeps until then or until
something changes (a configuration edit, a run finishing), whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from daemon.errors import DaemonError
from daemon.formats import parse_iso
from daemon.services.configurations import schedule_of
from daemon.store.records import Configuration, Run

log = logging.getLogger("bexsync.scheduler")

RETRY_BACKOFF = (60, 300, 900, 3600)  # seconds after a retryable failure, then hourly
MAX_SLEEP = 6 * 3600.0  # re-plan at least this often (clock jumps, long DST gaps)


class Scheduler:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._wake = asyncio.Event()
        self.next_wake: datetime | None = None
        self.next_item: tuple[int, str] | None = None  # (configuration id, period) due next
        self.passes = 0
        self._next_key = ""
        self._pms_connected_at: datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.plan()
            except Exception:
                log.exception("scheduling pass failed; retrying in a minute")
                delay = 60.0
            self.app.scheduler_status_changed()
            # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation that lands
            # as the wake-up does, and the daemon's stop then waited for the next plan (hours).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def plan(self) -> float:
        """Start what is due now; return seconds until the next thing becomes due."""
        self.passes += 1
        now = self.app.clock()
        configs = await self.app.store.configurations.schedulable()
        pms = await self.app.store.pms.get()
        connected = pms is not None and pms.status == "connected"
        self._pms_connected_at = parse_iso(pms.updated_at) if pms and connected else None
        earliest: datetime | None = None
        self.next_item = None
        for cfg in configs:
            when = await self._consider(cfg, now)
            if when is not None and (earliest is None or when < earliest):
                earliest = when
                self.next_item = (cfg.id, self._next_key)
        self.next_wake = earliest
        if earliest is None:
            return MAX_SLEEP
        return max(0.0, min(MAX_SLEEP, (earliest - now).total_seconds()))

    async def _consider(self, cfg: Configuration, now: datetime) -> datetime | None:
        """Start the oldest due period of one configuration; say when to look again."""
        if await self.app.store.runs.active(cfg.id) is not None:
            return None  # its finish wakes us
        done = await self.app.store.periods.done(cfg.id)
        nxt = schedule_of(cfg).next_due(now, done)
        if nxt is None:
            return None
        period, due_at = nxt
        self._next_key = period.key
        if due_at > now:
            return due_at
        last = await self.app.store.runs.latest_for_period(cfg.id, period.key)
        if last is not None and last.state in ("failed", "needs_review", "cancelled"):
            retry_at = self._retry_at(last, cfg)
            if retry_at is None:
                return None  # waits for a human: a new config edit or a manual run
            if retry_at > now:
                return retry_at
        try:
            await self.app.engine.start(cfg.id, period.key, trigger="schedule")
        except DaemonError as exc:
            log.warning("configuration %s period %s not started: %s", cfg.id, period.key, exc)
            return now + timedelta(seconds=RETRY_BACKOFF[-1])
        return None

    def _retry_at(self, run: Run, cfg: Configuration) -> datetime | None:
        finished = parse_iso(run.finished_at or run.created_at)
        edited = parse_iso(cfg.updated_at)
        if edited > finished:
            return edited  # the user changed something: try again now
        if run.state != "needs_review" and run.error_kind == "auth_expired":
            return self._login_renewed_after(finished, cfg)
        if run.state == "needs_review" or run.error_kind not in ("rate_limited", "unavailable"):
            return None
        step = RETRY_BACKOFF[min(run.attempts, len(RETRY_BACKOFF)) - 1]
        return finished + timedelta(seconds=step)

    def _login_renewed_after(self, finished: datetime, cfg: Configuration) -> datetime | None:
        """A refused login (the PMS's or the provider's) waits for a new one, then retries.

        The scheduler only sees configurations whose authorisation is active, so a newer
        authorisation change means a fresh login; the PMS connection counts when connected.
        """
        renewed = [parse_iso(cfg.authorisation_updated_at)]
        if self._pms_connected_at is not None:
            renewed.append(self._pms_connected_at)
        latest = max(renewed)
        return latest if latest > finished else None
