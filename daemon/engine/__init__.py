"""The sync engine: PMS transactions -> a draft -> exactly one posted entry per period.

One module per seam: ``lifecycle`` (a run's life, cancelling, stopping), ``building`` (the
draft from the PMS's pages), ``drafts`` (preview and edit), ``posting`` (exactly once),
``outcomes`` (how a run ends, recorded and announced), ``recovery`` (after a crash or a stop),
``corrections`` (what changed after posting, and the drift check). ``assemble`` wires them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from daemon.engine.building import DraftBuilder, PmsClients
from daemon.engine.corrections import Corrections
from daemon.engine.drafts import Drafts
from daemon.engine.lifecycle import SyncEngine
from daemon.engine.outcomes import Outcomes
from daemon.engine.posting import Posting
from daemon.engine.recovery import Recovery
from daemon.engine.tracking import RunTracker
from daemon.followups import FollowUps
from daemon.formats import Clock
from daemon.progress import LiveProgress
from daemon.provider_pool import ProviderPool
from daemon.publisher import EventPublisher
from daemon.services.authorisations import AuthorisationStatus
from daemon.services.notifications import Notifications
from daemon.services.runs import Runs
from daemon.store.coordination import Coordination
from daemon.store.interface import Store


@dataclass(frozen=True)
class Engine:
    runs: SyncEngine
    drafts: Drafts
    corrections: Corrections
    recovery: Recovery
    outcomes: Outcomes


def assemble(
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
    coordination: Coordination,
    max_concurrent: int,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Engine:
    builder = DraftBuilder(pool=pool, pms=pms)
    corrections = Corrections(store=store, builder=builder, notifications=notifications)
    drafts = Drafts(store=store, clock=clock, builder=builder, corrections=corrections, pool=pool)
    outcomes = Outcomes(
        store=store,
        runs=runs,
        progress=progress,
        events=events,
        notifications=notifications,
        authorisation_status=authorisation_status,
        followups=followups,
        coordination=coordination,
    )
    tracker = RunTracker(store=store, progress=progress, events=events)
    posting = Posting(
        store=store,
        pool=pool,
        tracker=tracker,
        outcomes=outcomes,
        followups=followups,
        sleep=sleep,
    )
    lifecycle = SyncEngine(
        store=store,
        clock=clock,
        runs=runs,
        progress=progress,
        tracker=tracker,
        builder=builder,
        drafts=drafts,
        corrections=corrections,
        posting=posting,
        outcomes=outcomes,
        followups=followups,
        coordination=coordination,
        max_concurrent=max_concurrent,
    )
    recovery = Recovery(
        store=store,
        pool=pool,
        outcomes=outcomes,
        followups=followups,
        coordination=coordination,
    )
    return Engine(lifecycle, drafts, corrections, recovery, outcomes)


__all__ = ["Engine", "SyncEngine", "assemble"]
