"""Waiting in tests: for the event a test means, with a deadline that only bounds a hang.

A test never sleeps to guess how long something takes: it polls for (or awaits) the state it
means. The deadline is there so a real hang fails with a message instead of at pytest-timeout;
it is long enough that a machine with every core busy never reaches it. ``until`` and
``until_async`` wait in the event loop; ``until_sync`` blocks (a test of a child process, the
reliability rigs). All three share one deadline and its message (``Deadline``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

HANG_S = 60.0
"""Bounds a hang only (pytest-timeout is 120 s per test)."""


What = str | Callable[[], str]
"""What a wait waits for, as its message says; a callable is asked at the deadline (so the
message can show the last state seen)."""


class Deadline:
    """When a wait gives up, and what it says then: shared by every wait here."""

    def __init__(self, what: What, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        self._at = time.monotonic() + timeout

    def check(self) -> None:
        """The hang's ``AssertionError`` once the deadline has passed."""
        if time.monotonic() > self._at:
            what = self.what() if callable(self.what) else self.what
            raise AssertionError(f"timed out after {self.timeout:g} s waiting for {what}")


async def until(
    predicate: Callable[[], T],
    what: What = "condition",
    timeout: float = HANG_S,
    every: float = 0.01,
) -> T:
    """Poll ``predicate`` on the event loop until it is truthy; return its value."""

    async def now() -> T:
        return predicate()

    return await until_async(now, what, timeout, every)


async def until_async(
    predicate: Callable[[], Awaitable[T]],
    what: What = "condition",
    timeout: float = HANG_S,
    every: float = 0.05,
) -> T:
    """``until`` for a predicate that awaits (an RPC call to the daemon under test)."""
    deadline = Deadline(what, timeout)
    while not (value := await predicate()):
        deadline.check()
        await asyncio.sleep(every)
    return value


def until_sync(
    predicate: Callable[[], T],
    what: What = "condition",
    timeout: float = HANG_S,
    every: float = 0.05,
) -> T:
    """``until`` for a blocking caller (no event loop): it sleeps between polls."""
    deadline = Deadline(what, timeout)
    while not (value := predicate()):
        deadline.check()
        time.sleep(every)
    return value
