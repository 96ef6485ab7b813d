"""Which period a preview or a run is for: the one named (if it is one of the configuration's
and, for a run, due), else the oldest due one."""

from __future__ import annotations

from datetime import datetime

from daemon.errors import ValidationFailed
from daemon.formats import iso
from daemon.periods import Period
from daemon.services.configurations import schedule_of
from daemon.store.records import Configuration


def choose_period(
    cfg: Configuration, key: str | None, *, now: datetime, done: set[str], for_run: bool
) -> Period:
    """``done``: the periods already settled. A preview of nothing due shows the last period
    that was due (or the first one); a run of nothing due is refused with when the next is."""
    schedule = schedule_of(cfg)
    if key is None:
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
