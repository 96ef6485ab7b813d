"""The per-account rate limiter: windows, concurrency, server feedback, penalties, FIFO order."""

from __future__ import annotations

import asyncio

import pytest

from providers.ratelimit import LimiterRegistry, RateLimiter, RateLimitSpec
from tests.providers.harness import FakeTime


def make(spec: RateLimitSpec) -> tuple[RateLimiter, FakeTime]:
    t = FakeTime()
    return RateLimiter(spec, clock=t.clock, sleep=t.sleep, wall_clock=lambda: 1_000_000_000.0), t


async def test_calls_within_the_window_never_sleep() -> None:
    limiter, t = make(RateLimitSpec(calls=100, per_seconds=60))
    for _ in range(100):
        async with limiter:
            pass
    assert t.sleeps == []
    assert limiter.remaining() == 0


async def test_call_over_the_window_waits_until_the_oldest_call_expires() -> None:
    limiter, t = make(RateLimitSpec(calls=3, per_seconds=10))
    for _ in range(3):
        async with limiter:
            t.now += 1  # calls at t=0, 1, 2
    async with limiter:
        taken_at = t.now
    assert taken_at == pytest.approx(10.0)  # the call made at t=0 leaves the window at t=10
    async with limiter:
        second = t.now
    assert second == pytest.approx(11.0)


async def test_sliding_window_admits_at_most_calls_per_period_over_a_long_run() -> None:
    limiter, t = make(RateLimitSpec(calls=5, per_seconds=2))
    stamps = []
    for _ in range(50):
        async with limiter:
            stamps.append(t.now)
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 2.0 - 1e-9


async def test_concurrency_cap_holds_and_frees_slots_on_release() -> None:
    limiter, _ = make(RateLimitSpec(calls=1000, per_seconds=1, concurrent=2))
    peak = 0
    active = 0

    async def work() -> None:
        nonlocal peak, active
        async with limiter:
            active += 1
            peak = max(peak, active)
            for _ in range(3):
                await asyncio.sleep(0)
            active -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert peak == 2
    assert limiter.in_flight == 0
    assert limiter.waiting == 0


async def test_waiting_requests_are_served_first_in_first_out() -> None:
    limiter, t = make(RateLimitSpec(calls=1, per_seconds=1))
    order: list[int] = []
    async with limiter:
        pass

    async def work(n: int) -> None:
        async with limiter:
            order.append(n)

    tasks = []
    for n in range(6):
        tasks.append(asyncio.create_task(work(n)))
        await asyncio.sleep(0)  # each task queues before the next one is created
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4, 5]
    assert t.now == pytest.approx(6.0)


async def test_a_retry_with_front_goes_before_requests_already_waiting() -> None:
    limiter, _ = make(RateLimitSpec(calls=100, per_seconds=1, concurrent=1))
    order: list[str] = []

    async def work(name: str, front: bool = False) -> None:
        async with limiter.slot(front=front):
            order.append(name)

    await limiter.acquire()  # the only slot is busy: everyone below has to queue
    tasks = []
    for name, front in (("a", False), ("b", False), ("retry", True)):
        tasks.append(asyncio.create_task(work(name, front)))
        await asyncio.sleep(0)
    assert limiter.waiting == 3
    limiter.release()
    await asyncio.gather(*tasks)
    assert order == ["retry", "a", "b"]


async def test_server_reporting_fewer_remaining_calls_slows_us_down() -> None:
    spec = RateLimitSpec(calls=10, per_seconds=60, remaining_header="X-RateLimit-Remaining")
    limiter, t = make(spec)
    async with limiter:
        pass
    # another client on the same key used most of the quota: only 2 calls are left
    limiter.observe({"X-RateLimit-Remaining": "2"})
    assert limiter.remaining() == 2
    for _ in range(2):
        async with limiter:
            pass
    assert t.sleeps == []
    async with limiter:
        pass
    assert t.sleeps and t.now == pytest.approx(60.0)


async def test_server_reporting_more_remaining_calls_does_not_loosen_our_count() -> None:
    spec = RateLimitSpec(calls=3, per_seconds=60, remaining_header="X-RateLimit-Remaining")
    limiter, _ = make(spec)
    for _ in range(3):
        async with limiter:
            pass
    limiter.observe({"X-RateLimit-Remaining": "500"})
    limiter.observe({"X-RateLimit-Remaining": "not a number"})
    assert limiter.remaining() == 0


async def test_reset_header_shortens_the_wait_to_the_server_reset() -> None:
    spec = RateLimitSpec(
        calls=10,
        per_seconds=900,
        remaining_header="X-RateLimit-Remaining",
        reset_header="X-RateLimit-Reset",
    )
    limiter, t = make(spec)
    limiter.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "5"})
    async with limiter:
        pass
    assert t.now == pytest.approx(5.0)
    # a Unix timestamp works too (the fake wall clock is at 1e9)
    limiter2, t2 = make(spec)
    limiter2.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(1_000_000_000 + 7)})
    async with limiter2:
        pass
    assert t2.now == pytest.approx(7.0)


async def test_penalise_blocks_every_request_of_the_account_until_retry_after() -> None:
    limiter, t = make(RateLimitSpec(calls=100, per_seconds=1))
    limiter.penalise(30)
    async with limiter:
        first = t.now
    async with limiter:
        second = t.now
    assert first == pytest.approx(30.0)
    assert second == pytest.approx(30.0)  # the penalty is over, no further wait


async def test_burst_and_daily_windows_both_apply() -> None:
    limiter, t = make(RateLimitSpec(calls=500, per_seconds=900, burst=(2, 60), daily=3))
    for _ in range(2):
        async with limiter:
            pass
    async with limiter:
        pass
    assert t.now == pytest.approx(60.0)  # the burst window made the third call wait
    async with limiter:
        pass
    assert t.now == pytest.approx(86_400.0)  # the daily quota of 3 was used up


async def test_cancelled_waiter_does_not_block_the_queue() -> None:
    limiter, _ = make(RateLimitSpec(calls=1, per_seconds=10, concurrent=1))
    async with limiter:
        waiting = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert limiter.waiting == 0
    async with limiter:
        pass
    assert limiter.in_flight == 0


def test_one_limiter_per_account_key_in_a_registry() -> None:
    limiters = LimiterRegistry()
    spec = RateLimitSpec(calls=60, per_seconds=60)
    a = limiters.limiter("xero:tenant-1", spec)
    assert limiters.limiter("xero:tenant-1", spec) is a
    assert limiters.limiter("xero:tenant-2", spec) is not a
    raised = RateLimitSpec(calls=120, per_seconds=60)
    assert limiters.limiter("xero:tenant-1", raised) is a
    assert a.spec == raised
    assert LimiterRegistry().limiter("xero:tenant-1", spec) is not a  # another daemon's


async def test_penalise_waits_what_the_server_asked_even_over_a_reserved_window() -> None:
    """ "0 remaining" reserves the whole minute; a Retry-After of 1 s cuts that short."""
    spec = RateLimitSpec(calls=60, per_seconds=60, remaining_header="X-MinLimit-Remaining")
    limiter, t = make(spec)
    async with limiter:
        pass
    limiter.observe({"X-MinLimit-Remaining": "0"})
    limiter.penalise(1.0)
    async with limiter:
        pass
    assert t.sleeps == [pytest.approx(1.0)]
