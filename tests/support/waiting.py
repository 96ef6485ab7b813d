"""Waiting in tests: for the event a test means, with a deadline that only bounds a hang.

A test never sleeps to guess how long something takes: it polls for (or awaits) the state it
means. The deadline is there so a real hang fails with a message instead of at pytest-timeout;
it is long enough that a machine with every core busy never reaches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

HANG_S = 60.0
"""Bounds a hang only (pytest-timeout is 120 s per test)."""


async def until(predicate: Callable[[], T], what: str = "condition", timeout: float = HANG_S) -> T:
    """Poll ``predicate`` on the event loop until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


async def until_async(
    predicate: Callable[[], Awaitable[T]], what: str = "condition", timeout: float = HANG_S
) -> T:
    """``until`` for a predicate that awaits (an RPC call to the daemon under test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)
