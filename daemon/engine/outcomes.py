"""How a run ends, recorded in one transaction each and then announced: posted (exactly one
entry), empty, nothing to correct, failed, cancelled or needing review. Every settled run gets
its ``sync.finished`` event, one outcome log line, and goes to the scheduler's follow-ups."""

from __future__ import annotations

import logging

from daemon.engine.payload import line_to_json
from daemon.followups import FollowUps
from daemon.labels import titled
from daemon.logsetup import log_sync_outcome
from daemon.progress import LiveProgress
from daemon.publisher import EventPublisher
from daemon.services.authorisations import AuthorisationStatus
from daemon.services.notifications import Notifications
from daemon.services.runs import Runs
from daemon.store.interface import Store
from daemon.store.records import Configuration, JsonObject, NewEntry, NewNotification
from daemon.views import run_view
from providers.base import JournalEntry, PostedEntry
from providers.errors import ProviderError

log = logging.getLogger("bexsync.engine")
outcome_log = logging.getLogger("bexsync.daemon")  # one line per settled run (logsetup)


class Outcomes:
    def __init__(
        self,
        *,
        store: Store,
        runs: Runs,
        progress: LiveProgress,
        events: EventPublisher,
        notifications: Notifications,
        authorisation_status: AuthorisationStatus,
        followups: FollowUps,
    ) -> None:
        self._store = store
        self._runs = runs
        self._live = progress
        self._events = events
        self._notifications = notifications
        self._authorisation_status = authorisation_status
        self._followups = followups

    async def posted(
        self,
        run_id: int,
        cfg: Configuration,
        entry: JournalEntry,
        posted: PostedEntry,
        snapshot: JsonObject | None = None,
    ) -> None:
        """The provider holds the entry: record it once, with its notification and the PMS
        lines it was built from (``snapshot``; None for a run posted before they were kept)."""
        run = await self._runs.record(run_id)
        snapshot = snapshot or {}
        lines = [line_to_json(line) for line in entry.lines]
        what = "Posted" if run.kind == "entry" else "Correction posted"
        title = titled(what, cfg, run.period)
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
                period=run.period,
                kind=run.kind,
                reference=entry.reference,
                date=entry.date,
                provider=cfg.provider,
                external_id=posted.external_id,
                total=entry.total_debit,
                lines=lines,
                source_lines=snapshot.get("source_lines"),
                corrects=snapshot.get("corrects"),
            ),
            note,
        )
        self._notifications.publish(recorded.note)
        await self.announce(run_id)

    async def empty(self, run_id: int) -> None:
        """No transactions: the period is settled as empty."""
        await self._store.runs.record_empty(run_id)
        await self.announce(run_id)

    async def unchanged(self, run_id: int, cfg: Configuration, period: str) -> None:
        """A correction found nothing to correct."""
        note = await self._store.runs.record_unchanged(
            run_id,
            NewNotification(
                "info",
                titled("Nothing to correct:", cfg, period),
                f"The PMS shows what it showed when {period} was last posted; no correction is "
                "needed (hand edits of the posted entry stay as they are).",
                {"kind": "entries", "configuration_id": cfg.id, "entry_id": None},
            ),
        )
        self._notifications.publish(note)
        await self.announce(run_id)

    async def failed(
        self,
        run_id: int,
        state: str,
        message: str,
        error: ProviderError | None,
        *,
        kind: str | None = None,
    ) -> None:
        """Failed, cancelled or needing review; a refused login also marks its authorisation."""
        run = await self._runs.record(run_id)
        cfg = await self._store.configurations.get(run.configuration_id)
        note = None
        # A scheduled retry failing again is not news: the attention item still shows it.
        repeated = state == "failed" and run.attempts > 0 and run.trigger == "schedule"
        # A run that found access removed paused its configuration, which notified already.
        if state in ("failed", "needs_review") and cfg is not None and cfg.access and not repeated:
            note = NewNotification(
                "error" if state == "failed" else "warning",
                titled(
                    f"Sync {'failed' if state == 'failed' else 'needs review'}:", cfg, run.period
                ),
                message,
                {"kind": "entries", "configuration_id": cfg.id, "entry_id": None},
            )
        # A refused login marks its authorisation first, so whoever sees the run failed sees
        # the login lost too. A refused PMS login is the PMS connection's problem (pms.get).
        if error is not None and error.kind == "auth_expired" and error.provider != "bex" and cfg:
            try:
                await self._authorisation_status.lost(cfg.authorisation_id, error.message)
            except Exception:  # the run's outcome is recorded whatever happens to this
                log.exception("run %s: marking the login of its authorisation lost failed", run_id)
        created = await self._store.runs.record_failed(
            run_id,
            state=state,
            message=message,
            error_kind=kind or (error.kind if error else None),
            note=note,
        )
        self._notifications.publish(created)
        await self.announce(run_id)

    async def announce(self, run_id: int) -> None:
        """``sync.finished``, the one outcome line, and the scheduler's follow-ups."""
        record = await self._runs.record(run_id)
        run = run_view(record)
        self._live.drop(run_id)
        duration = self._live.take_duration(run_id)
        if duration is not None:  # the stored timestamps have whole seconds only
            run["duration_s"] = duration
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
