"""Budget check: a monthly entry from 1,000,000 PMS transactions, streamed over real HTTP.

DESIGN.md: "Building a monthly entry from 1,000,000 transactions streams pages: under 10 s and
under 150 MB RSS" on the 2-core reference machine.

Main figure: the BEX simulator runs in its own process (``_bex_server.py``), as BEX runs on its
own machine in production, so the client's next-page prefetch overlaps with the server's
rendering. The real ``BexClient`` pages through ``links.next`` into
``daemon.entry_builder.EntryAccumulator``. Baseline, same run, same pages: a bare loop that only
fetches each page (httpx, one kept-alive connection) and decodes it with ``orjson.loads``.
Figures: wall time, this process's CPU, the simulator process's CPU, peak RSS of this process.

Second figure (``--in-process``, on by default): the simulator in this process too, as in the
demo; then one core does both sides' work, and the simulator's ASGI time is reported apart.

Run: ``.venv/bin/python benchmarks/bench_entry_1m.py [--per-day N] [--page-size N] [--rounds N]
[--no-in-process]``. Prints figures and one RESULT line; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from _bex_server import TODAY, start_bex_process, stop_bex_process
from _result import result

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


BUDGET_S, BUDGET_MB = 10.0, 150.0


def rss_mb() -> float:
    """Peak RSS of this process since the last ``reset_peak_rss`` (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def reset_peak_rss() -> None:
    """Reset VmHWM (Linux: write 5 to clear_refs) so each phase reports its own peak."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def cpu_s() -> float:
    """This process's CPU time: steadier than wall time on a machine shared with other work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def baseline(url: str, page_size: int) -> tuple[int, int]:
    """Fetch and decode every page (orjson, as the client's fallback path), nothing else."""
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
            doc = orjson.loads(response.content)
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


class Phase:
    """Wall, CPU and peak RSS of one measured phase."""

    def __init__(self) -> None:
        gc.collect()
        reset_peak_rss()
        self.wall0, self.cpu0 = time.perf_counter(), cpu_s()
        self.wall = self.cpu = self.rss = 0.0

    def stop(self) -> Phase:
        self.wall, self.cpu = time.perf_counter() - self.wall0, cpu_s() - self.cpu0
        self.rss = rss_mb()
        return self


async def separate_process(args: argparse.Namespace) -> tuple[Phase, Phase]:
    """Simulator in its own process: baseline loop and the real path, interleaved ``rounds``
    times; the fastest of each is kept (a noisy neighbour on the machine only adds time)."""
    url, proc = start_bex_process(ADMIN, args.per_day, KEY)
    bases: list[Phase] = []
    fulls: list[Phase] = []
    try:
        # warm the simulator's per-day caches so neither run pays for them alone
        await baseline(url, args.page_size)
        for round_ in range(1, args.rounds + 1):
            phase = Phase()
            records, pages = await baseline(url, args.page_size)
            base = phase.stop()
            bases.append(base)
            print(
                f"  round {round_} baseline (fetch + orjson.loads): {records:,} records, {pages} "
                f"pages in {base.wall:.2f} s wall, client CPU {base.cpu:.2f} s, "
                f"peak RSS {base.rss:.0f} MB"
            )
            phase = Phase()
            records, pages, summary = await build_entry(url, args.page_size)
            full = phase.stop()
            fulls.append(full)
            print(
                f"  round {round_} entry (BexClient + accumulator): {records:,} records, {pages} "
                f"pages in {full.wall:.2f} s wall, client CPU {full.cpu:.2f} s, "
                f"peak RSS {full.rss:.0f} MB"
            )
        print(f"    {summary}")
    finally:
        server_cpu = stop_bex_process(proc)
    passes = 1 + 2 * args.rounds
    print(
        f"  simulator process CPU: {server_cpu:.2f} s over {passes} passes "
        f"({server_cpu / passes:.2f} s a pass)"
    )
    best_base, best_full = min(bases, key=lambda p: p.wall), min(fulls, key=lambda p: p.wall)
    best_full.rss = max(p.rss for p in fulls)  # memory: the worst round counts
    return best_base, best_full


async def in_process(args: argparse.Namespace) -> Phase:
    """Simulator in this process (as in the demo): one core serves and builds."""
    dataset = BexDataset(1, TODAY, volume={ADMIN: args.per_day})
    app = Timed(create_bex_app(dataset, api_key=KEY, rate_limit=None))
    dataset.count(ADMIN, START, END)  # warm the per-day plans, as the other process's warm-up
    async with SimulatorServer(app, name="bex-bench") as server:
        app.seconds = 0.0
        phase = Phase()
        records, _pages, _ = await build_entry(server.url, args.page_size)
        full = phase.stop()
    print(
        f"  entry, simulator in this process: {records:,} records in {full.wall:.2f} s wall, "
        f"{full.cpu:.2f} s CPU, of which the simulator's ASGI app {app.seconds:.2f} s; "
        f"{full.wall - app.seconds:.2f} s outside the simulator"
    )
    return full


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=32_300, help="regular lines per day")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds, best kept")
    parser.add_argument("--no-in-process", dest="in_process", action="store_false")
    args = parser.parse_args()

    total = BexDataset(1, TODAY, volume={ADMIN: args.per_day}).count(ADMIN, START, END)
    print(f"dataset: {total:,} journal transactions in {START:%Y-%m}, page size {args.page_size}")
    print(
        f"simulator in its own process (production-like: BEX is another machine), "
        f"best of {args.rounds} rounds:"
    )
    base, full = await separate_process(args)
    extra = {}
    if args.in_process:
        print("simulator in this process (demo-like, one core does both sides):")
        extra["in_process_wall"] = f"{(await in_process(args)).wall:.2f}s"
    print(
        f"ratio entry/baseline: {full.wall / base.wall:.2f}x wall, "
        f"{full.cpu / base.cpu:.2f}x client CPU"
    )
    print(
        f"budget: {full.wall:.2f} s of {BUDGET_S:.0f} s wall, peak RSS {full.rss:.0f} MB of "
        f"{BUDGET_MB:.0f} MB"
    )
    if full.wall > 1.5 * full.cpu + 2:
        print("note: wall time well above CPU time: other processes were competing for the CPU")
    result(
        "bench_entry_1m",
        "wall",
        f"{full.wall:.2f}s",
        f"{base.wall:.2f}s",
        full.wall / base.wall,
        f"<{BUDGET_S:.0f}s,<{BUDGET_MB:.0f}MB",
        full.wall < BUDGET_S and full.rss < BUDGET_MB,
        rss=f"{full.rss:.0f}MB",
        client_cpu=f"{full.cpu:.2f}s",
        **extra,
    )


if __name__ == "__main__":
    asyncio.run(main())
