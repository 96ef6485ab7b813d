"""Period semantics: which calendar slice a sync covers and when it becomes due.

Pure code (no I/O, no clock): the scheduler passes ``now`` in, so every decision here is testable
and replayable. Periods are calendar days or months in the administration's local time zone; a
period is due at the first schedule tick at or after it ends, plus ``delay_days`` so that
back-dated PMS bookings are in before the entry is built.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from daemon.model import FREQUENCIES, Frequency

DEFAULT_SCHEDULES: dict[str, str] = {"daily": "0 2 * * *", "monthly": "0 2 1 * *"}
MAX_DELAY_DAYS = 14

_ONE_DAY = timedelta(days=1)
_DAILY_KEY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTHLY_KEY = re.compile(r"\d{4}-\d{2}")
_KEY_FORMAT = {"daily": "YYYY-MM-DD", "monthly": "YYYY-MM"}


def _check_frequency(frequency: str) -> None:
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}: expected 'daily' or 'monthly'")


def _month_after(d: date) -> date:
    """First day of the month after the one containing ``d``."""
    return date(d.year + 1, 1, 1) if d.month == 12 else date(d.year, d.month + 1, 1)


def _month_before(d: date) -> date:
    """First day of the month before the one containing ``d``."""
    return date(d.year - 1, 12, 1) if d.month == 1 else date(d.year, d.month - 1, 1)


@dataclass(frozen=True, order=True)
class Period:
    """One calendar day or month; ``start`` is its first day (the 1st for monthly periods)."""

    frequency: Frequency
    start: date

    def __post_init__(self) -> None:
        _check_frequency(self.frequency)
        if self.frequency == "monthly" and self.start.day != 1:
            raise ValueError(f"a monthly period starts on the 1st, not on {self.start}")

    @property
    def key(self) -> str:
        """``YYYY-MM-DD`` (daily) or ``YYYY-MM`` (monthly): the wire and reference form."""
        if self.frequency == "daily":
            return self.start.isoformat()
        return f"{self.start.year:04d}-{self.start.month:02d}"

    @property
    def end(self) -> date:
        """Last day of the period, inclusive."""
        if self.frequency == "daily":
            return self.start
        return _month_after(self.start) - _ONE_DAY

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end

    def next(self) -> Period:
        if self.frequency == "daily":
            return Period("daily", self.start + _ONE_DAY)
        return Period("monthly", _month_after(self.start))

    def prev(self) -> Period:
        if self.frequency == "daily":
            return Period("daily", self.start - _ONE_DAY)
        return Period("monthly", _month_before(self.start))

    @classmethod
    def parse(cls, frequency: Frequency, key: str) -> Period:
        """Parse a period key, saying plainly when it has the other frequency's shape."""
        _check_frequency(frequency)
        if not isinstance(key, str):
            raise ValueError(f"period must be a string like {_KEY_FORMAT[frequency]}, got {key!r}")
        text = key.strip()
        if frequency == "daily":
            if _MONTHLY_KEY.fullmatch(text):
                raise ValueError(
                    f"{key!r} is a monthly period but this configuration syncs daily: "
                    "give a day as YYYY-MM-DD"
                )
            if not _DAILY_KEY.fullmatch(text):
                raise ValueError(f"{key!r} is not a daily period: expected YYYY-MM-DD")
            try:
                return cls("daily", date.fromisoformat(text))
            except ValueError:
                raise ValueError(f"{key!r} is not a valid calendar day") from None
        if _DAILY_KEY.fullmatch(text):
            raise ValueError(
                f"{key!r} is a daily period but this configuration syncs monthly: "
                "give a month as YYYY-MM"
            )
        if not _MONTHLY_KEY.fullmatch(text):
            raise ValueError(f"{key!r} is not a monthly period: expected YYYY-MM")
        year, month = int(text[:4]), int(text[5:])
        if not 1 <= month <= 12 or year < 1:
            raise ValueError(f"{key!r} is not a valid month")
        return cls("monthly", date(year, month, 1))

    @classmethod
    def containing(cls, frequency: Frequency, d: date) -> Period:
        _check_frequency(frequency)
        if isinstance(d, datetime):  # a datetime is a date; its wall-clock date is meant
            d = d.date()
        return cls(frequency, d if frequency == "daily" else d.replace(day=1))

    def __str__(self) -> str:
        return self.key


