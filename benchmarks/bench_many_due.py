"""1,000 configurations due at the same moment vs the lower bound the provider's limits allow.

One provider account (the usual case: one ledger, many administrations) with realistic latency
and a documented-style rate limit; the PMS is the BEX simulator over real HTTP. The real daemon
(store, scheduler, engine, entry builder, rate limiter) runs in this process. Lower bound:
the provider calls every run must make, at the limit's pace and concurrency. Goal: achieved
within 1.1x of it. Run: .venv/bin/python benchmarks/bench_many_due.py [configurations]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _result import result  # noqa: E402

from daemon.app import DaemonApp  # noqa: E402
from daemon.config import parse_config  # noqa: E402
from providers import registry  # noqa: E402
from providers.base import (  # noqa: E402
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
from providers.chart import CHART, VAT_CODES  # noqa: E402
from providers.context import ProviderContext  # noqa: E402
from providers.ratelimit import RateLimitSpec  # noqa: E402
from providers.simulators.base import SimulatorServer  # noqa: E402
from providers.simulators.bex import BexDataset, create_bex_app  # noqa: E402
from providers.simulators.bex_dataset import AdministrationSpec  # noqa: E402

LATENCY = 0.030  # seconds per provider call
PMS_RATE = 400  # PMS calls per second allowed in this run
LIMIT = RateLimitSpec(calls=100, per_seconds=1.0, concurrent=8)


class BenchProvider:
    """A provider account with latency and a rate limit, for this benchmark only."""

    info: ClassVar[ProviderInfo] = ProviderInfo(
        id="bench",
        title="Benchmark provider",
        route="direct",
        auth=("none",),
        capabilities=Capabilities(idempotency="key"),
    )
    calls = 0
    posted: ClassVar[dict[str, str]] = {}

    def __init__(self, ctx: ProviderContext) -> None:
        self.limiter = ctx.limiters.limiter("bench:account", LIMIT)

    async def _call(self) -> None:
        async with self.limiter:
            BenchProvider.calls += 1
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


async def main(n: int) -> None:
    registry.register(
        registry.ProviderSpec(info=BenchProvider.info, module=__name__, factory="create")
    )
    now = datetime.now(UTC)
    today = now.date()
    admins = [AdministrationSpec(f"{9000 + i}", f"{i:04d}", f"Park {i}") for i in range(n)]
    dataset = BexDataset(7, today, admins, history_days=3)
    pms = SimulatorServer(create_bex_app(dataset, api_key="bench-key-0001", rate_limit=None))
    url = await pms.start()
    tmp = Path(tempfile.mkdtemp(prefix="bexsync-bench-"))
    # The PMS limit is raised (as BEX does on request) so that the provider's limit binds;
    # PMS_RATE is still counted in the bound below.
    config = parse_config(
        {
            "pms": {"page_size": 1000, "calls_per_15min": PMS_RATE * 900,
                    "calls_per_minute": PMS_RATE * 60},
            "daemon": {"max_concurrent_syncs": 16},
        }
    )  # fmt: skip
    app = DaemonApp(state_dir=tmp / "state", socket_path=tmp / "s.sock", config=config)
    await app.open()
    await app.administrations.pms_connect(url, "bench-key-0001")
    await app.store.db.execute("UPDATE administrations SET access = 1")
    auth = await app.authorisations.create("Bench", "bench", None)
    auth_id = auth["authorisation"]["id"]
    await app.authorisations.activate(auth_id, None)
    yesterday = today - timedelta(days=1)
    for a in await app.administrations.list():
        await app.configurations.create(
            {"authorisation_id": auth_id, "administration_id": a["id"], "frequency": "daily",
             "ledger_id": "BEX", "start_date": yesterday, "end_date": None, "delay_days": 0,
             "automatic": False, "tenant_id": None, "activate": True, "no_vat_code": "NONE"}
        )  # fmt: skip
    # All become automatic at once: every one is due now.
    await app.store.db.execute("UPDATE configurations SET automatic = 1")
    BenchProvider.calls = 0
    t0 = time.monotonic()
    await app.start(serve=False)
    while await app.store.db.fetchval("SELECT count(*) FROM period_status") < n:
        failed = await app.store.db.fetchval("SELECT count(*) FROM runs WHERE state = 'failed'")
        if failed:
            row = await app.store.db.fetchone("SELECT error FROM runs WHERE state = 'failed'")
            raise SystemExit(f"{failed} runs failed: {row['error']}")
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - t0
    calls = BenchProvider.calls
    await app.stop()
    await pms.stop()
    rate_bound = calls / (LIMIT.calls / LIMIT.per_seconds)
    concurrency_bound = calls * LATENCY / (LIMIT.concurrent or 1)
    bound = max(rate_bound, concurrency_bound)
    print(f"{n} configurations due at once: {n} periods posted in {elapsed:.1f}s")
    print(
        f"provider calls: {calls} ({calls / n:.2f} per run); limit {LIMIT.calls} per "
        f"{LIMIT.per_seconds:.0f}s, {LIMIT.concurrent} concurrent, {LATENCY * 1000:.0f} ms each"
    )
    print(f"lower bound from those limits: {bound:.1f}s")
    print(f"achieved/bound: {elapsed / bound:.2f}x (goal <= 1.10x)")
    result(
        "bench_many_due",
        "elapsed",
        f"{elapsed:.1f}s",
        f"{bound:.1f}s",
        elapsed / bound,
        "<=1.10x",
        elapsed / bound <= 1.10,
        configurations=str(n),
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
