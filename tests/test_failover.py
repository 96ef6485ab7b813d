"""Issue 20's failover test: three daemons on one PostgreSQL database and one sandbox ledger,
300 due periods, a random daemon SIGKILLed every few seconds and started again. Afterwards every
period is posted exactly once, none is missing and no run is left active
(``tests.reliability.failover``; ``make scale-check`` prints the same as one RESULT line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.failover import run_failover
from tests.support.postgres import PostgresServer


@pytest.mark.slow(seconds=150)
@pytest.mark.timeout(600)
def test_every_period_is_posted_exactly_once_while_daemons_are_killed(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    result = run_failover(tmp_path, server=postgres_server, days=25, min_kills=20, log=print)
    assert result.periods == 300 and result.kills >= 20
    assert (result.duplicates, result.missing, result.unsettled) == (0, 0, 0)
    assert result.posted == result.periods
    assert result.problems == [], result.line()
