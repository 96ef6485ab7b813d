"""Client-side rate limiting: one limiter per provider account, shared by every request to it.

Providers limit per account (Xero per tenant and app, BEX per API key), so all syncs that use the
same account must queue behind one limiter; otherwise 1,000 configurations due at once would
burn the quota in seconds and spend the rest of the run in 429 back-off. The limiter keeps a
sliding window of the calls it let through (plus optional burst and daily windows), a
concurrency cap, and a "blocked until" instant set after a 429. When the server reports fewer
remaining calls than we counted (another client on the same key), it believes the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]

DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class RateLimitSpec:
    """A provider's documented limits for one account.

    ``calls`` per ``per_seconds`` is the main sliding window (the one ``remaining_header``
    reports on); ``burst`` is an optional second, shorter window (BEX: 100 per minute inside
    500 per 15 minutes); ``daily`` a third one over 24 hours. ``reset_header``, when the
    provider sends it, says in how many seconds (or at which Unix time) the window resets.
    """

    calls: int
    per_seconds: float
    concurrent: int | None = None
    daily: int | None = None
    remaining_header: str | None = None
    reset_header: str | None = None
    burst: tuple[int, float] | None = None

    def windows(self) -> tuple[tuple[int, float], ...]:
        found = [(self.calls, float(self.per_seconds))]
        if self.burst is not None:
            found.append((self.burst[0], float(self.burst[1])))
        if self.daily is not None:
            found.append((self.daily, DAY_SECONDS))
        return tuple(found)


class _Window:
    """Times of the calls let through in the last ``per`` seconds (sorted, at most ``calls``)."""

    __slots__ = ("calls", "per", "stamps")

    def __init__(self, calls: int, per: float) -> None:
        if calls < 1 or per <= 0:
            raise ValueError("a rate limit needs at least one call per positive period")
        self.calls = calls
        self.per = per
        self.stamps: deque[float] = deque()

    def prune(self, now: float) -> None:
        stamps = self.stamps
        horizon = now - self.per
        while stamps and stamps[0] <= horizon:
            stamps.popleft()

    def delay(self, now: float) -> float:
        self.prune(now)
        if len(self.stamps) < self.calls:
            return 0.0
        return self.stamps[0] + self.per - now

    def remaining(self, now: float) -> int:
        self.prune(now)
        return self.calls - len(self.stamps)

    def expire_by(self, moment: float) -> None:
        """Let every counted call leave the window by ``moment`` at the latest."""
        horizon = moment - self.per
        self.stamps = deque(min(stamp, horizon) for stamp in self.stamps)

    def reserve(self, count: int, at: float) -> None:
        """Count ``count`` calls we did not make (the server saw them) as made at ``at``."""
        merged = sorted([*self.stamps, *([at] * count)])
        self.stamps = deque(merged[-self.calls :])


class _Waiter:
    __slots__ = ("turn",)

    def __init__(self) -> None:
        self.turn: asyncio.Future[None] | None = None


class _Slot:
    __slots__ = ("_front", "_limiter")

    def __init__(self, limiter: RateLimiter, front: bool) -> None:
        self._limiter = limiter
        self._front = front

    async def __aenter__(self) -> RateLimiter:
        await self._limiter.acquire(front=self._front)
        return self._limiter

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._limiter.release()


class RateLimiter:
    """Admit requests in FIFO order within the sliding windows, the concurrency cap and penalties.

    Use ``async with limiter:`` (or ``limiter.slot(front=True)`` for a retry that must not lose
    its place) around each request. When nothing is limiting, acquiring costs no await at all.
    """

    def __init__(
        self,
        spec: RateLimitSpec,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Clock = time.time,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._waiters: deque[_Waiter] = deque()
        self._released: asyncio.Future[None] | None = None
        self._in_flight = 0
        self._blocked_until = float("-inf")
        self.spec = spec
        self._windows = [_Window(c, p) for c, p in spec.windows()]

    # -- introspection (status screens, tests) -------------------------------------------
    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def remaining(self) -> int:
        """Calls still allowed in the main window right now, as far as this limiter knows."""
        return self._windows[0].remaining(self._clock())

    def update_spec(self, spec: RateLimitSpec) -> None:
        """Adopt new limits (e.g. a raised quota), keeping the calls already counted."""
        if spec == self.spec:
            return
        old = {(w.calls, w.per): w for w in self._windows}
        windows = []
        for calls, per in spec.windows():
            window = _Window(calls, per)
            previous = old.get((calls, per)) or next(
                (w for w in old.values() if w.per == per), None
            )
            if previous is not None:
                window.stamps = deque(list(previous.stamps)[-calls:])
            windows.append(window)
        self.spec = spec
        self._windows = windows

    # -- server feedback ------------------------------------------------------------------
    def observe(self, headers: Mapping[str, str]) -> None:
        """Believe the server when it says fewer calls remain than we counted."""
        name = self.spec.remaining_header
        if name is None:
            return
        raw = headers.get(name)
        if raw is None:
            return
        try:
            server_remaining = int(float(raw))
        except (TypeError, ValueError):
            return
        now = self._clock()
        main = self._windows[0]
        ours = main.remaining(now)
        if server_remaining >= ours:
            return
        at = now
        reset = self._reset_in(headers)
        if reset is not None:
            # the phantom calls expire when the server says its window resets
            at = min(now, now + reset - main.per)
        main.reserve(ours - max(server_remaining, 0), at)

    def _reset_in(self, headers: Mapping[str, str]) -> float | None:
        name = self.spec.reset_header
        if name is None or headers.get(name) is None:
            return None
        try:
            value = float(headers[name])
        except (TypeError, ValueError):
            return None
        if value > 1e9:  # a Unix timestamp rather than a number of seconds
            value -= self._wall_clock()
        return max(value, 0.0)

    def penalise(self, retry_after: float) -> None:
        """After a 429: no request of this account starts before ``retry_after`` seconds, and
        none waits longer than that for this limiter's own windows.

        The server's word beats what this limiter inferred: a "0 remaining" header reserves a
        whole window (Xero's minute), but a ``Retry-After: 1`` says a second is enough.
        """
        until = self._clock() + max(retry_after, 0.0)
        if until > self._blocked_until:
            self._blocked_until = until
        for window in self._windows:
            window.expire_by(self._blocked_until)

    # -- admission ------------------------------------------------------------------------
    def _window_delay(self, now: float) -> float:
        delay = self._blocked_until - now
        for window in self._windows:
            d = window.delay(now)
            if d > delay:
                delay = d
        return delay if delay > 0 else 0.0

    def _has_capacity(self) -> bool:
        limit = self.spec.concurrent
        return limit is None or self._in_flight < limit

    def _take(self, now: float) -> None:
        for window in self._windows:
            window.stamps.append(now)
        self._in_flight += 1

    def _wake_head(self) -> None:
        if self._waiters:
            turn = self._waiters[0].turn
            if turn is not None and not turn.done():
                turn.set_result(None)

    async def acquire(self, *, front: bool = False) -> None:
        """Wait for this request's turn. ``front`` jumps the queue (a retry after a 429)."""
        now = self._clock()
        if not self._waiters and self._has_capacity() and self._window_delay(now) == 0.0:
            self._take(now)
            return
        waiter = _Waiter()
        if front:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self._waiters[0] is not waiter:
                    waiter.turn = loop.create_future()
                    await waiter.turn
                    continue
                now = self._clock()
                delay = self._window_delay(now)
                if delay > 0:
                    await self._sleep(delay)
                    continue
                if not self._has_capacity():
                    if self._released is None or self._released.done():
                        self._released = loop.create_future()
                    await self._released
                    continue
                self._take(now)
                self._waiters.popleft()
                self._wake_head()
                return
        except BaseException:
            was_head = bool(self._waiters) and self._waiters[0] is waiter
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if was_head:
                self._wake_head()
            raise

    def release(self) -> None:
        self._in_flight -= 1
        released = self._released
        if released is not None and not released.done():
            released.set_result(None)

    def slot(self, *, front: bool = False) -> _Slot:
        return _Slot(self, front)

    async def __aenter__(self) -> RateLimiter:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class LimiterRegistry:
    """The rate limiters of one daemon: one per provider account, shared by all its clients.

    The daemon makes one registry and hands it to every adapter through the
    ``ProviderContext``; a test makes its own (with a fake clock and sleep), so no limiter
    outlives the daemon or the test that made it.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Clock = time.time,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.wall_clock = wall_clock
        self._limiters: dict[str, tuple[object, RateLimiter]] = {}
        self._lock = threading.Lock()

    def limiter(self, key: str, spec: RateLimitSpec) -> RateLimiter:
        """The one limiter of a provider account (``key``, e.g. ``"xero:tenant:<id>"``).

        Every client of the same account gets the same limiter, so their requests share one
        quota. A later call with different limits updates them (a quota raised in the config).
        A limiter belongs to one event loop (its waiters are that loop's futures), so a new loop
        gets a new limiter for the same key instead of one whose waiters could never wake.
        """
        try:
            loop: object = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            entry = self._limiters.get(key)
            limiter = entry[1] if entry is not None and entry[0] is loop else None
            if limiter is None:
                limiter = RateLimiter(
                    spec, clock=self.clock, sleep=self.sleep, wall_clock=self.wall_clock
                )
                self._limiters[key] = (loop, limiter)
            else:
                limiter.update_spec(spec)
            return limiter
