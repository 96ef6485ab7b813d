"""After a crash or a stop: runs interrupted before posting sent nothing and are recorded as
failed (the scheduler syncs their periods again); runs left in ``posting`` are resolved by
looking their reference up, replaying with the same key, or handing them to a human."""

from __future__ import annotations

import logging

from daemon.engine.outcomes import Outcomes
from daemon.engine.payload import SNAPSHOT, entry_from_json
from daemon.followups import FollowUps
from daemon.model import INTERRUPTED_KIND
from daemon.provider_pool import ProviderPool
from daemon.services.configurations import find_configuration
from daemon.store.errors import StoreUnavailable
from daemon.store.interface import Store
from daemon.store.records import PostingRun
from providers.errors import ProviderError

log = logging.getLogger("bexsync.engine")

RECOVERY_RETRY = 30.0  # seconds before a run whose result could not be recorded is looked up again


class Recovery:
    def __init__(
        self, *, store: Store, pool: ProviderPool, outcomes: Outcomes, followups: FollowUps
    ) -> None:
        self._store = store
        self._pool = pool
        self._outcomes = outcomes
        self._followups = followups

    async def recover(self) -> None:
        """Runs a crash or restart interrupted before posting: nothing reached the provider.
        Quick; done before the daemon serves."""
        for run in await self._store.runs.interrupted():
            await self._outcomes.failed(
                run.id,
                "failed",
                "interrupted by a daemon restart before posting; nothing was posted",
                None,
                kind=INTERRUPTED_KIND,  # the scheduler runs the period again at once
            )

    async def recover_posting(self) -> None:
        """Runs left in ``posting``. May wait on a provider (an asynchronous import), so it runs
        while the daemon already serves, and before the scheduler starts new runs."""
        for posting in await self._store.runs.posting():
            try:
                await self._resolve(posting)
            except Exception:  # one run must not leave the others in posting for good
                log.exception("run %s: recovery failed; retrying later", posting.run.id)
                self._followups.retry_recovery(posting.run.id, RECOVERY_RETRY)

    async def recover_one(self, run_id: int) -> None:
        """Look one run's posting up again (the scheduler asks, after a delay)."""
        posting = await self._store.runs.posting_run(run_id)
        if posting is not None:
            try:
                await self._resolve(posting)
            except StoreUnavailable as exc:  # disk full, I/O error: try again later
                log.warning("run %s: recovery not recorded (%s); retrying", run_id, exc)
                self._followups.retry_recovery(run_id, RECOVERY_RETRY)

    async def _resolve(self, posting: PostingRun) -> None:
        run = posting.run
        cfg = await find_configuration(self._store, run.configuration_id)
        entry = entry_from_json(posting.payload)
        try:
            provider = await self._pool.provider_for(cfg.authorisation_id)
            found = await provider.find_entry(entry.reference, entry.tenant_id, entry.ledger_id)
            if found is not None and found.status != "posted":
                found = None  # still processing: post_entry with the same key waits for it
            elif found is None and provider.info.capabilities.idempotency == "none":
                await self._outcomes.failed(
                    run.id,
                    "needs_review",
                    f"The daemon stopped while posting {entry.reference}, and "
                    f"{cfg.provider} offers no way to check whether it arrived. Check the "
                    "ledger: if the entry is missing, run the period again.",
                    None,
                    kind="unknown",
                )
                return
            if found is None:
                found = await provider.post_entry(entry, posting.idempotency_key)
            if found.status != "posted":
                raise ProviderError(
                    provider.info.id, "unavailable", "the import is still being processed"
                )
        except ProviderError as exc:
            if not exc.retryable:
                await self._outcomes.failed(run.id, "failed", exc.message, exc)
                return
            log.warning("run %s: recovery deferred: %s", run.id, exc.message)
            self._followups.retry_recovery(run.id, exc.retry_after or 60.0)
            return
        await self._outcomes.posted(run.id, cfg, entry, found, posting.payload.get(SNAPSHOT))
