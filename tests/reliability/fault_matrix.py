"""Run the whole fault matrix and the SIGKILL series; print the counts (RELIABILITY.md).

    python -m tests.reliability.fault_matrix [--iterations N] [--providers a,b] [--faults ...]
        [--kills 200] [--seed S]

Exit status 0 when every invariant held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from tests.reliability.matrix import (
    FAULTS,
    ScenarioResult,
    disk_full_method,
    run_disk_full,
    run_provider,
    table,
)
from tests.reliability.rig import PROVIDERS
from tests.reliability.sigkill import run_series, summary


def _ids(text: str, known: tuple[str, ...], what: str) -> list[str]:
    ids = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in ids if x not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.fault_matrix")
    parser.add_argument("--iterations", type=int, default=3, help="scenarios per cell")
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--kills", type=int, default=200, help="SIGKILL iterations (0: none)")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    providers = _ids(args.providers, PROVIDERS, "provider")
    faults = _ids(args.faults, FAULTS, "fault")
    # The daemon logs every failed sync at ERROR: that is the matrix working, not news.
    logging.basicConfig(level=logging.CRITICAL)
    started = time.monotonic()
    results: list[ScenarioResult] = []
    method = disk_full_method() if "disk_full" in faults else ""
    with tempfile.TemporaryDirectory(prefix="bexsync-matrix-") as tmp:
        work = Path(tmp)
        for provider in providers:
            t = time.monotonic()
            results += asyncio.run(run_provider(provider, faults, args.iterations, work))
            if "disk_full" in faults:
                results += run_disk_full(provider, args.iterations, work, method)
            print(f"# {provider}: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
        print(table(results))
        print(f"disk full method: {method or 'not run'}")
        ok = not any(r.problems() for r in results)
        if args.kills:
            series = run_series(args.kills, work / "sigkill", seed=args.seed)
            print(summary(series))
            ok = ok and series.ok()
    print(f"total {time.monotonic() - started:.0f} s; {'ALL INVARIANTS HELD' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
