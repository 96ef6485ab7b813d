"""A sync run's life: created (queued), fetching, building, then posting or settled; cancelled
by the user or by a stop. The steps are the other engine modules; this one holds the runs in
flight, their concurrency, and who may still cancel them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from daemon.engine import recovery
from daemon.engine.building import DraftBuilder
from daemon.engine.choosing import choose_period
from daemon.engine.corrections import Corrections, source_lines
from daemon.engine.drafts import Drafts
from daemon.engine.outcomes import Outcomes
from daemon.engine.posting import Posting
from daemon.engine.tracking import RunInFlight, RunTracker
from daemon.entry_builder import Draft
from daemon.errors import Conflict, ValidationFailed
from daemon.followups import FollowUps
from daemon.formats import Clock
from daemon.model import ACTIVE_RUN_STATES, INTERRUPTED_KIND
from daemon.periods import Period
from daemon.progress import LiveProgress
from daemon.services.access import require_access
from daemon.services.authorisations import active_authorisation
from daemon.services.configurations import find_configuration
from daemon.services.runs import Runs
from daemon.store.errors import AlreadySynced, Duplicate, StoreUnavailable
from daemon.store.interface import Store
from daemon.store.records import Configuration, JsonObject
from providers.base import JournalEntry
from providers.errors import ProviderError

log = logging.getLogger("bexsync.engine")

INTERRUPTED = "interrupted: the daemon shut down before posting; nothing was posted"


class RunCancelled(Exception):
    pass


class SyncEngine:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        runs: Runs,
        progress: LiveProgress,
        tracker: RunTracker,
        builder: DraftBuilder,
        drafts: Drafts,
        corrections: Corrections,
        posting: Posting,
        outcomes: Outcomes,
        followups: FollowUps,
        max_concurrent: int = 4,
    ) -> None:
        self._store = store
        self._clock = clock
        self._runs = runs
        self._live = progress
        self._tracker = tracker
        self._builder = builder
        self._drafts = drafts
        self._corrections = corrections
        self._posting = posting
        self._outcomes = outcomes
        self._followups = followups
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        # Runs that may still be cancelled: queued, fetching or building. A run leaves this set,
        # with no await in between, as it starts posting or recording its outcome; the stop and
        # the user's cancel decide from it, never from a database read that may be stale.
        self._cancellable: set[int] = set()
        self._shutting_down = False
        self._creating: set[asyncio.Future[int]] = set()

    # -- starting and cancelling runs ------------------------------------------------------
    async def start(
        self,
        config_id: int,
        key: str | None,
        *,
        draft_id: int | None = None,
        trigger: str = "manual",
        force: bool = False,
        early: bool = False,
    ) -> int:
        cfg = await find_configuration(self._store, config_id)
        await active_authorisation(self._store, cfg.authorisation_id)
        require_access(cfg)
        if draft_id is not None:
            draft = await self._drafts.record(draft_id)
            if draft.configuration_id != config_id:
                raise ValidationFailed(
                    f"Draft {draft_id} belongs to another configuration.",
                    errors=[{"field": "draft_id", "message": "not a draft of this configuration"}],
                )
            if draft.status != "open":
                raise Conflict(f"Draft {draft_id} was already {draft.status}; preview again.")
            if draft.data.get("kind") != "correction" and await self._store.periods.done(
                config_id
            ) >= {draft.period}:
                raise Conflict(
                    f"Period {draft.period} was posted after draft {draft_id} was made; preview "
                    "it again to see the correction of what changed since."
                )
            if key is not None and key != draft.period:
                raise ValidationFailed(
                    "The draft is for another period.",
                    errors=[{"field": "period", "message": f"the draft is for {draft.period}"}],
                )
            key = draft.period
        done = await self._store.periods.done(cfg.id) if key is None else set()
        period = choose_period(cfg, key, now=self._clock(), done=done, for_run=True, early=early)
        if self._shutting_down:
            raise Conflict("The daemon is stopping; start the sync again once it is back.")
        # Stored and given its task as one step that a cancelled caller (the scheduler, as the
        # daemon stops) cannot interrupt in between: a stored run always has its task.
        creating = asyncio.ensure_future(self._create(config_id, period, trigger, draft_id, force))
        self._creating.add(creating)
        creating.add_done_callback(self._creating.discard)
        return await asyncio.shield(creating)

    async def _create(
        self, config_id: int, period: Period, trigger: str, draft_id: int | None, force: bool
    ) -> int:
        try:
            run_id = await self._store.runs.queue(
                config_id, period.key, trigger=trigger, draft_id=draft_id, allow_correction=force
            )
        except AlreadySynced:
            raise Conflict(
                f"Period {period.key} is already synced. To post a correcting entry for "
                "what changed since, run it again with force=true.",
                details={"period": period.key},
            ) from None
        except Duplicate:
            active = await self._store.runs.active(config_id)
            raise Conflict(
                "A sync of this configuration is already running"
                + (f" (run {active.id}, period {active.period})." if active else "."),
                details={"run_id": active.id if active else None},
            ) from None
        self._spawn(run_id)
        return run_id

    def _spawn(self, run_id: int) -> None:
        task = asyncio.create_task(self._perform(run_id), name=f"run-{run_id}")
        self._tasks[run_id] = task
        self._cancellable.add(run_id)

        def done(_task: asyncio.Task[None]) -> None:
            self._tasks.pop(run_id, None)
            self._cancellable.discard(run_id)

        task.add_done_callback(done)

    def running_count(self) -> int:
        return len(self._tasks)

    async def cancel(self, run_id: int) -> dict[str, Any]:
        row = await self._runs.record(run_id)
        if row.state not in ACTIVE_RUN_STATES:
            raise Conflict(f"Run {run_id} is already {row.state}.")
        if row.state == "posting":
            raise Conflict(
                f"Run {run_id} is posting to the provider; it cannot be cancelled safely now."
            )
        task = self._tasks.get(run_id)
        if task is not None and run_id not in self._cancellable:
            raise Conflict(f"Run {run_id} is already posting or settling; it cannot be cancelled.")
        if task is not None:
            task.cancel(RunCancelled("cancelled by the user"))
            with contextlib.suppress(asyncio.CancelledError, RunCancelled):
                await task
        await self._settle_cancelled(run_id, "cancelled by the user")
        return await self._runs.get(run_id)

    async def _settle_cancelled(self, run_id: int, reason: str, kind: str | None = None) -> None:
        """Record a cancelled run that its task did not (one cancelled before its first step,
        or a run with no task at all); a run that reached posting is left to recovery."""
        row = await self._runs.record(run_id)
        if row.state in ACTIVE_RUN_STATES - {"posting"}:
            await self._fail(run_id, "cancelled", reason, None, kind=kind)

    # -- executing -------------------------------------------------------------------------
    async def _perform(self, run_id: int) -> None:
        run = RunInFlight.of(await self._runs.record(run_id))
        try:
            async with self._slots:
                self._live.began(run_id)
                await self._run(run)
        except asyncio.CancelledError:
            if run.state == "posting":
                raise
            stopping = self._shutting_down
            reason = INTERRUPTED if stopping else "cancelled by the user"
            kind = INTERRUPTED_KIND if stopping else None
            with contextlib.suppress(Exception):
                await asyncio.shield(self._fail(run_id, "cancelled", reason, None, kind=kind))
            raise
        except ProviderError as exc:
            await self._fail(run_id, "failed", exc.message, exc)
        except Exception as exc:  # a bug must not kill the daemon; the run says what happened
            if run.state == "posting" and isinstance(exc, StoreUnavailable):
                # The provider may hold the entry already (e.g. the disk filled up while its
                # result was committed): not a failure; look it up again until it settles.
                log.warning(
                    "run %s: its posting could not be recorded (%s); looking it up at the "
                    "provider again in %g s",
                    run_id,
                    exc,
                    recovery.RECOVERY_RETRY,
                )
                self._followups.retry_recovery(run_id, recovery.RECOVERY_RETRY)
                return
            log.exception("run %s failed unexpectedly", run_id)
            await self._fail(run_id, "failed", f"internal error: {type(exc).__name__}", None)
        finally:
            self._live.drop(run_id)

    async def _run(self, run: RunInFlight) -> None:
        cfg = await find_configuration(self._store, run.configuration_id)
        period = Period.parse(cfg.frequency, run.period)
        ready = False  # a previewed correction: its lines are the difference already
        if run.draft_id is not None:
            await self._tracker.step(run, "building", "checking draft")
            stored = (await self._drafts.record(run.draft_id)).data
            draft = Draft.from_dict(stored)
            source = stored.get("source_lines")  # the PMS's lines before any hand edit
            ready = stored.get("kind") == "correction"
        else:
            await self._tracker.step(run, "fetching", "fetching transactions")
            draft = await self._builder.build(
                cfg, period, lambda n: self._tracker.report(run, "fetching transactions", n, None)
            )
            await self._tracker.step(run, "building", "building entry")
            source = source_lines(draft)
        corrects = None
        if run.kind == "correction":
            if ready:  # as previewed and perhaps edited; numbered as the next correction
                corrects = stored.get("corrects")
                draft = await self._corrections.as_correction(cfg, period, draft)
                nothing = not draft.lines
            else:
                found = await self._corrections.correction(cfg, period, draft)
                nothing = found is None
                if found is not None:
                    draft, base = found
                    corrects = base.corrects
            if nothing:
                self._cancellable.discard(run.id)
                await self._outcomes.unchanged(run.id, cfg, period.key)
                return
        if draft.errors or not draft.balanced:
            reasons = [e.message for e in draft.errors] or ["the entry does not balance"]
            message = "The entry cannot be posted: " + " ".join(reasons)
            await self._fail(run.id, "failed", message, None, kind="rejected")
            return
        if draft.is_empty:
            self._cancellable.discard(run.id)
            run.state = "posted"
            await self._outcomes.empty(run.id)
            return
        snapshot = {"source_lines": source, "corrects": corrects}
        await self._post(run, cfg, draft.to_journal_entry(), snapshot)

    async def _post(
        self, run: RunInFlight, cfg: Configuration, entry: JournalEntry, snapshot: JsonObject
    ) -> None:
        self._cancellable.discard(run.id)  # from here on a stop lets the run finish
        await self._posting.post(run, cfg, entry, snapshot)

    async def _fail(
        self,
        run_id: int,
        state: str,
        message: str,
        error: ProviderError | None,
        *,
        kind: str | None = None,
    ) -> None:
        self._cancellable.discard(run_id)
        await self._outcomes.failed(run_id, state, message, error, kind=kind)

    # -- stopping --------------------------------------------------------------------------
    async def shutdown(self, timeout: float = 20.0) -> None:
        """Let posting runs finish; cancel the rest (they are recorded as interrupted).

        A run already settled is only logging its outcome and announcing it: that finishes too,
        so no settled run goes without its one outcome line and its ``sync.finished`` event.
        """
        self._shutting_down = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._creating:  # a run being stored gets its task first, then is cancelled below
            await asyncio.wait(list(self._creating), timeout=timeout)
        cancelled = {
            run_id: task for run_id, task in self._tasks.items() if run_id in self._cancellable
        }
        for task in cancelled.values():
            task.cancel()
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(0.1, deadline - loop.time()))
        for run_id, task in cancelled.items():
            if task.done():
                with contextlib.suppress(Exception):
                    await self._settle_cancelled(run_id, INTERRUPTED, INTERRUPTED_KIND)
