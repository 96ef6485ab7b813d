"""How many inputs each fuzz target tried, printed as a table at the end of a pytest run.

Fuzz tests call ``tried("target")`` once per generated input; the plugin's terminal summary
prints the totals, so ``pytest -q`` (and ``python -m tests.fuzz_report``) show them. The
``BEXSYNC_FUZZ_SCALE`` environment variable multiplies every fuzz test's example count, so the
same tests run quick in the suite and long in the report.

Under pytest-xdist each worker counts its own inputs and hands them to the controller through
``workeroutput``; the controller adds them up and prints the one table.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

COUNTS: Counter[str] = Counter()
"""Inputs tried per target in this process."""
REFUSED: Counter[str] = Counter()
"""Of those, how many the code under test refused (an error, not a crash)."""


def tried(target: str, *, refused: bool = False) -> None:
    """Count one input for ``target``; ``refused`` when it was (correctly) turned down."""
    COUNTS[target] += 1
    if refused:
        REFUSED[target] += 1


def scale() -> float:
    return float(os.environ.get("BEXSYNC_FUZZ_SCALE", "1"))


def fuzz_settings(examples: int, **kwargs: Any) -> settings:
    """Hypothesis settings for a fuzz test: ``examples`` times the scale, no deadline."""
    return settings(
        max_examples=max(1, int(examples * scale())),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        **kwargs,
    )


def table() -> str:
    """The summary table; empty when no fuzz test ran."""
    if not COUNTS:
        return ""
    width = max(len(t) for t in COUNTS)
    rows = [f"{'target':<{width}}  {'inputs':>7}  {'refused':>7}"]
    rows += [f"{t:<{width}}  {n:>7}  {REFUSED[t]:>7}" for t, n in sorted(COUNTS.items())]
    rows.append(f"{'total':<{width}}  {sum(COUNTS.values()):>7}  {sum(REFUSED.values()):>7}")
    return "\n".join(rows)


WORKER_OUTPUT_KEY = "bexsync_fuzz_counts"


class FuzzCountsPlugin:
    """Registered from tests/conftest.py."""

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: hand the counts to the controller
            workeroutput[WORKER_OUTPUT_KEY] = {"tried": dict(COUNTS), "refused": dict(REFUSED)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: a worker finished; add its counts to this process's."""
        output = (getattr(node, "workeroutput", None) or {}).get(WORKER_OUTPUT_KEY)
        if output:
            COUNTS.update(output["tried"])
            REFUSED.update(output["refused"])

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        text = table()
        if text:
            terminalreporter.write_sep("=", "fuzz inputs tried")
            terminalreporter.write_line(text)
