"""Period semantics: calendar slices, due times across DST, catch-up order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import takewhile
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.periods import DEFAULT_SCHEDULES, DoneSpan, Period, Schedule, due_at, localise

AMS = "Europe/Amsterdam"
NYC = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def day(key: str) -> Period:
    return Period.parse("daily", key)


def month(key: str) -> Period:
    return Period.parse("monthly", key)


# --- Period -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "end", "days"),
    [
        ("2026-01", date(2026, 1, 31), 31),
        ("2026-02", date(2026, 2, 28), 28),
        ("2024-02", date(2024, 2, 29), 29),  # leap year
        ("2100-02", date(2100, 2, 28), 28),  # divisible by 100: not a leap year
        ("2000-02", date(2000, 2, 29), 29),  # divisible by 400: a leap year
        ("2026-04", date(2026, 4, 30), 30),
        ("2026-12", date(2026, 12, 31), 31),
    ],
)
def test_monthly_period_covers_the_whole_calendar_month(key: str, end: date, days: int) -> None:
    p = month(key)
    assert p.start == date(int(key[:4]), int(key[5:]), 1)
    assert p.end == end
    assert p.days == days
    assert p.key == key
    assert str(p) == key


def test_daily_period_is_one_day() -> None:
    p = day("2024-02-29")
    assert (p.start, p.end, p.days, p.key) == (
        date(2024, 2, 29),
        date(2024, 2, 29),
        1,
        "2024-02-29",
    )
    assert p.next() == day("2024-03-01")
    assert p.prev() == day("2024-02-28")


def test_next_and_prev_cross_year_boundaries() -> None:
    assert month("2026-12").next() == month("2027-01")
    assert month("2027-01").prev() == month("2026-12")
    assert day("2026-12-31").next() == day("2027-01-01")
    assert day("2027-01-01").prev() == day("2026-12-31")


def test_containing_picks_the_period_of_a_date() -> None:
    assert Period.containing("monthly", date(2026, 10, 17)) == month("2026-10")
    assert Period.containing("daily", date(2026, 10, 17)) == day("2026-10-17")
    assert Period.containing("monthly", datetime(2026, 10, 31, 23, 59)) == month("2026-10")


def test_periods_order_chronologically() -> None:
    assert sorted([month("2026-03"), month("2025-12"), month("2026-01")]) == [
        month("2025-12"),
        month("2026-01"),
        month("2026-03"),
    ]


@pytest.mark.parametrize(
    ("frequency", "key", "fragment"),
    [
        ("monthly", "2026-10-01", "daily period but this configuration syncs monthly"),
        ("daily", "2026-10", "monthly period but this configuration syncs daily"),
        ("monthly", "2026-13", "not a valid month"),
        ("monthly", "2026-00", "not a valid month"),
        ("daily", "2026-02-30", "not a valid calendar day"),
        ("daily", "yesterday", "expected YYYY-MM-DD"),
        ("monthly", "10/2026", "expected YYYY-MM"),
        ("daily", "2026-1-5", "expected YYYY-MM-DD"),
    ],
)
def test_parse_rejects_bad_keys_with_a_clear_message(frequency, key: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Period.parse(frequency, key)


def test_unknown_frequency_and_misaligned_month_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown frequency"):
        Period.parse("weekly", "2026-10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="starts on the 1st"):
        Period("monthly", date(2026, 10, 5))


# --- due_at -----------------------------------------------------------------------------------


def test_daily_default_is_two_oclock_local_the_next_morning() -> None:
    assert due_at(day("2026-01-10"), AMS, 0) == utc(2026, 1, 11, 1)  # CET = UTC+1
    assert due_at(day("2026-07-10"), AMS, 0) == utc(2026, 7, 11, 0)  # CEST = UTC+2
    assert due_at(day("2026-07-10"), NYC, 0) == utc(2026, 7, 11, 6)  # EDT = UTC-4


def test_monthly_default_is_the_first_of_next_month_at_two() -> None:
    assert due_at(month("2026-01"), AMS, 0) == utc(2026, 2, 1, 1)
    assert due_at(month("2026-12"), AMS, 0) == utc(2027, 1, 1, 1)
    assert due_at(month("2024-02"), AMS, 0) == utc(2024, 3, 1, 1)


@pytest.mark.parametrize("delay", range(15))
def test_delay_adds_calendar_days(delay: int) -> None:
    # January/February: no DST change, so a day is 24 hours.
    assert due_at(day("2026-01-10"), AMS, delay) == utc(2026, 1, 11, 1) + timedelta(days=delay)
    assert due_at(month("2026-01"), AMS, delay) == utc(2026, 2, 1, 1) + timedelta(days=delay)


def test_delay_is_local_days_across_a_dst_change() -> None:
    # Tick 2026-10-20 02:00 CEST, plus 14 local days = 2026-11-03 02:00 CET: 14 days of wall
    # clock, 14 days and 1 hour of real time.
    assert due_at(day("2026-10-19"), AMS, 14) == utc(2026, 11, 3, 1)


def test_a_schedule_tick_at_midnight_fires_the_moment_the_period_ends() -> None:
    assert due_at(day("2026-01-10"), "UTC", 0, "0 0 * * *") == utc(2026, 1, 11, 0)
    assert due_at(month("2026-01"), "UTC", 0, "0 0 1 * *") == utc(2026, 2, 1, 0)


def test_custom_schedule_waits_for_its_next_tick() -> None:
    # Mondays at 06:00: January 2026 ends on Saturday 31, so the first Monday is 2 February.
    assert due_at(month("2026-01"), AMS, 0, "0 6 * * 1") == utc(2026, 2, 2, 5)
    # The delay is added after the tick.
    assert due_at(month("2026-01"), AMS, 2, "0 6 * * 1") == utc(2026, 2, 4, 5)


def test_spring_forward_moves_a_missing_time_to_the_first_existing_instant() -> None:
    # Amsterdam, Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    assert due_at(day("2026-03-28"), AMS, 0) == utc(2026, 3, 29, 1)
    assert due_at(day("2026-03-28"), AMS, 0, "30 2 * * *") == utc(2026, 3, 29, 1)
    # The days around it are unaffected.
    assert due_at(day("2026-03-27"), AMS, 0, "30 2 * * *") == utc(2026, 3, 28, 1, 30)
    assert due_at(day("2026-03-29"), AMS, 0, "30 2 * * *") == utc(2026, 3, 30, 0, 30)
    # A delay that lands in the gap is moved the same way.
    assert due_at(day("2026-03-26"), AMS, 2, "30 2 * * *") == utc(2026, 3, 29, 1)
    # New York, Sunday 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    assert due_at(day("2026-03-07"), NYC, 0, "30 2 * * *") == utc(2026, 3, 8, 7)


def test_fall_back_takes_the_first_occurrence_of_an_ambiguous_time() -> None:
    # Amsterdam, Sunday 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    assert due_at(day("2026-10-24"), AMS, 0, "30 2 * * *") == utc(2026, 10, 25, 0, 30)
    assert due_at(day("2026-10-25"), AMS, 0, "30 2 * * *") == utc(2026, 10, 26, 1, 30)
    # New York, Sunday 2026-11-01: 01:30 happens twice; the first is EDT (UTC-4).
    assert due_at(day("2026-10-31"), NYC, 0, "30 1 * * *") == utc(2026, 11, 1, 5, 30)


def test_localise_handles_gaps_of_half_an_hour() -> None:
    # Lord Howe Island springs forward 30 minutes at 02:00 local on the first Sunday of October.
    tz = ZoneInfo("Australia/Lord_Howe")
    got = localise(datetime(2026, 10, 4, 2, 15), tz)
    assert got.astimezone(tz).replace(tzinfo=None) == datetime(2026, 10, 4, 2, 30)


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        due_at(day("2026-01-01"), "Mars/Base", 0)


# --- Schedule ---------------------------------------------------------------------------------


def sched(
    frequency="daily", start=date(2026, 1, 1), end=None, delay=0, tz=AMS, cron=None
) -> Schedule:
    return Schedule(frequency, start, end, delay, tz, cron)


def test_first_and_last_period_contain_mid_period_dates() -> None:
    s = sched("monthly", date(2026, 1, 15), date(2026, 3, 10))
    assert s.first_period() == month("2026-01")
    assert s.last_period() == month("2026-03")
    assert list(s.periods_from(month("2025-06"))) == [
        month("2026-01"),
        month("2026-02"),
        month("2026-03"),
    ]
    assert sched("monthly", date(2026, 1, 15)).last_period() is None


def test_open_ended_periods_from_is_lazy() -> None:
    it = sched().periods_from(day("2026-01-05"))
    assert [next(it) for _ in range(3)] == [day("2026-01-05"), day("2026-01-06"), day("2026-01-07")]


def test_is_in_range() -> None:
    s = sched("monthly", date(2026, 1, 15), date(2026, 3, 10))
    assert s.is_in_range(month("2026-01"))
    assert s.is_in_range(month("2026-03"))
    assert not s.is_in_range(month("2025-12"))
    assert not s.is_in_range(month("2026-04"))
    assert not s.is_in_range(day("2026-02-01"))
    assert sched("monthly", date(2026, 1, 15)).is_in_range(month("2099-01"))


def test_catch_up_lists_every_due_unposted_period_oldest_first() -> None:
    s = sched()
    now = utc(2026, 1, 10, 12)
    done = {"2026-01-03", "2026-01-07"}
    got = [p.key for p in s.due_periods(now, done)]
    assert got == [f"2026-01-0{i}" for i in (1, 2, 4, 5, 6, 8, 9)]


def test_a_period_is_due_exactly_at_its_due_time_and_not_a_second_before() -> None:
    s = sched(delay=3)
    due = s.due_at(day("2026-01-01"))
    assert due == utc(2026, 1, 5, 1)
    assert list(s.due_periods(due - timedelta(seconds=1), set())) == []
    assert list(s.due_periods(due, set())) == [day("2026-01-01")]


def test_nothing_is_due_before_the_first_period_ends() -> None:
    s = sched("monthly", date(2026, 1, 20))
    assert list(s.due_periods(utc(2026, 1, 31, 23), set())) == []
    assert s.next_due(utc(2026, 1, 31, 23), set()) == (month("2026-01"), utc(2026, 2, 1, 1))


def test_catch_up_stops_at_the_end_date() -> None:
    s = sched("monthly", date(2026, 1, 15), date(2026, 3, 10))
    got = [p.key for p in s.due_periods(utc(2027, 6, 1), {"2026-02"})]
    assert got == ["2026-01", "2026-03"]


def test_next_due_returns_the_oldest_hole_then_none_when_finished() -> None:
    s = sched("monthly", date(2026, 1, 1), date(2026, 3, 31), delay=2)
    now = utc(2026, 2, 10)
    assert s.next_due(now, set()) == (month("2026-01"), utc(2026, 2, 3, 1))  # in the past: due now
    assert s.next_due(now, {"2026-01", "2026-03"}) == (month("2026-02"), utc(2026, 3, 3, 1))
    assert not s.is_finished({"2026-01", "2026-03"})
    assert s.next_due(now, {"2026-01", "2026-02", "2026-03"}) is None
    assert s.is_finished({"2026-01", "2026-02", "2026-03", "2025-12"})


def test_open_ended_schedule_is_never_finished() -> None:
    s = sched("monthly")
    assert not s.is_finished({"2026-01"})
    assert s.next_due(utc(2030, 1, 1), {"2026-01"}) == (month("2026-02"), utc(2026, 3, 1, 1))


def test_schedule_uses_its_cron_and_time_zone() -> None:
    s = sched(tz=NYC, cron="15 4 * * *")
    assert s.next_due(utc(2026, 1, 1), set()) == (day("2026-01-01"), utc(2026, 1, 2, 9, 15))


def test_years_of_done_daily_periods_are_cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    s = sched(start=date(2000, 1, 1))
    periods = takewhile(lambda p: p.start < date(2030, 1, 1), s.periods_from(s.first_period()))
    done = {p.key for p in periods}
    now = utc(2030, 1, 5)
    # The costly step is a cron evaluation (due_at); ~11,000 done periods must not each cost
    # one. Counted rather than timed: a timed assertion fails on a busy machine.
    evaluated: list[str] = []
    real_due_at = type(s).due_at
    monkeypatch.setattr(
        type(s), "due_at", lambda self, p: evaluated.append(p.key) or real_due_at(self, p)
    )
    assert s.next_due(now, done) == (day("2030-01-01"), utc(2030, 1, 2, 1))
    assert evaluated == ["2030-01-01"]
    evaluated.clear()
    assert [p.key for p in s.due_periods(now, done)] == ["2030-01-01", "2030-01-02", "2030-01-03"]
    assert len(evaluated) <= 5  # a few steps back from today, not one per period


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"delay": 15}, "between 0 and 14"),
        ({"delay": -1}, "between 0 and 14"),
        ({"end": date(2025, 12, 31)}, "before start date"),
        ({"tz": "Nowhere/Land"}, "unknown time zone"),
        ({"cron": "every day"}, "not a valid cron"),
        ({"cron": "0 0 30 2 *"}, "never fires"),
        ({"frequency": "weekly"}, "unknown frequency"),
    ],
)
def test_schedule_refuses_bad_settings(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        sched(**kwargs)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        list(sched().due_periods(datetime(2026, 2, 1), set()))
    with pytest.raises(ValueError, match="timezone-aware"):
        sched().next_due(datetime(2026, 2, 1), set())


def test_default_schedules() -> None:
    assert DEFAULT_SCHEDULES == {"daily": "0 2 * * *", "monthly": "0 2 1 * *"}


# --- properties -------------------------------------------------------------------------------

frequencies = st.sampled_from(["daily", "monthly"])
dates = st.dates(min_value=date(1901, 1, 1), max_value=date(2199, 12, 1))
zones = st.sampled_from(
    [AMS, NYC, "UTC", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago", "Pacific/Chatham"]
)
crons = st.sampled_from([None, "0 0 * * *", "30 2 * * *", "59 23 * * *", "0 6 * * 1", "0 2 1 * *"])


@given(frequencies, dates)
def test_periods_partition_the_calendar(frequency, d: date) -> None:
    p = Period.containing(frequency, d)
    assert p.contains(d)
    assert p.next().start == p.end + timedelta(days=1)
    assert p.prev().end == p.start - timedelta(days=1)
    assert p.next().prev() == p
    assert Period.parse(frequency, p.key) == p
    if frequency == "daily":
        assert p.days == 1
    else:
        assert 28 <= p.days <= 31


@settings(max_examples=60, deadline=None)
@given(
    frequencies,
    st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 1)),
    zones,
    st.integers(0, 14),
    crons,
)
def test_due_after_the_period_ends_and_monotonic(frequency, d, tz, delay, cron) -> None:
    p = Period.containing(frequency, d)
    due = due_at(p, tz, delay, cron)
    assert due.utcoffset() == timedelta(0)
    end_local = datetime.combine(p.end + timedelta(days=1), datetime.min.time())
    assert due >= localise(end_local, ZoneInfo(tz))
    assert due >= localise(end_local + timedelta(days=delay), ZoneInfo(tz))
    assert due <= due_at(p.next(), tz, delay, cron)


@settings(max_examples=40, deadline=None)
@given(
    frequencies,
    st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31)),
    st.integers(0, 14),
    zones,
    st.integers(0, 400 * 24),
    st.sets(st.integers(0, 60), max_size=20),
)
def test_due_periods_match_a_brute_force_scan(frequency, start, delay, tz, hours, done_idx) -> None:
    s = Schedule(frequency, start, None, delay, tz)
    now = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hours)
    all_periods = []
    for p in s.periods_from(s.first_period()):
        if s.due_at(p) > now:
            break
        all_periods.append(p)
    done = {p.key for i, p in enumerate(all_periods) if i in done_idx}
    expected = [p for p in all_periods if p.key not in done]
    assert list(s.due_periods(now, done)) == expected
    nxt = s.next_due(now, done)
    assert nxt is not None
    if expected:
        assert nxt == (expected[0], s.due_at(expected[0]))
    else:
        assert nxt[1] > now


# --- DoneSpan: settled periods counted, not listed -------------------------------------------


def test_a_span_is_made_only_when_its_count_fills_it() -> None:
    span = DoneSpan.of("daily", 31, "2026-01-01", "2026-01-31")
    assert span is not None and "2026-01-15" in span and "2026-02-01" not in span
    assert "2026-01" not in span  # a monthly key is not one of its days
    assert DoneSpan.of("daily", 30, "2026-01-01", "2026-01-31") is None  # a day is missing
    assert DoneSpan.of("monthly", 13, "2025-01", "2026-01") is not None
    assert DoneSpan.of("monthly", 12, "2025-01", "2026-01") is None
    assert DoneSpan.of("monthly", 1, "2026-01-01", "2026-01-01") is None  # daily keys
    assert DoneSpan.of("daily", 1, "2026-13-01", "2026-13-01") is None  # not a day


def test_years_of_settled_days_as_a_span_are_stepped_over(monkeypatch: pytest.MonkeyPatch) -> None:
    s = sched(start=date(2000, 1, 1))
    span = DoneSpan(day("2000-01-01"), day("2029-12-31"))
    now = utc(2030, 1, 5)
    walked: list[str] = []
    real_keys = type(s)._keys
    monkeypatch.setattr(
        type(s), "_keys", lambda self, a, b: (walked.append(a.key), real_keys(self, a, b))[1]
    )
    assert s.next_due(now, span) == (day("2030-01-01"), utc(2030, 1, 2, 1))
    assert [p.key for p in s.due_periods(now, span)] == ["2030-01-01", "2030-01-02", "2030-01-03"]
    assert walked == ["2030-01-01", "2030-01-01"]  # each walk starts after the span


@settings(max_examples=80, deadline=None)
@given(
    frequencies,
    st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31)),
    st.one_of(st.none(), st.integers(0, 90)),
    zones,
    st.integers(0, 500 * 24),
    st.integers(-30, 90),
    st.integers(0, 90),
)
def test_a_span_answers_as_the_set_of_its_periods(
    frequency, start, length, tz, hours, offset, size
) -> None:
    """Wherever the span lies (before the start, across it, past the end date), a schedule
    answers the same as with every key of the span in a set."""
    first = Period.containing(frequency, start)
    last = None
    if length is not None:
        last = first
        for _ in range(length):
            last = last.next()
    s = Schedule(frequency, start, None if last is None else last.end, 0, tz)
    lo = first
    for _ in range(abs(offset)):
        lo = lo.next() if offset > 0 else lo.prev()
    hi = lo
    keys = {lo.key}
    for _ in range(size):
        hi = hi.next()
        keys.add(hi.key)
    span = DoneSpan.of(frequency, len(keys), lo.key, hi.key)
    assert span is not None
    now = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hours)
    assert s.next_due(now, span) == s.next_due(now, keys)
    assert list(s.due_periods(now, span)) == list(s.due_periods(now, keys))
    assert s.is_finished(span) == s.is_finished(keys)
