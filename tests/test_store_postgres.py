"""The PostgreSQL store's own concerns: its password only from a file (never in the URL, the
logs or ``daemon.status``), a refused login said clearly, daemons that create the schema at
once, and a schema newer than this bexsync refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from daemon.config import parse_config
from daemon.store import StateDirError, StoreUnavailable
from daemon.store.migrations import LATEST_VERSION
from daemon.store.postgres import PostgresStore
from providers.simulators.planted import plant
from tests.support.daemon import demo_daemon
from tests.support.postgres import PostgresServer


def _now() -> datetime:
    return datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def test_the_password_comes_from_its_file_and_is_shown_nowhere(
    tmp_path: Path, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    password = plant("db-password-")  # a leak anywhere in this test's output fails the session
    url = postgres_server.create_password_database(password)
    secret = tmp_path / "db-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    config = {"store": {"url": url, "password_file": str(secret)}}
    async with demo_daemon(tmp_path, config=config) as (_app, client):
        status = await client.call("daemon.status")
        assert status["store"] == url and password not in str(status)

    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    location = parse_config({"store": {"url": url, "password_file": str(wrong)}}).store
    store = location.open_store(tmp_path / "state", _now)
    with pytest.raises(StoreUnavailable, match="password authentication failed"):
        await store.open()
    await store.close()


async def test_daemons_starting_at_once_create_the_schema_once(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database()
    stores = [PostgresStore(url, _now) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        assert await stores[0].db.fetchval("SELECT max(version) FROM schema_version") == (
            LATEST_VERSION
        )
        assert await stores[0].db.fetchval("SELECT count(*) FROM schema_version") == (
            LATEST_VERSION
        )
    finally:
        for s in stores:
            await s.close()


async def test_a_schema_newer_than_this_bexsync_is_refused(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database()
    store = PostgresStore(url, _now)
    await store.open()
    await store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (%s)", (LATEST_VERSION + 1,))
    again = PostgresStore(url, _now)
    with pytest.raises(StateDirError, match="newer than this bexsync"):
        await again.open()
    await again.close()
