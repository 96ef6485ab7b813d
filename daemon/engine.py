"""The sync engine: PMS transactions -> a draft -> exactly one posted entry per period.

Exactly once, across crashes (DESIGN.md): intent is committed before the provider call (run ->
``posting`` with its idempotency key and payload), the result right after (entry, period status,
run ``posted`` and notification in one transaction). On start-up a run left in ``posting`` is
resolved by looking its reference up, replaying with the same key, or handing it to a human.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from daemon.entry_builder import (
    BuildContext,
    Draft,
    DraftLine,
    EntryAccumulator,
    LinesInputError,
    parse_lines,
    reference_for,
)
from daemon.errors import Conflict, NotFound, ProviderFailure, ValidationFailed
from daemon.followups import FollowUps
from daemon.formats import Clock, dumps, iso
from daemon.logsetup import log_sync_outcome
from daemon.model import ACTIVE_RUN_STATES
from daemon.periods import Period
from daemon.progress import LiveProgress, Progress
from daemon.provider_pool import ProviderPool
from daemon.publisher import EventPublisher
from daemon.services.authorisations import AuthorisationStatus, active_authorisation
from daemon.services.configurations import find_configuration, schedule_of
from daemon.services.notifications import Notifications
from daemon.services.runs import Runs
from daemon.store.errors import AlreadySynced, Duplicate, StoreUnavailable
from daemon.store.interface import Store
from daemon.store.records import (
    Configuration,
    NewEntry,
    NewNotification,
    PostingRun,
    Run,
    StoredDraft,
)
from daemon.views import run_view
from providers.base import EntryLine, JournalEntry, PostedEntry, Provider
from providers.bex.client import BexClient
from providers.errors import ProviderError

log = logging.getLogger("bexsync.engine")
outcome_log = logging.getLogger("bexsync.daemon")  # one line per settled run (logsetup)

CENT = Decimal("0.01")
ZERO = Decimal("0")
POST_ATTEMPTS = 4
MAX_INLINE_WAIT = 60.0
REFERENCE_TTL = 300.0  # seconds PMS ledger accounts and VAT codes are reused
RECOVERY_RETRY = 30.0  # seconds before a run whose result could not be recorded is looked up again


class RunCancelled(Exception):
    pass


INTERRUPTED = "interrupted: the daemon shut down before posting; nothing was posted"


class PmsClients(Protocol):
    """Where the engine gets the one shared PMS client (``Administrations.pms_client``)."""

    async def pms_client(self) -> BexClient: ...


class SyncEngine:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        pool: ProviderPool,
        pms: PmsClients,
        runs: Runs,
        progress: LiveProgress,
        events: EventPublisher,
        notifications: Notifications,
        authorisation_status: AuthorisationStatus,
        followups: FollowUps,
        max_concurrent: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._clock = clock
        self._pool = pool
        self._pms = pms
        self._runs = runs
        self._live = progress
        self._events = events
        self._notifications = notifications
        self._authorisation_status = authorisation_status
        self._followups = followups
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        # Runs that may still be cancelled: queued, fetching or building. A run leaves this set,
        # with no await in between, as it starts posting or recording its outcome; the stop and
        # the user's cancel decide from it, never from a database read that may be stale.
        self._cancellable: set[int] = set()
        self._began: dict[int, float] = {}  # run id -> monotonic time its work began
        self.sleep = sleep
        self._shutting_down = False
        self._creating: set[asyncio.Future[int]] = set()
        self._pms_reference: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}

    # -- live progress ---------------------------------------------------------------------
    def _report(self, run: dict[str, Any], stage: str, done: int, total: int | None) -> None:
        progress: Progress = {"stage": stage, "done": done, "total": total}
        self._live.set(run["id"], progress)
        self._events.publish(
            "sync.progress",
            {
                "run_id": run["id"],
                "configuration_id": run["configuration_id"],
                "period": run["period"],
                "state": run["state"],
                **progress,
            },
        )

    async def _set_state(self, run: dict[str, Any], state: str, stage: str | None = None) -> None:
        run["state"] = state
        await self._store.runs.set_state(run["id"], state, stage)
        progress = self._live.get(run["id"])
        done, total = (progress["done"], progress["total"]) if progress else (0, None)
        self._report(run, stage or state, done, total)

    # -- choosing the period ---------------------------------------------------------------
    async def _period(self, cfg: Configuration, key: str | None, *, for_run: bool) -> Period:
        schedule = schedule_of(cfg)
        now = self._clock()
        if key is None:
            done = await self._store.periods.done(cfg.id)
            due = next(iter(schedule.due_periods(now, done)), None)
            if due is not None:
                return due
            if for_run:
                nxt = schedule.next_due(now, done)
                when = f" The next one, {nxt[0].key}, is due at {iso(nxt[1])}." if nxt else ""
                raise ValidationFailed(
                    "No period of this configuration is due for a sync." + when,
                    errors=[{"field": "period", "message": "nothing is due; name a period"}],
                )
            last = schedule.last_due_period(now)
            if last is not None:
                return last
            return schedule.first_period()
        try:
            period = Period.parse(cfg.frequency, key)
        except ValueError as exc:
            raise ValidationFailed(
                f"{key!r} is not a period of this configuration.",
                errors=[{"field": "period", "message": str(exc)}],
            ) from None
        if not schedule.is_in_range(period):
            raise ValidationFailed(
                f"Period {key} is outside this configuration's start and end dates.",
                errors=[{"field": "period", "message": "outside the configuration's dates"}],
            )
        if for_run and schedule.due_at(period) > now:
            raise ValidationFailed(
                f"Period {key} is not due until {iso(schedule.due_at(period))}; "
                "a period is synced only after it ends (plus the delay).",
                errors=[{"field": "period", "message": "not due yet"}],
            )
        return period

    # -- building --------------------------------------------------------------------------
    async def build(
        self,
        cfg: Configuration,
        period: Period,
        on_progress: Callable[[int], None] | None = None,
    ) -> Draft:
        """Fetch the period's transactions page by page and build the draft."""
        tenant = cfg.tenant_id
        known_accounts, known_taxes = await self._pool.chart(cfg.authorisation_id, tenant)
        pms = await self._pms.pms_client()
        admin_id = cfg.administration_id
        accounts, vat_codes = await self._reference_data(pms, admin_id)
        ctx = BuildContext(
            configuration_id=cfg.id,
            period=period,
            administration_name=cfg.administration_name,
            currency=cfg.currency,
            ledger_id=cfg.ledger_id,
            tenant_id=tenant,
            accounts=accounts,
            vat_codes=vat_codes,
            account_map=cfg.account_map,
            vat_map=cfg.vat_map,
            no_vat_code=cfg.no_vat_code,
            known_accounts=known_accounts,
            known_tax_codes=known_taxes,
        )
        acc = EntryAccumulator(ctx)
        seen = 0
        pages = pms.iter_journal_transactions(
            admin_id,
            period.start,
            period.end,
            ledger_accounts=accounts.values(),
            vat_codes=vat_codes.values(),
        )
        async for page in pages:
            acc.add_many(page)
            seen += len(page)
            if on_progress is not None:
                on_progress(seen)
        return acc.finish()

    async def _reference_data(
        self, pms: Any, admin_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Ledger accounts and VAT codes change rarely; a catch-up must not re-fetch them per
        period and spend the PMS's rate limit (500 calls per 15 minutes) on it."""
        cached = self._pms_reference.get(admin_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        accounts = {a.id: a for a in await pms.list_ledger_accounts(admin_id)}
        vat_codes = {v.id: v for v in await pms.list_vat_codes(admin_id)}
        self._pms_reference[admin_id] = (time.monotonic() + REFERENCE_TTL, accounts, vat_codes)
        return accounts, vat_codes

    async def preview(self, config_id: int, key: str | None) -> dict[str, Any]:
        cfg = await find_configuration(self._store, config_id)
        await active_authorisation(self._store, cfg.authorisation_id)
        period = await self._period(cfg, key, for_run=False)
        try:
            draft = await self.build(cfg, period)
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None
        data = draft.as_dict()
        schedule = schedule_of(cfg)
        due = schedule.due_at(period)
        if due > self._clock():
            data["warnings"].append(
                {
                    "code": "not_due",
                    "message": f"Period {period.key} is not due until {iso(due)}: "
                    "the PMS may still add transactions to it.",
                    "details": {"due_at": iso(due)},
                }
            )
        posted = await self._posted_lines(config_id, period.key)
        if posted is not None:
            data["warnings"].append(
                {
                    "code": "already_posted",
                    "message": f"Period {period.key} is already posted; running it again "
                    "with force posts a correcting entry for the difference only.",
                    "details": {},
                }
            )
        draft_id = await self._store.drafts.create(config_id, period.key, data)
        return {"id": draft_id, **data}

    async def draft_row(self, draft_id: int) -> StoredDraft:
        draft = await self._store.drafts.get(draft_id)
        if draft is None:
            raise NotFound(f"No draft with id {draft_id}.")
        return draft

    async def get_draft(self, draft_id: int) -> dict[str, Any]:
        row = await self.draft_row(draft_id)
        return {"id": row.id, "status": row.status, **row.data}

    async def update_draft(self, draft_id: int, raw_lines: Any) -> dict[str, Any]:
        row = await self.draft_row(draft_id)
        if row.status != "open":
            raise Conflict(f"Draft {draft_id} was already {row.status}; preview again.")
        try:
            lines = parse_lines(raw_lines)
        except LinesInputError as exc:
            raise ValidationFailed("Some lines cannot be read.", errors=exc.errors) from None
        cfg = await find_configuration(self._store, row.configuration_id)
        try:
            known_accounts, known_taxes = await self._pool.chart(
                cfg.authorisation_id, cfg.tenant_id
            )
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None
        data = row.data
        extra = [w for w in data["warnings"] if w["code"] in ("not_due", "already_posted")]
        draft = Draft.from_dict(data).with_lines(
            _named(lines, known_accounts),
            known_accounts=known_accounts,
            known_tax_codes=known_taxes,
        )
        new = draft.as_dict()
        new["warnings"] += [w for w in extra if w not in new["warnings"]]
        await self._store.drafts.update(draft_id, new)
        return {"id": draft_id, "status": "open", **new}

    # -- starting and cancelling runs ------------------------------------------------------
    async def start(
        self,
        config_id: int,
        key: str | None,
        *,
        draft_id: int | None = None,
        trigger: str = "manual",
        force: bool = False,
    ) -> int:
        cfg = await find_configuration(self._store, config_id)
        await active_authorisation(self._store, cfg.authorisation_id)
        if draft_id is not None:
            draft = await self.draft_row(draft_id)
            if draft.configuration_id != config_id:
                raise ValidationFailed(
                    f"Draft {draft_id} belongs to another configuration.",
                    errors=[{"field": "draft_id", "message": "not a draft of this configuration"}],
                )
            if draft.status != "open":
                raise Conflict(f"Draft {draft_id} was already {draft.status}; preview again.")
            if key is not None and key != draft.period:
                raise ValidationFailed(
                    "The draft is for another period.",
                    errors=[{"field": "period", "message": f"the draft is for {draft.period}"}],
                )
            key = draft.period
        period = await self._period(cfg, key, for_run=True)
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
        task = asyncio.create_task(self._execute(run_id), name=f"run-{run_id}")
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

    async def _settle_cancelled(self, run_id: int, reason: str) -> None:
        """Record a cancelled run that its task did not (one cancelled before its first step,
        or a run with no task at all); a run that reached posting is left to recovery."""
        row = await self._runs.record(run_id)
        if row.state in ACTIVE_RUN_STATES - {"posting"}:
            await self._finish_failed(run_id, "cancelled", reason, None)

    # -- executing -------------------------------------------------------------------------
    async def _execute(self, run_id: int) -> None:
        row = await self._runs.record(run_id)
        run = dict(self._runs.shape(row))
        try:
            async with self._slots:
                self._began[run_id] = time.monotonic()
                await self._run(run, row)
        except asyncio.CancelledError:
            state = run.get("state")
            if state == "posting":
                raise
            reason = INTERRUPTED if self._shutting_down else "cancelled by the user"
            with contextlib.suppress(Exception):
                await asyncio.shield(self._finish_failed(run_id, "cancelled", reason, None))
            raise
        except ProviderError as exc:
            await self._finish_failed(run_id, "failed", exc.message, exc)
        except Exception as exc:  # a bug must not kill the daemon; the run says what happened
            log.exception("run %s failed unexpectedly", run_id)
            if run.get("state") == "posting" and isinstance(exc, StoreUnavailable):
                # The provider may hold the entry already (e.g. the disk filled up while its
                # result was committed): never "failed"; look it up again until it settles.
                self._followups.retry_recovery(run_id, RECOVERY_RETRY)
                return
            await self._finish_failed(
                run_id, "failed", f"internal error: {type(exc).__name__}", None
            )
        finally:
            self._live.drop(run_id)

    async def _run(self, run: dict[str, Any], row: Run) -> None:
        cfg = await find_configuration(self._store, row.configuration_id)
        period = Period.parse(cfg.frequency, row.period)
        if row.draft_id is not None:
            await self._set_state(run, "building", "checking draft")
            draft = await self._draft_for_run(row.draft_id)
        else:
            await self._set_state(run, "fetching", "fetching transactions")
            draft = await self.build(
                cfg, period, lambda n: self._report(run, "fetching transactions", n, None)
            )
            await self._set_state(run, "building", "building entry")
        if row.kind == "correction":
            corrected = await self._correction(cfg, period, draft, run)
            if corrected is None:
                return
            draft = corrected
        if draft.errors or not draft.balanced:
            await self._needs_fix(run, cfg, draft)
            return
        if draft.is_empty:
            await self._finish_empty(run)
            return
        entry = draft.to_journal_entry()
        await self._post(run, cfg, entry, draft)

    async def _draft_for_run(self, draft_id: int) -> Draft:
        row = await self.draft_row(draft_id)
        return Draft.from_dict(row.data)

    async def _needs_fix(self, run: dict[str, Any], cfg: Configuration, draft: Draft) -> None:
        reasons = [e.message for e in draft.errors] or ["the entry does not balance"]
        message = "The entry cannot be posted: " + " ".join(reasons)
        await self._finish_failed(run["id"], "failed", message, None, kind="rejected")

    async def _finish_empty(self, run: dict[str, Any]) -> None:
        await self._store.runs.record_empty(run["id"])
        run["state"] = "posted"
        await self._finished(run["id"])

    # -- posting, exactly once -------------------------------------------------------------
    async def _post(
        self, run: dict[str, Any], cfg: Configuration, entry: JournalEntry, draft: Draft | None
    ) -> None:
        payload = _entry_to_json(entry)
        payload_hash = hashlib.sha256(dumps(payload).encode()).hexdigest()
        key = (
            "bexsync-"
            + hashlib.sha256(
                f"{cfg.id}:{run['period']}:{entry.reference}:{payload_hash}".encode()
            ).hexdigest()[:40]
        )
        self._cancellable.discard(run["id"])  # from here on a stop lets the run finish
        await self._store.runs.mark_posting(
            run["id"], idempotency_key=key, payload_hash=payload_hash, payload=payload
        )
        run["state"] = "posting"
        self._report(run, "posting", 0, 1)
        provider = await self._pool.provider_for(cfg.authorisation_id)
        try:
            posted = await self._post_with_retries(provider, entry, key, lookup_first=True)
        except ProviderError as exc:
            if exc.retryable and provider.info.capabilities.async_post:
                # The import may still complete: stay in ``posting`` and look again later.
                await self._store.runs.set_stage(
                    run["id"], f"waiting for {provider.info.title} to process the import"
                )
                self._followups.retry_recovery(run["id"], exc.retry_after or 60.0)
                return
            raise
        await self._record_posted(run["id"], cfg, entry, posted)

    async def _post_with_retries(
        self, provider: Provider, entry: JournalEntry, key: str, *, lookup_first: bool
    ) -> PostedEntry:
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                if lookup_first:
                    found = await provider.find_entry(
                        entry.reference, entry.tenant_id, entry.ledger_id
                    )
                    if found is not None and found.status == "posted":
                        return found
                    # A pending import (asynchronous providers) is resumed by post_entry with
                    # the same key: it waits on that import instead of submitting another.
                posted = await provider.post_entry(entry, key)
                if posted.status == "posted":
                    return posted
                raise ProviderError(
                    provider.info.id,
                    "unavailable",
                    f"{provider.info.title} is still processing the import",
                    retry_after=60.0,
                )
            except ProviderError as exc:
                if not exc.retryable or attempt == POST_ATTEMPTS:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else 2.0**attempt
                if wait > MAX_INLINE_WAIT:
                    raise
                log.info("provider %s: %s; retrying in %.1fs", exc.provider, exc.kind, wait)
                await self.sleep(wait)
                # After an ambiguous failure the entry may exist: always look before re-posting.
                lookup_first = True
        raise AssertionError("unreachable")

    async def _record_posted(
        self, run_id: int, cfg: Configuration, entry: JournalEntry, posted: PostedEntry
    ) -> None:
        self._cancellable.discard(run_id)
        row = await self._runs.record(run_id)
        lines = [_line_to_json(line) for line in entry.lines]
        title = (
            f"Posted {cfg.administration_number} {row.period}"
            if row.kind == "entry"
            else f"Correction posted {cfg.administration_number} {row.period}"
        )
        note = NewNotification(
            "success",
            title,
            f"{entry.reference}: {len(lines)} lines, total {entry.total_debit:.2f} "
            f"{entry.currency}, posted to {cfg.provider} as {posted.external_id}.",
            {"kind": "entries", "configuration_id": cfg.id, "entry_id": None},
        )
        recorded = await self._store.runs.record_posted(
            run_id,
            NewEntry(
                configuration_id=cfg.id,
                administration_number=cfg.administration_number,
                period=row.period,
                kind=row.kind,
                reference=entry.reference,
                date=entry.date,
                provider=cfg.provider,
                external_id=posted.external_id,
                total=entry.total_debit,
                lines=lines,
            ),
            note,
        )
        self._notifications.publish(recorded.note)
        await self._finished(run_id)

    async def _finish_failed(
        self,
        run_id: int,
        state: str,
        message: str,
        error: ProviderError | None,
        *,
        kind: str | None = None,
    ) -> None:
        self._cancellable.discard(run_id)
        row = await self._runs.record(run_id)
        cfg = await self._store.configurations.get(row.configuration_id)
        note = None
        if state in ("failed", "needs_review") and cfg is not None:
            note = NewNotification(
                "error" if state == "failed" else "warning",
                f"Sync {'failed' if state == 'failed' else 'needs review'}: "
                f"{cfg.administration_number} {row.period}",
                message,
                {"kind": "entries", "configuration_id": cfg.id, "entry_id": None},
            )
        created = await self._store.runs.record_failed(
            run_id,
            state=state,
            message=message,
            error_kind=kind or (error.kind if error else None),
            note=note,
        )
        self._notifications.publish(created)
        # A refused PMS login is the PMS connection's problem (pms.get), not the authorisation's.
        if error is not None and error.kind == "auth_expired" and error.provider != "bex" and cfg:
            await self._authorisation_status.lost(cfg.authorisation_id, error.message)
        await self._finished(run_id)

    async def _finished(self, run_id: int) -> None:
        """Announce a settled run: ``sync.finished``, its one outcome line, the scheduler."""
        record = await self._runs.record(run_id)
        run = run_view(record)
        self._live.drop(run_id)
        began = self._began.pop(run_id, None)
        if began is not None:  # the stored timestamps have whole seconds only
            run["duration_s"] = time.monotonic() - began
        self._events.publish(
            "sync.finished",
            {
                "run_id": run_id,
                "configuration_id": run["configuration_id"],
                "period": run["period"],
                "state": run["state"],
                "entry_id": run["entry_id"],
                "error": run["error"],
            },
        )
        log_sync_outcome(outcome_log, run)
        self._followups.run_finished(record)

    # -- corrections and drift -------------------------------------------------------------
    async def _posted_lines(
        self, config_id: int, key: str
    ) -> dict[tuple[str, str | None], Decimal] | None:
        entries = await self._store.entries.for_period(config_id, key)
        if not entries:
            return None
        totals: dict[tuple[str, str | None], Decimal] = defaultdict(lambda: ZERO)
        for posted in entries:
            for line in posted.lines or []:
                net = Decimal(line["debit"]) - Decimal(line["credit"])
                totals[(line["account"], line["vat_code"])] += net
        return dict(totals)

    def _difference(
        self, draft: Draft, posted: dict[tuple[str, str | None], Decimal]
    ) -> list[DraftLine]:
        names: dict[str, str] = {}
        target: dict[tuple[str, str | None], Decimal] = defaultdict(lambda: ZERO)
        for line in draft.lines:
            target[(line.account, line.vat_code)] += line.debit - line.credit
            names[line.account] = line.account_name
        diff: list[DraftLine] = []
        for account, vat in sorted(set(target) | set(posted), key=lambda k: (k[0], k[1] or "")):
            net = target.get((account, vat), ZERO) - posted.get((account, vat), ZERO)
            if net == 0:
                continue
            diff.append(
                DraftLine(
                    account=account,
                    account_name=names.get(account, ""),
                    description=f"Correction {draft.period} {account}" + (f" {vat}" if vat else ""),
                    vat_code=vat,
                    debit=net if net > 0 else ZERO,
                    credit=-net if net < 0 else ZERO,
                )
            )
        return diff

    async def _correction(
        self, cfg: Configuration, period: Period, draft: Draft, run: dict[str, Any]
    ) -> Draft | None:
        posted = await self._posted_lines(cfg.id, period.key) or {}
        if draft.errors:
            return draft
        diff = self._difference(draft, posted)
        if not diff:
            note = await self._store.runs.record_unchanged(
                run["id"],
                NewNotification(
                    "info",
                    f"Nothing to correct: {cfg.administration_number} {period.key}",
                    f"The PMS still shows what was posted for {period.key}; no correction is "
                    "needed.",
                    {"kind": "entries", "configuration_id": cfg.id, "entry_id": None},
                ),
            )
            self._notifications.publish(note)
            await self._finished(run["id"])
            return None
        count = await self._store.entries.corrections(cfg.id, period.key)
        reference = f"{reference_for(cfg.id, period.key)}:c{count + 1}"
        # The difference is a draft of its own: with_lines recomputes totals and balance.
        return replace(
            draft.with_lines(diff),
            reference=reference,
            narration=f"Correction of {draft.narration} ({reference})",
        )

    async def check_drift(self, config_id: int, key: str) -> dict[str, Any] | None:
        """Has a posted, still-open period changed in the PMS? Notify once per new difference."""
        cfg = await find_configuration(self._store, config_id)
        posted = await self._posted_lines(config_id, key)
        if posted is None:
            return None
        period = Period.parse(cfg.frequency, key)
        draft = await self.build(cfg, period)
        diff = self._difference(draft, posted)
        if not diff:
            return None
        digest = hashlib.sha256(dumps([d.__dict__ for d in diff]).encode()).hexdigest()[:16]
        seen = await self._store.periods.source_hash(config_id, key)
        total = sum((d.debit for d in diff), ZERO)
        result = {"period": key, "lines": len(diff), "difference": f"{total:.2f}"}
        if seen == digest:
            return result
        note = await self._store.periods.record_drift(
            config_id,
            key,
            digest,
            NewNotification(
                "warning",
                f"PMS changed after posting: {cfg.administration_number} {key}",
                f"Back-dated bookings changed {key} after it was posted: {len(diff)} line(s), "
                f"{total:.2f} {cfg.currency} in total. Preview the period and run it again "
                "with force to post a correcting entry.",
                {
                    "kind": "entries",
                    "configuration_id": config_id,
                    "entry_id": None,
                    "period": key,
                    "action": "correction",
                },
            ),
        )
        self._notifications.publish(note)
        return result

    # -- start-up and shutdown -------------------------------------------------------------
    async def recover(self) -> None:
        """Runs a crash or restart interrupted before posting: nothing reached the provider,
        so they are recorded as failed (the scheduler syncs their periods again). Quick; done
        before the daemon serves."""
        for run in await self._store.runs.interrupted():
            await self._finish_failed(
                run.id,
                "failed",
                "interrupted by a daemon restart before posting; nothing was posted",
                None,
                kind="unavailable",
            )

    async def recover_posting(self) -> None:
        """Runs left in ``posting``: look the entry up, replay with the same key, or hand it to
        a human. May wait on a provider (an asynchronous import), so it runs while the daemon
        already serves, and before the scheduler starts new runs."""
        for posting in await self._store.runs.posting():
            try:
                await self._recover_posting(posting)
            except Exception:  # one run must not leave the others in posting for good
                log.exception("run %s: recovery failed; retrying later", posting.run.id)
                self._followups.retry_recovery(posting.run.id, RECOVERY_RETRY)

    async def _recover_posting(self, posting: PostingRun) -> None:
        row = posting.run
        cfg = await find_configuration(self._store, row.configuration_id)
        entry = _entry_from_json(posting.payload)
        try:
            provider = await self._pool.provider_for(cfg.authorisation_id)
            found = await provider.find_entry(entry.reference, entry.tenant_id, entry.ledger_id)
            if found is not None and found.status != "posted":
                found = None  # still processing: post_entry with the same key waits for it
            elif found is None and provider.info.capabilities.idempotency == "none":
                await self._finish_failed(
                    row.id,
                    "needs_review",
                    f"The daemon stopped while posting {entry.reference}, and "
                    f"{cfg.provider} offers no way to check whether it arrived. Check the "
                    "ledger: if the entry is missing, run the period again.",
                    None,
                    kind="unknown",
                )
                return
            if found is None:
                found = await provider.post_entry(entry, posting.idempotency_key)
            if found.status != "posted":
                raise ProviderError(
                    provider.info.id, "unavailable", "the import is still being processed"
                )
        except ProviderError as exc:
            if not exc.retryable:
                await self._finish_failed(row.id, "failed", exc.message, exc)
                return
            log.warning("run %s: recovery deferred: %s", row.id, exc.message)
            self._followups.retry_recovery(row.id, exc.retry_after or 60.0)
            return
        await self._record_posted(row.id, cfg, entry, found)

    async def recover_one(self, run_id: int) -> None:
        posting = await self._store.runs.posting_run(run_id)
        if posting is not None:
            try:
                await self._recover_posting(posting)
            except StoreUnavailable as exc:  # disk full, I/O error: try again later
                log.warning("run %s: recovery not recorded (%s); retrying", run_id, exc)
                self._followups.retry_recovery(run_id, RECOVERY_RETRY)

    async def shutdown(self, timeout: float = 20.0) -> None:
        """Let posting runs finish; cancel the rest (they are recorded as interrupted).

        A run already settled is only logging its outcome and announcing it: that finishes too,
        so no settled run goes without its one outcome line and its ``sync.finished`` event.
        """
        self._shutting_down = True
        deadline = time.monotonic() + timeout
        if self._creating:  # a run being stored gets its task first, then is cancelled below
            await asyncio.wait(list(self._creating), timeout=timeout)
        cancelled = {
            run_id: task for run_id, task in self._tasks.items() if run_id in self._cancellable
        }
        for task in cancelled.values():
            task.cancel()
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(0.1, deadline - time.monotonic()))
        for run_id, task in cancelled.items():
            if task.done():
                with contextlib.suppress(Exception):
                    await self._settle_cancelled(run_id, INTERRUPTED)


def _named(lines: list[DraftLine], known: dict[str, str]) -> list[DraftLine]:
    """Fill in account names the user did not type, from the provider's chart."""
    out = []
    for line in lines:
        if not line.account_name and line.account in known:
            line = replace(line, account_name=known[line.account])
        out.append(line)
    return out


def _entry_to_json(entry: JournalEntry) -> dict[str, Any]:
    return {
        "reference": entry.reference,
        "date": entry.date.isoformat(),
        "narration": entry.narration,
        "currency": entry.currency,
        "ledger_id": entry.ledger_id,
        "tenant_id": entry.tenant_id,
        "lines": [_line_to_json(line) for line in entry.lines],
    }


def _line_to_json(line: EntryLine) -> dict[str, Any]:
    """A posted line as stored (entries.lines, run payloads): money as 2-place strings."""
    return {
        "account": line.account,
        "account_name": line.account_name,
        "description": line.description,
        "vat_code": line.vat_code,
        "debit": f"{line.debit:.2f}",
        "credit": f"{line.credit:.2f}",
    }


def _entry_from_json(data: dict[str, Any]) -> JournalEntry:
    return JournalEntry(
        reference=data["reference"],
        date=date.fromisoformat(data["date"]),
        narration=data["narration"],
        currency=data["currency"],
        ledger_id=data["ledger_id"],
        tenant_id=data.get("tenant_id"),
        lines=tuple(
            EntryLine(
                account=line["account"],
                description=line["description"],
                debit=Decimal(line["debit"]),
                credit=Decimal(line["credit"]),
                vat_code=line.get("vat_code"),
                account_name=line.get("account_name", ""),
            )
            for line in data["lines"]
        ),
    )


__all__ = ["SyncEngine"]
