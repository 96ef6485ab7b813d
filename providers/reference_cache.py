"""Reference data (journals, accounts, VAT codes) read once and kept briefly per authorisation.

Configuring and syncing ask the same questions several times in a minute (the options form,
the engine's chart check, the adapter's own checks before posting); providers meter every
call, so each list is read once and answered from memory for a few minutes. Concurrent askers
share one read. A refusal built on a cached list re-reads it first (``fresh``), so an account
added at the provider a moment ago is never refused for staleness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

REFERENCE_TTL = 300.0  # seconds a list is answered from memory


class ReferenceCache:
    def __init__(
        self, ttl: float = REFERENCE_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}

    async def get(
        self, key: Hashable, load: Callable[[], Awaitable[T]], *, fresh: bool = False
    ) -> T:
        """The cached value of ``key``, or ``load()``'s (once, for every concurrent caller)."""
        if not fresh:
            kept = self._values.get(key)
            if kept is not None and self._clock() < kept[0]:
                value: T = kept[1]
                return value
        while (pending := self._loading.get(key)) is not None:
            try:
                shared: T = await asyncio.shield(pending)
                return shared
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # the caller that was loading it was cancelled, not this one: load it here
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            loaded = await load()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the callers sharing it re-raise it themselves
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            self._values[key] = (self._clock() + self.ttl, loaded)
            future.set_result(loaded)
            return loaded
        finally:
            del self._loading[key]

    def forget(self) -> None:
        self._values.clear()
