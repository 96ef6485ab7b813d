"""Reading bexsync references (``bexsync:{configuration}:{period}``) on the provider side.

Adapters without an idempotency key find an earlier post by its reference, so the whole-token
match and the period's dates must be the same everywhere.
"""

from __future__ import annotations

import calendar
import re
from datetime import date


def reference_pattern(reference: str) -> re.Pattern[str]:
    """Match ``reference`` as a whole token: ``bexsync:1:2026-03`` must not match ``...-03-01``."""
    return re.compile(rf"(?<![\w:-]){re.escape(reference)}(?![\w:-])")


def month_span(day: date) -> tuple[date, date]:
    """The first and last day of ``day``'s calendar month."""
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


_REFERENCE = re.compile(r"^bexsync:[^:]+:(\d{4})-(\d{2})(?:-(\d{2}))?(?::.*)?$")


def period_dates(reference: str) -> tuple[date, date] | None:
    """The date range of the period named in ``bexsync:{configuration}:{period}[:cN]``."""
    match = _REFERENCE.match(reference)
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2]), match[3]
    try:
        if day is not None:
            one = date(year, month, int(day))
            return one, one
        return month_span(date(year, month, 1))
    except ValueError:
        return None
