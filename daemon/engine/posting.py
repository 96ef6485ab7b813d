"""Posting, exactly once across crashes (DESIGN.md): the intent is committed before the provider
is called (run in ``posting`` with its idempotency key and the exact entry), the result right
after (``Outcomes.posted``: entry, period status, run and notification in one transaction).
An ambiguous failure is never retried blind: the entry is looked up before it is sent again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from daemon.engine.outcomes import Outcomes
from daemon.engine.payload import SNAPSHOT, entry_to_json, idempotency_key, payload_hash
from daemon.engine.tracking import RunInFlight, RunTracker
from daemon.followups import FollowUps
from daemon.provider_pool import ProviderPool
from daemon.store.interface import Store
from daemon.store.records import Configuration, JsonObject
from providers.base import JournalEntry, PostedEntry, Provider
from providers.errors import ProviderError

log = logging.getLogger("bexsync.engine")

POST_ATTEMPTS = 4
MAX_INLINE_WAIT = 60.0  # seconds; a longer Retry-After fails the run (the scheduler retries)


class Posting:
    def __init__(
        self,
        *,
        store: Store,
        pool: ProviderPool,
        tracker: RunTracker,
        outcomes: Outcomes,
        followups: FollowUps,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._pool = pool
        self._tracker = tracker
        self._outcomes = outcomes
        self._followups = followups
        self._sleep = sleep

    async def post(
        self, run: RunInFlight, cfg: Configuration, entry: JournalEntry, snapshot: JsonObject
    ) -> None:
        """``snapshot``: the PMS lines the entry was built from and, for a correction, the entry
        it corrects; committed with the intent, so a recovered posting records them too."""
        payload = entry_to_json(entry)
        digest = payload_hash(payload)  # of the entry alone: the provider sees nothing else
        key = idempotency_key(cfg.id, run.period, entry.reference, digest)
        await self._store.runs.mark_posting(
            run.id,
            idempotency_key=key,
            payload_hash=digest,
            payload={**payload, SNAPSHOT: snapshot},
        )
        run.state = "posting"
        self._tracker.report(run, "posting", 0, 1)
        provider = await self._pool.provider_for(cfg.authorisation_id)
        try:
            posted = await self.post_with_retries(provider, entry, key, lookup_first=True)
        except ProviderError as exc:
            if exc.retryable and provider.info.capabilities.async_post:
                # The import may still complete: stay in ``posting`` and look again later.
                await self._store.runs.set_stage(
                    run.id, f"waiting for {provider.info.title} to process the import"
                )
                self._followups.retry_recovery(run.id, exc.retry_after or 60.0)
                return
            raise
        await self._outcomes.posted(run.id, cfg, entry, posted, snapshot)

    async def post_with_retries(
        self, provider: Provider, entry: JournalEntry, key: str, *, lookup_first: bool
    ) -> PostedEntry:
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                if lookup_first:
                    found = await provider.find_entry(
                        entry.reference, entry.tenant_id, entry.ledger_id
                    )
                    if found is not None and found.status == "posted":
                        return found
                    # A pending import (asynchronous providers) is resumed by post_entry with
                    # the same key: it waits on that import instead of submitting another.
                posted = await provider.post_entry(entry, key)
                if posted.status == "posted":
                    return posted
                raise ProviderError(
                    provider.info.id,
                    "unavailable",
                    f"{provider.info.title} is still processing the import",
                    retry_after=60.0,
                )
            except ProviderError as exc:
                if not exc.retryable or attempt == POST_ATTEMPTS:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else 2.0**attempt
                if wait > MAX_INLINE_WAIT:
                    raise
                log.info("provider %s: %s; retrying in %.1fs", exc.provider, exc.kind, wait)
                await self._sleep(wait)
                # After an ambiguous failure the entry may exist: always look before re-posting.
                lookup_first = True
        raise AssertionError("unreachable")
