"""The scheduler: sleeps until the next due period, then starts its sync; catches up after downtime.

No polling loop: each pass computes the earliest future due time and sleeps until then or until
something changes (a configuration edit, a run finishing), whichever comes first. What follows a
finished run is decided here too: look a posting up again later, check an earlier period for
changes in the PMS once caught up, rewrite the metrics file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from daemon.background import Background
from daemon.errors import DaemonError
from daemon.followups import FollowUps
from daemon.formats import Clock, iso, parse_iso
from daemon.labels import configuration_label
from daemon.model import FINAL_RUN_STATES, INTERRUPTED_KIND
from daemon.periods import Period
from daemon.sdnotify import Notifier, status_line
from daemon.services.configurations import schedule_of
from daemon.store.interface import Store
from daemon.store.records import Configuration, Run

log = logging.getLogger("bexsync.scheduler")

RETRY_BACKOFF = (60, 300, 900, 3600)  # seconds after a retryable failure, then hourly
MAX_SLEEP = 6 * 3600.0  # re-plan at least this often (clock jumps, long DST gaps)


class RunStarter(Protocol):
    async def start(self, config_id: int, key: str | None, *, trigger: str = ...) -> int: ...

    def running_count(self) -> int: ...


class PostingRecovery(Protocol):
    async def recover_one(self, run_id: int) -> None: ...


class DriftCheck(Protocol):
    async def check_drift(self, config_id: int, key: str) -> dict[str, Any] | None: ...


class MetricsFile(Protocol):
    async def write_metrics(self, up: bool = True) -> None: ...


class Scheduler:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        runs: RunStarter,
        recovery: PostingRecovery,
        drift: DriftCheck,
        followups: FollowUps,
        background: Background,
        notifier: Notifier,
        metrics: MetricsFile | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._runs = runs
        self._recovery = recovery
        self._drift = drift
        self._followups = followups
        self._background = background
        self._notifier = notifier
        self._metrics = metrics
        self.next_wake: datetime | None = None
        self.next_item: tuple[int, str] | None = None  # (configuration id, period) due next
        self.next_label = ""  # how people see that configuration named
        self.passes = 0
        self._next_key = ""
        self._pms_connected_at: datetime | None = None
        self._unschedulable: set[int] = set()  # logged once each, until a pass handles it

    def wake(self) -> None:
        self._followups.wake()

    async def run_forever(self) -> None:
        """Plan, sleep until the next due time or a change, plan again; and meanwhile act on
        each follow-up as soon as it is posted."""
        follow_ups = asyncio.create_task(self._follow_up_forever(), name="follow-ups")
        try:
            while True:
                try:
                    delay = await self.plan()
                except Exception:
                    log.exception("scheduling pass failed; retrying in a minute")
                    delay = 60.0
                self.announce()
                await self._followups.changed(delay)
        finally:
            follow_ups.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow_ups

    async def _follow_up_forever(self) -> None:
        while True:
            self.follow_up()
            await self._followups.posted(self._followups.next_recovery_in())

    def announce(self) -> None:
        """Tell systemd (``systemctl status``) what is due next and how many runs go on."""
        if not self._notifier.enabled:
            return
        nxt, item = self.next_wake, self.next_item
        runs = []
        if nxt is not None and item is not None:
            runs = [
                {
                    "configuration_id": item[0],
                    "label": self.next_label,
                    "period": item[1],
                    "due_at": iso(nxt),
                }
            ]
        running = self._runs.running_count()
        self._notifier.status(status_line(runs) + (f"; {running} running" if running else ""))

    # -- after a run ---------------------------------------------------------------------
    def follow_up(self) -> None:
        """What the finished runs and the deferred postings ask for, in the background."""
        finished = self._followups.take_finished()
        for run in finished:
            if run.state == "posted" and run.kind == "entry" and run.trigger == "schedule":
                self._background.spawn(self._drift_after(run), f"drift-{run.id}")
        if finished and self._metrics is not None:
            self._background.spawn(self._metrics.write_metrics(), "metrics")
        for run_id in self._followups.take_due_recoveries():
            self._background.spawn(self._recovery.recover_one(run_id), f"recover-{run_id}")

    async def _drift_after(self, run: Run) -> None:
        """Once caught up, look whether the period before the last one changed in the PMS.

        Not during a catch-up: each check re-fetches a whole period, and the PMS's rate limit is
        better spent on the periods still waiting.
        """
        cfg = await self._store.configurations.get(run.configuration_id)
        if cfg is None:
            return
        done = await self._store.periods.done(cfg.id)
        nxt = schedule_of(cfg).next_due(self._clock(), done)
        if nxt is not None and nxt[1] <= self._clock():
            return
        previous = Period.parse(cfg.frequency, run.period).prev().key
        try:
            await self._drift.check_drift(cfg.id, previous)
        except Exception as exc:  # a failed check is retried after the next posting
            log.info("drift check of configuration %s %s skipped: %s", cfg.id, previous, exc)

    # -- planning ------------------------------------------------------------------------
    async def plan(self) -> float:
        """Start what is due now; return seconds until the next thing becomes due."""
        self.passes += 1
        now = self._clock()
        configs = await self._store.configurations.schedulable()
        pms = await self._store.pms.get()
        connected = pms is not None and pms.status == "connected"
        self._pms_connected_at = parse_iso(pms.updated_at) if pms and connected else None
        earliest: datetime | None = None
        self.next_item = None
        for cfg in configs:
            try:
                when = await self._consider(cfg, now)
            except Exception:  # one row it cannot handle must not stop the others
                if cfg.id not in self._unschedulable:
                    log.exception("configuration %s left aside: it cannot be scheduled", cfg.id)
                self._unschedulable.add(cfg.id)
                continue
            self._unschedulable.discard(cfg.id)
            if when is not None and (earliest is None or when < earliest):
                earliest = when
                self.next_item = (cfg.id, self._next_key)
                self.next_label = configuration_label(cfg)
        self.next_wake = earliest
        if earliest is None:
            return MAX_SLEEP
        return max(0.0, min(MAX_SLEEP, (earliest - now).total_seconds()))

    async def _consider(self, cfg: Configuration, now: datetime) -> datetime | None:
        """Start the oldest due period of one configuration; say when to look again."""
        if await self._store.runs.active(cfg.id) is not None:
            return None  # its finish wakes us
        done = await self._store.periods.done(cfg.id)
        nxt = schedule_of(cfg).next_due(now, done)
        if nxt is None:
            return None
        period, due_at = nxt
        self._next_key = period.key
        if due_at > now:
            return due_at
        last = await self._store.runs.latest_for_period(cfg.id, period.key)
        if last is not None and last.state in FINAL_RUN_STATES - {"posted"}:
            retry_at = self._retry_at(last, cfg)
            if retry_at is None:
                return None  # waits for a human: a new config edit or a manual run
            if retry_at > now:
                return retry_at
        try:
            await self._runs.start(cfg.id, period.key, trigger="schedule")
        except DaemonError as exc:
            log.warning("configuration %s period %s not started: %s", cfg.id, period.key, exc)
            return now + timedelta(seconds=RETRY_BACKOFF[-1])
        return None

    def _retry_at(self, run: Run, cfg: Configuration) -> datetime | None:
        """When a period whose last run did not post gets its next run; None: a human decides.

        The rule: a due period without a posted entry and without a user's decision gets a run.
        A user's decision is a run the user cancelled, or one that needs review (it may have
        reached the ledger); a stopped or crashed run is run again at once, a refused login
        after a new one, and every other failure after a growing pause.
        """
        finished = parse_iso(run.finished_at or run.created_at)
        edited = parse_iso(cfg.updated_at)
        if edited > finished:
            return edited  # the user changed something: try again now
        if run.error_kind == INTERRUPTED_KIND:
            return finished
        if run.state in ("needs_review", "cancelled"):
            return None
        if run.error_kind == "auth_expired":
            return self._login_renewed_after(finished, cfg)
        step = RETRY_BACKOFF[min(max(run.attempts, 1), len(RETRY_BACKOFF)) - 1]
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