class DoneSpan:
    """Settled periods that are every period from ``first`` to ``last``, and no other one of
    their frequency: membership without holding the keys, and a schedule steps over it at once
    (a listing must not walk years of settled days). It answers for keys of its frequency."""

    __slots__ = ("_hi", "_lo", "_size", "first", "last")

    def __init__(self, first: Period, last: Period) -> None:
        self.first, self.last = first, last
        self._lo, self._hi, self._size = first.key, last.key, len(first.key)

    @classmethod
    def of(cls, frequency: Frequency, count: int, first: str, last: str) -> DoneSpan | None:
        """The span when ``count`` distinct keys of ``frequency`` from ``first`` to ``last``
        are all the periods between them; None when some are missing (or a key is malformed)."""
        try:
            lo, hi = Period.parse(frequency, first), Period.parse(frequency, last)
        except ValueError:
            return None
        if frequency == "daily":
            between = (hi.start - lo.start).days + 1
        else:
            between = (hi.start.year - lo.start.year) * 12 + hi.start.month - lo.start.month + 1
        return cls(lo, hi) if count == between else None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and len(key) == self._size and self._lo <= key <= self._hi

    def __repr__(self) -> str:
        return f"DoneSpan({self._lo}..{self._hi})"


def zone(tz: str) -> ZoneInfo:
    """The IANA zone ``tz``, with a ValueError a user can act on when it does not exist."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown time zone {tz!r}: use an IANA name like Europe/Amsterdam"
        ) from None


def localise(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach ``tz`` to a wall-clock time and return the instant in UTC.

    An ambiguous time (clocks going back) takes its first occurrence; a time that does not
    exist (clocks going forward) becomes the first instant that does, i.e. the transition.
    """
    utc = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == naive:
        return utc
    # In a gap: the transition lies in (lo, hi]; find the first second whose wall time >= naive.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = utc
    if lo > hi:
        lo, hi = hi, lo
    lo_s, hi_s = 0, int((hi - lo).total_seconds())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if (lo + timedelta(seconds=mid)).astimezone(tz).replace(tzinfo=None) >= naive:
            hi_s = mid
        else:
            lo_s = mid
    return lo + timedelta(seconds=hi_s)


def _first_tick_at_or_after(schedule: str, moment: datetime) -> datetime:
    """First naive tick of ``schedule`` at or after the naive ``moment``."""
    if croniter.match(schedule, moment):
        return moment
    try:
        tick: datetime = croniter(schedule, moment).get_next(datetime)
        return tick
    except CroniterBadDateError:
        raise ValueError(f"schedule {schedule!r} never fires") from None


@functools.lru_cache(maxsize=8192)
def due_at(period: Period, tz: str, delay_days: int, schedule: str | None = None) -> datetime:
    """When ``period`` may be synced, as an aware UTC datetime (a pure function of its arguments,
    cached: listings and scheduling passes ask for the same periods again and again).

    The first tick of ``schedule`` (local wall clock in ``tz``) at or after local midnight after
    ``period.end``, plus ``delay_days`` calendar days of local time. Ticks are computed on naive
    wall-clock times and localised last, so DST shifts never skip or double a period.
    """
    cron = schedule or DEFAULT_SCHEDULES[period.frequency]
    ends = datetime.combine(period.end + _ONE_DAY, datetime.min.time())
    tick = _first_tick_at_or_after(cron, ends) + timedelta(days=delay_days)
    return localise(tick, zone(tz))


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


