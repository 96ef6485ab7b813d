"""Log a recurring problem once per interval, with a count of what was left out.

A flood (thousands of refused connections, accept() failing every iteration) must not fill the
journal: the first occurrence is logged in full, the next ones of the same kind only counted,
and the count is reported with the first occurrence after the interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

DEFAULT_INTERVAL = 60.0


class ThrottledLog:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def log(
        self, level: int, key: str, message: str, *args: object, exc_info: object = None
    ) -> bool:
        """Log under ``key`` unless it was logged less than an interval ago; True if logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._left_out[key] = self._left_out.get(key, 0) + 1
            return False
        self._last[key] = now
        left_out = self._left_out.pop(key, 0)
        if left_out:
            message += f" ({left_out} more like it in the last {self._interval:g} s not logged)"
        self._logger.log(level, message, *args, exc_info=exc_info)  # type: ignore[arg-type]
        return True


def throttle_loop_errors(
    loop: asyncio.AbstractEventLoop, *, interval: float = DEFAULT_INTERVAL
) -> ThrottledLog:
    """Route the event loop's error reports (``accept()`` failing when file descriptors run
    out, a callback raising) through a ``ThrottledLog``: once per interval for each kind."""
    gate = ThrottledLog(logging.getLogger("asyncio"), interval=interval)

    def report(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message") or "event loop error")
        gate.log(logging.ERROR, f"{message}|{type(exc).__name__}", "%s", message, exc_info=exc)

    loop.set_exception_handler(report)
    return gate
