"""A provider account with latency and a rate limit, for bench_many_due only, and the runner
that starts the real daemon with it registered.

``python benchmarks/_bench_provider.py <bexsyncd args>``: registers the ``bench`` provider (the
way every adapter registers, through ``providers.registry``), then runs ``bexsyncd``'s own
``main``. After each call it writes how many it has served to ``$BENCH_CALLS_FILE``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from providers.base import (
    Account,
    Capabilities,
    JournalEntry,
    Ledger,
    PostedEntry,
    ProviderInfo,
    TaxCode,
    Tenant,
    VerifyResult,
)
from providers.chart import CHART, VAT_CODES
from providers.context import ProviderContext
from providers.ratelimit import RateLimitSpec

LATENCY = 0.030  # seconds per provider call
LIMIT = RateLimitSpec(calls=100, per_seconds=1.0, concurrent=8)


class BenchProvider:
    """Every call waits for the account's rate limiter, then takes LATENCY."""

    info: ClassVar[ProviderInfo] = ProviderInfo(
        id="bench",
        title="Benchmark provider",
        route="direct",
        auth=("none",),
        capabilities=Capabilities(idempotency="key"),
    )
    calls = 0
    calls_file: ClassVar[Path | None] = None
    posted: ClassVar[dict[str, str]] = {}

    def __init__(self, ctx: ProviderContext) -> None:
        self.limiter = ctx.limiters.limiter("bench:account", LIMIT)

    async def _call(self) -> None:
        async with self.limiter:
            BenchProvider.calls += 1
            if self.calls_file is not None:
                self.calls_file.write_text(str(BenchProvider.calls))
            await asyncio.sleep(LATENCY)

    async def verify(self) -> VerifyResult:
        return VerifyResult(True, "ok", (Tenant("t", "Bench"),))

    async def list_tenants(self) -> list[Tenant]:
        return [Tenant("t", "Bench")]

    async def list_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        return [Ledger("BEX", "BEX", "Bench journal")]

    async def list_accounts(self, tenant_id: str | None) -> list[Account]:
        await self._call()
        return [Account(code, name) for code, name in CHART]

    async def list_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        await self._call()
        return [TaxCode(code, name, Decimal(rate)) for code, name, rate in VAT_CODES]

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        await self._call()
        self.posted.setdefault(entry.reference, idempotency_key)
        return PostedEntry(idempotency_key, entry.reference)

    async def find_entry(self, reference: str, tenant_id: object, ledger_id: object) -> None:
        await self._call()
        return None

    async def aclose(self) -> None:
        return None


def create(ctx: ProviderContext) -> BenchProvider:
    return BenchProvider(ctx)


def run_daemon(argv: list[str]) -> None:
    from daemon import main
    from providers import registry

    spec = registry.ProviderSpec(info=BenchProvider.info, module=__name__, factory="create")
    registry.register(spec)
    calls_file = os.environ.get("BENCH_CALLS_FILE")
    BenchProvider.calls_file = Path(calls_file) if calls_file else None
    main.main(argv)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _bench_provider  # one copy of the module: the registry imports it by this name

    _bench_provider.run_daemon(sys.argv[1:])
