"""Run bexsyncd with a pause at one named point of a posting, so a test can SIGKILL it there.

Usage: python -m tests.support.kill_harness POINT MARKER_FILE -- <bexsyncd args>
The pause writes MARKER_FILE and sleeps; the test kills the process. Only test code patches here:
the daemon itself has no test branches.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from daemon import main
from daemon.engine import outcomes
from providers import sandbox

POINTS = ("before_call", "during_call", "after_call", "after_commit")
CORRECTION_POINTS = ("correction_after_call", "correction_after_commit")
"""The same, for a correcting entry only (its reference ends in ``:c<n>``)."""


def pause(marker: Path) -> None:
    marker.write_text("here")
    while True:
        time.sleep(3600)


def install(point: str, marker: Path) -> None:
    if point == "before_call":
        original = sandbox.SandboxProvider.post_entry

        async def post_entry(self, entry, key):  # type: ignore[no-untyped-def]
            pause(marker)
            return await original(self, entry, key)

        sandbox.SandboxProvider.post_entry = post_entry  # type: ignore[method-assign]
    elif point == "during_call":
        original_post = sandbox.SandboxLedger.post

        def post(self, entry, key):  # type: ignore[no-untyped-def]
            result = original_post(self, entry, key)
            pause(marker)  # the ledger has it; the daemon never hears back
            return result

        sandbox.SandboxLedger.post = post  # type: ignore[method-assign]
    elif point == "after_call":
        original_record = outcomes.Outcomes.posted

        async def record(self, run_id, cfg, entry, posted, snapshot=None):  # type: ignore[no-untyped-def]
            pause(marker)
            return await original_record(self, run_id, cfg, entry, posted, snapshot)

        outcomes.Outcomes.posted = record  # type: ignore[method-assign]
    elif point == "after_commit":
        original_record = outcomes.Outcomes.posted

        async def record(self, run_id, cfg, entry, posted, snapshot=None):  # type: ignore[no-untyped-def]
            await original_record(self, run_id, cfg, entry, posted, snapshot)
            await asyncio.sleep(0)
            pause(marker)

        outcomes.Outcomes.posted = record  # type: ignore[method-assign]
    elif point in CORRECTION_POINTS:
        original_record = outcomes.Outcomes.posted
        after_commit = point == "correction_after_commit"

        async def record(self, run_id, cfg, entry, posted, snapshot=None):  # type: ignore[no-untyped-def]
            if ":c" not in entry.reference:
                return await original_record(self, run_id, cfg, entry, posted, snapshot)
            if after_commit:
                await original_record(self, run_id, cfg, entry, posted, snapshot)
                await asyncio.sleep(0)
            pause(marker)  # the provider holds the correction; the daemon dies here

        outcomes.Outcomes.posted = record  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown point {point}; one of {POINTS + CORRECTION_POINTS}")


if __name__ == "__main__":
    point, marker = sys.argv[1], Path(sys.argv[2])
    assert sys.argv[3] == "--"
    install(point, marker)
    main.main(sys.argv[4:])
