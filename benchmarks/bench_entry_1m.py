"""Budget check: a monthly entry from 1,000,000 PMS transactions, streamed over real HTTP.

DESIGN.md: "Building a monthly entry from 1,000,000 transactions streams pages: under 10 s and
under 150 MB RSS" on the 2-core reference machine.

Everything runs in this one process: the BEX simulator (SimulatorServer on 127.0.0.1), the real
``BexClient`` paging through ``links.next``, and ``daemon.entry_builder.EntryAccumulator``.
The baseline, measured in the same run over the same pages, is a bare loop that only fetches
and ``json.loads`` each page. Because the simulator shares the process, the time it spends
generating and rendering pages is measured too and reported apart ("server share"): a real
PMS does that work on its own machine.

Run: ``.venv/bin/python benchmarks/bench_entry_1m.py [--per-day N] [--page-size N]``.
Prints figures only; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from providers.bex import mapping as m
from providers.bex.client import BexClient
from providers.simulators.base import SimulatorServer
from providers.simulators.bex import BexDataset, create_bex_app

ADMIN = "4101"
KEY = "bench-api-key-000000"
START, END = date(2024, 1, 1), date(2024, 1, 31)


class Timed:
    """ASGI wrapper that adds up the time the simulator spends answering (the server share)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds += time.perf_counter() - started


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_s() -> float:
    """This process's CPU time: steadier than wall time on a machine shared with other work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def baseline(url: str, page_size: int) -> tuple[int, int]:
    """Fetch and json-parse every page, nothing else."""
    records = pages = 0
    params: dict[str, Any] | None = {
        m.TXN_DATE_FILTER: f"{START}..{END}",
        m.PAGE_SIZE_PARAM: page_size,
        m.PAGE_NUMBER_PARAM: 1,
    }
    next_url: str | None = m.path(m.JOURNAL_TRANSACTIONS_PATH, ADMIN)
    async with httpx.AsyncClient(base_url=url, headers={m.API_KEY_HEADER: KEY}) as client:
        while next_url:
            response = await client.get(next_url, params=params)
            doc = json.loads(response.content)
            records += len(doc["data"])
            pages += 1
            next_url, params = doc["links"]["next"], None
    return records, pages


async def build_entry(url: str, page_size: int) -> tuple[int, int, str]:
    """The real path: BexClient pages -> EntryAccumulator (or an inline sum) -> finish."""
    async with BexClient(url, api_key=KEY, page_size=page_size, rate_limit=None) as client:
        accounts = await client.list_ledger_accounts(ADMIN)
        vat_codes = await client.list_vat_codes(ADMIN)
        accumulator, finish, how = make_accumulator(accounts, vat_codes)
        records = pages = 0
        async for page in client.iter_journal_transactions(
            ADMIN, START, END, ledger_accounts=accounts, vat_codes=vat_codes
        ):
            accumulator(page)
            records += len(page)
            pages += 1
        summary = finish()
    return records, pages, f"{how}: {summary}"


def make_accumulator(accounts: list[Any], vat_codes: list[Any]) -> tuple[Any, Any, str]:
    try:
        from daemon.entry_builder import BuildContext, EntryAccumulator
        from daemon.periods import Period
    except ImportError:
        return inline_accumulator()
    ctx = BuildContext(
        configuration_id=1,
        period=Period("monthly", START),
        administration_name="Holiday Park De Veluwe",
        currency="EUR",
        ledger_id="memorial",
        tenant_id=None,
        accounts={a.id: a for a in accounts},
        vat_codes={v.id: v for v in vat_codes},
        no_vat_code="0",
    )
    acc = EntryAccumulator(ctx)

    def finish() -> str:
        draft = acc.finish()
        splits = sum(1 for inv in draft.sources.invoices if inv.date_split)
        return (
            f"{len(draft.lines)} entry lines, debit {draft.totals.debit}, credit "
            f"{draft.totals.credit}, balanced={draft.balanced}, "
            f"{draft.sources.invoice_count:,} invoices ({splits} date splits among those named), "
            f"{len(draft.errors)} errors, {len(draft.warnings)} warnings"
        )

    return acc.add_many, finish, "EntryAccumulator"


def inline_accumulator() -> tuple[Any, Any, str]:
    sums: dict[tuple[str, str | None], list[Any]] = {}

    def add(page: list[Any]) -> None:
        for t in page:
            key = (t.ledger_account_id, t.vat_code_id)
            group = sums.get(key)
            if group is None:
                sums[key] = [t.debit, t.credit]
            else:
                group[0] += t.debit
                group[1] += t.credit

    def finish() -> str:
        debit = sum(g[0] for g in sums.values())
        credit = sum(g[1] for g in sums.values())
        return f"{len(sums)} groups, debit {debit}, credit {credit}"

    return add, finish, "inline sum per (account, VAT)"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=32_300, help="regular lines per day")
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()

    dataset = BexDataset(1, date(2024, 2, 10), volume={ADMIN: args.per_day})
    total = dataset.count(ADMIN, START, END)
    app = Timed(create_bex_app(dataset, api_key=KEY, rate_limit=None))
    print(f"dataset: {total:,} journal transactions in {START:%Y-%m}, page size {args.page_size}")
    print(f"RSS before: {rss_mb():.0f} MB")
    async with SimulatorServer(app, name="bex-bench") as server:
        gc.collect()
        app.seconds = 0.0
        started, cpu0 = time.perf_counter(), cpu_s()
        records, pages = await baseline(server.url, args.page_size)
        base_s, base_cpu = time.perf_counter() - started, cpu_s() - cpu0
        base_server = app.seconds
        base_rss = rss_mb()
        print(
            f"baseline (fetch + json.loads): {records:,} records, {pages} pages in {base_s:.2f} s "
            f"wall, {base_cpu:.2f} s CPU (server share {base_server:.2f} s), "
            f"peak RSS {base_rss:.0f} MB"
        )

        gc.collect()
        app.seconds = 0.0
        started, cpu0 = time.perf_counter(), cpu_s()
        records, pages, summary = await build_entry(server.url, args.page_size)
        full_s, full_cpu = time.perf_counter() - started, cpu_s() - cpu0
        full_server = app.seconds
        full_rss = rss_mb()
        print(
            f"entry (BexClient + accumulator): {records:,} records, {pages} pages in "
            f"{full_s:.2f} s wall, {full_cpu:.2f} s CPU (server share {full_server:.2f} s), "
            f"peak RSS {full_rss:.0f} MB"
        )
        print(f"  {summary}")
    client_base = base_s - base_server
    client_full = full_s - full_server
    print(
        f"ratio entry/baseline: {full_s / base_s:.2f}x wall, {full_cpu / base_cpu:.2f}x CPU, "
        f"{client_full / client_base:.2f}x wall without the simulator's share"
    )
    print(
        f"budget: {full_s:.2f} s of 10 s wall ({full_cpu:.2f} s CPU, {client_full:.2f} s "
        f"outside the simulator), peak RSS {full_rss:.0f} MB of 150 MB"
    )
    if full_s > 1.5 * full_cpu:
        print("note: wall time well above CPU time: other processes were competing for the CPU")


if __name__ == "__main__":
    asyncio.run(main())
