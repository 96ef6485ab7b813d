"""Run the BEX simulator in its own process, as a benchmark's stand-in for the remote PMS.

In production BEX is another machine: its page rendering overlaps with the client's parsing
(the client prefetches the next page). Serving from a child process reproduces that overlap on
one machine. ``start_bex_process`` returns the base URL and the ``Popen``; the child prints its
URL on stdout, serves until its stdin closes, then prints its own CPU seconds and exits.

Run by hand: ``.venv/bin/python benchmarks/_bex_server.py --per-day 32300 --admin 4101``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from providers.simulators.base import SimulatorServer  # noqa: E402
from providers.simulators.bex import BexDataset, create_bex_app  # noqa: E402

TODAY = date(2024, 2, 10)


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _serve(admin: str, per_day: int, api_key: str) -> None:
    dataset = BexDataset(1, TODAY, volume={admin: per_day})
    app = create_bex_app(dataset, api_key=api_key, rate_limit=None)
    async with SimulatorServer(app, name="bex-bench-process") as server:
        print(server.url, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # EOF: the parent is done
    print(f"cpu {process_cpu_s():.3f}", flush=True)


def start_bex_process(admin: str, per_day: int, api_key: str) -> tuple[str, subprocess.Popen[str]]:
    """Start the simulator process and wait for its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--admin",
            admin,
            "--per-day",
            str(per_day),
            "--api-key",
            api_key,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise RuntimeError(f"the simulator process did not start (said {url!r})")
    return url, proc


def stop_bex_process(proc: subprocess.Popen[str]) -> float:
    """Stop the simulator process; its CPU seconds (0.0 when it did not say)."""
    out, _ = proc.communicate(input="", timeout=30)
    for line in out.splitlines():
        if line.startswith("cpu "):
            return float(line.split()[1])
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin", default="4101")
    parser.add_argument("--per-day", type=int, default=32_300)
    parser.add_argument("--api-key", default="bench-api-key-000000")
    args = parser.parse_args()
    asyncio.run(_serve(args.admin, args.per_day, args.api_key))


if __name__ == "__main__":
    main()
