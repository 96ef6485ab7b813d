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
    cfg: Configuration,
    key: str | None,
    *,
    now: datetime,
    done: set[str],
    for_run: bool,
    early: bool = False,
) -> Period:
    """``done``: the periods already settled. Without a period: the oldest due one that is not
    settled, never a posted one; with nothing due a preview shows the next period (the draft
    says it is not due yet) and a run is refused with when it is due. A period that is not due
    is posted only ``early`` (the user confirmed), by a run with or without a draft alike."""
    schedule = schedule_of(cfg)
    if key is None:
        due = next(iter(schedule.due_periods(now, done)), None)
        if due is not None:
            return due
        nxt = schedule.next_due(now, done)
        if nxt is None:
            raise ValidationFailed(
                "Every period of this configuration is synced; name a period to see its "
                "correction.",
                errors=[{"field": "period", "message": "nothing left to sync; name a period"}],
            )
        if for_run and not early:
            raise ValidationFailed(
                f"No period of this configuration is due for a sync. The next one, "
                f"{nxt[0].key}, is due at {iso(nxt[1])}; pass early=true to post it now.",
                errors=[{"field": "period", "message": "nothing is due; name a period"}],
                details={"period": nxt[0].key, "due_at": iso(nxt[1])},
            )
        return nxt[0]
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
    if for_run and not early and schedule.due_at(period) > now:
        due_at = iso(schedule.due_at(period))
        raise ValidationFailed(
            f"Period {key} is not due until {due_at}; a period is synced only after it ends "
            "(plus the delay), as the PMS may still add to it. Pass early=true to post it now.",
            errors=[{"field": "period", "message": f"not due until {due_at}"}],
            details={"period": key, "due_at": due_at},
        )
    return period
