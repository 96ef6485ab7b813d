"""Which periods of a configuration are overdue: due, not settled, and nothing working on them.

Manual periods past their due time wait for a person; automatic ones past due with no run in
flight are failed or stuck. Both are shown (``overdue`` of a configuration) and become an
attention item (``daemon.status``), so a stalled configuration never reads as healthy.
"""

from __future__ import annotations

import itertools
from collections.abc import Container
from datetime import datetime, timedelta

from daemon.periods import Period, Schedule

MAX_LISTED = 100
"""A long catch-up lists its oldest periods only."""
MANUAL_GRACE = timedelta(days=1)
"""A manual period due since less than this is work waiting, not yet something wrong."""


def overdue_periods(
    schedule: Schedule,
    now: datetime,
    done: Container[str],
    *,
    automatic: bool,
    running: bool,
    paused: bool,
) -> list[tuple[Period, datetime]]:
    """Oldest first. None while a paused configuration waits, or an automatic one runs."""
    if paused or (automatic and running):
        return []
    due = itertools.islice(schedule.due_periods(now, done), MAX_LISTED)
    return [(p, schedule.due_at(p)) for p in due]


def needs_attention(oldest_due_at: datetime | None, now: datetime, *, automatic: bool) -> bool:
    """An automatic configuration at once (nothing runs it); a manual one after a day."""
    if oldest_due_at is None:
        return False
    return automatic or now - oldest_due_at > MANUAL_GRACE
