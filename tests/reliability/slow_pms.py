"""The simulated BEX PMS with every answer late by ``--delay`` seconds: runs that take long
enough for a SIGKILL to land while they fetch (``tests.reliability.failover``)."""

from __future__ import annotations

import argparse
from datetime import date

import uvicorn

from providers.simulators.bex import BexDataset, create_bex_app
from providers.simulators.faults import Fault, FaultPlan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--today", type=date.fromisoformat, required=True)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    faults = FaultPlan([Fault.slow(args.delay, fraction=1.0)]) if args.delay > 0 else None
    app = create_bex_app(
        BexDataset(args.seed, args.today), api_key=args.api_key, faults=faults, rate_limit=None
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
