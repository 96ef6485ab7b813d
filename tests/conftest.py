"""Session-wide plugins for the whole suite: fuzz input counts and the planted-secret scan, and
the order that keeps a parallel (pytest-xdist) run short."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fuzz_counts import FuzzCountsPlugin
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.secret_scan import SecretScanPlugin


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(FuzzCountsPlugin(), "bexsync-fuzz-counts")
    config.pluginmanager.register(SecretScanPlugin(config), "bexsync-secret-scan")


def _longest_first(item: pytest.Item) -> tuple[bool, float]:
    slow = item.get_closest_marker("slow")
    return slow is None, -float(slow.kwargs.get("seconds", 0)) if slow else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` first, longest (``slow(seconds=N)``) first: under xdist they are
    dealt out to the workers at once while the quick ones fill the gaps, instead of one of them
    starting last and running alone at the end. (A stable sort, the same on every worker.)"""
    items.sort(key=_longest_first)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL per test process (initdb + pg_ctl, Unix socket only); each test that
    uses it makes a database of its own (``create_database``)."""
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test once per store backend: the daemons ``demo_daemon`` starts use SQLite,
    then a new database of the session's PostgreSQL. Use it with
    ``pytestmark = pytest.mark.usefixtures("store_backend")``."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        monkeypatch.setattr("tests.support.daemon.STORE_URL", server.create_database())
    return str(request.param)