@dataclass(frozen=True)
class Schedule:
    """A configuration's sync timetable: which periods exist and when each becomes due."""

    frequency: Frequency
    start_date: date
    end_date: date | None
    delay_days: int
    tz: str
    cron: str | None = None

    def __post_init__(self) -> None:
        _check_frequency(self.frequency)
        if isinstance(self.delay_days, bool) or not isinstance(self.delay_days, int):
            raise ValueError("delay_days must be a whole number of days")
        if not 0 <= self.delay_days <= MAX_DELAY_DAYS:
            raise ValueError(f"delay_days must be between 0 and {MAX_DELAY_DAYS}")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end date {self.end_date} is before start date {self.start_date}")
        zone(self.tz)
        if self.cron is not None:
            if not croniter.is_valid(self.cron):
                raise ValueError(f"schedule {self.cron!r} is not a valid cron expression")
            _first_tick_at_or_after(
                self.cron, datetime.combine(self.start_date, datetime.min.time())
            )

    @property
    def schedule(self) -> str:
        return self.cron or DEFAULT_SCHEDULES[self.frequency]

    def first_period(self) -> Period:
        return self._first

    def last_period(self) -> Period | None:
        return self._last

    # Computed once per schedule: a listing asks each configuration's schedule for them.
    @functools.cached_property
    def _first(self) -> Period:
        return Period.containing(self.frequency, self.start_date)

    @functools.cached_property
    def _first_key(self) -> tuple[Period, str]:
        return self._first, self._first.key

    @functools.cached_property
    def _last(self) -> Period | None:
        if self.end_date is None:
            return None
        return Period.containing(self.frequency, self.end_date)

    def is_in_range(self, period: Period) -> bool:
        if period.frequency != self.frequency or period < self.first_period():
            return False
        last = self.last_period()
        return last is None or period <= last

    def due_at(self, period: Period) -> datetime:
        return due_at(period, self.tz, self.delay_days, self.cron)

    def periods_from(self, period: Period) -> Iterator[Period]:
        """Periods from ``period`` (clamped to the first) up to the last one; endless if open."""
        p = max(period, self.first_period())
        last = self.last_period()
        while last is None or p <= last:
            yield p
            p = p.next()

    def _keys(self, first: Period, last: Period | None) -> Iterator[tuple[str, date]]:
        """(key, start) from ``first`` to ``last``, cheaply: no Period objects in the loop."""
        stop = last.start if last is not None else date.max
        d = first.start
        if self.frequency == "daily":
            while d <= stop:
                yield d.isoformat(), d
                if d == date.max:
                    return
                d += _ONE_DAY
        else:
            while d <= stop:
                yield f"{d.year:04d}-{d.month:02d}", d
                if d.year == date.max.year and d.month == 12:
                    return
                d = _month_after(d)

    def _missing(
        self, first: Period, stop: Period | None, done: Container[str]
    ) -> Iterator[tuple[str, date]]:
        """(key, start) of the periods from ``first`` to ``stop`` (None: open) not in ``done``;
        a ``DoneSpan`` is stepped over, not walked."""
        if not isinstance(done, DoneSpan) or done.first.frequency != self.frequency:
            for key, start in self._keys(first, stop):
                if key not in done:
                    yield key, start
            return
        if first < done.first:
            before = done.first.prev()
            yield from self._keys(first, before if stop is None else min(stop, before))
        try:
            after = max(first, done.last.next())
        except OverflowError:
            return  # the span reaches the end of the calendar
        if stop is None or after <= stop:
            yield from self._keys(after, stop)

    def last_due_period(self, now: datetime) -> Period | None:
        """The latest in-range period whose due time has passed, or None.

        Due times only grow with the period, so step back from the current period; this costs
        a handful of cron evaluations however long the schedule has been running.
        """
        _require_aware(now)
        first = self.first_period()
        local_today = now.astimezone(zone(self.tz)).date()
        candidate = Period.containing(self.frequency, local_today).prev()
        last = self.last_period()
        if last is not None and candidate > last:
            candidate = last
        while candidate >= first:
            if self.due_at(candidate) <= now:
                return candidate
            candidate = candidate.prev()
        return None

    def due_periods(self, now: datetime, done: Container[str]) -> Iterator[Period]:
        """Every due period not in ``done``, oldest first: the catch-up list after downtime."""
        cutoff = self.last_due_period(now)
        if cutoff is None:
            return
        for _, start in self._missing(self.first_period(), cutoff, done):
            yield Period(self.frequency, start)

    def next_due(self, now: datetime, done: Container[str]) -> tuple[Period, datetime] | None:
        """The oldest period not in ``done`` and its due time (past = due now, future = wait).

        None when the schedule has an end date and every period is done.
        """
        _require_aware(now)
        first, first_key = self._first_key
        if first_key not in done:  # the usual answer of a new or stalled schedule: no walk
            return first, self.due_at(first)
        for _, start in self._missing(first, self._last, done):
            period = Period(self.frequency, start)
            return period, self.due_at(period)
        return None

    def is_finished(self, done: Container[str]) -> bool:
        """True when there is an end date and every period up to it is done."""
        last = self.last_period()
        if last is None:
            return False
        return all(key in done for key, _ in self._keys(self.first_period(), last))
