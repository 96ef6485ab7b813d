"""The state store: permissions, migrations by version, transactions."""

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from daemon.store.db import DB_NAME, Database, StateDirError, open_database
from daemon.store.errors import Duplicate
from daemon.store.migrations import LATEST_VERSION
from daemon.store.records import Run
from daemon.store.sql.rows import Fields
from daemon.store.sql.seam import Transaction


@contextlib.asynccontextmanager
async def _opened(path: Path, **options: Any) -> AsyncIterator[Database]:
    db = await open_database(path, **options)
    try:
        yield db
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def _written_at_version(path: Path, version: int) -> AsyncIterator[Transaction]:
    """One transaction on a new database at the older schema ``version``, holding configuration
    1 already; committed and closed at the end of the block."""
    async with _opened(path, target_version=version) as db, db.transaction() as conn:
        await _configuration_1(conn)
        yield conn


async def _configuration_1(conn: Transaction) -> None:
    """Configuration 1 (monthly, 3 days' delay, manual) with its administration and login, as
    the columns every schema version has hold them."""
    await conn.execute(
        "INSERT INTO administrations VALUES ('a1', '101', 'Park', 'EUR', 'Europe/Amsterdam', 1)"
    )
    await conn.execute(
        "INSERT INTO authorisations (id, name, provider, status, created_at, updated_at) "
        "VALUES (1, 'Books', 'sandbox', 'active', 'now', 'now')"
    )
    await conn.execute(
        "INSERT INTO configurations (id, authorisation_id, administration_id, frequency, "
        "ledger_id, start_date, delay_days, automatic, active, created_at, updated_at) "
        "VALUES (1, 1, 'a1', 'monthly', 'MEM', '2026-01-01', 3, 0, 1, 'now', 'now')"
    )


async def test_new_database_is_private_and_at_latest_version(tmp_path):
    state = tmp_path / "state"
    async with _opened(state) as db:
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE((state / DB_NAME).stat().st_mode) == 0o600
        assert await db.version() == LATEST_VERSION
        assert await db.fetchval("PRAGMA journal_mode") == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1


async def test_upgrade_marks_runs_a_stop_cancelled_as_interrupted(tmp_path):
    """Before version 4 a stop's cancelled run had no kind and its period never ran again."""
    async with _written_at_version(tmp_path, 3) as conn:
        for run_id, error in ((1, "interrupted: the daemon shut down before posting"), (2, "x")):
            await conn.execute(
                "INSERT INTO runs (id, configuration_id, period, trigger, state, error, "
                "created_at) VALUES (?, 1, '2026-01', 'schedule', 'cancelled', ?, 'now')",
                (run_id, error),
            )
    async with _opened(tmp_path) as db:
        kinds = await db.fetchall("SELECT id, error_kind FROM runs ORDER BY id")
        assert [tuple(r) for r in kinds] == [(1, "interrupted"), (2, None)]


async def test_upgrade_from_version_1_keeps_data(tmp_path):
    async with _written_at_version(tmp_path, 1) as conn:
        await conn.execute(
            "INSERT INTO entries (configuration_id, administration_number, period, reference, "
            "date, provider, external_id, total, line_count, lines, posted_at) VALUES "
            "(1, '101', '2026-01', 'bexsync:1:2026-01', '2026-01-31', 'sandbox', '7', '10.00', "
            "2, '[]', 'now')"
        )
    async with _opened(tmp_path) as db:
        assert await db.version() == LATEST_VERSION
        row = await db.fetchone("SELECT * FROM configurations WHERE id = 1")
        assert row["delay_days"] == 3 and row["account_map"] == "{}"
        status = await db.fetchone("SELECT * FROM period_status")
        assert (status["period"], status["status"]) == ("2026-01", "posted")
        assert await db.fetchval("SELECT count(*) FROM entries") == 1


async def test_a_failed_transaction_changes_nothing(tmp_path):
    async with _opened(tmp_path) as db:
        with pytest.raises(Duplicate):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO administrations VALUES ('a1', '1', 'P', 'EUR', 'UTC', 1)"
                )
                await conn.execute(
                    "INSERT INTO administrations VALUES ('a1', '1', 'P', 'EUR', 'UTC', 1)"
                )
        assert await db.fetchval("SELECT count(*) FROM administrations") == 0


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
async def test_a_writer_cancelled_while_it_begins_leaves_no_transaction_open(tmp_path, steps):
    """A daemon stopping cancels runs at any await: also while their BEGIN is on the writer's
    thread. The next writer must still get a transaction of its own, and nothing half-done."""
    async with _opened(tmp_path) as db:

        async def writer() -> None:
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO administrations VALUES ('a1', '1', 'P', 'EUR', 'UTC', 1)"
                )

        task = asyncio.create_task(writer())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.execute("INSERT INTO administrations VALUES ('a2', '2', 'Q', 'EUR', 'UTC', 1)")
        ids = [r[0] for r in await db.fetchall("SELECT id FROM administrations ORDER BY id")]
        assert ids in (["a2"], ["a1", "a2"])  # the cancelled one wholly or not at all


async def test_newer_schema_is_refused(tmp_path):
    db = await open_database(tmp_path)
    await db.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    await db.close()
    with pytest.raises(StateDirError, match="newer than this bexsync"):
        await open_database(tmp_path)


async def test_symlinked_state_dir_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    os.symlink(real, link)
    with pytest.raises(StateDirError, match="symbolic link"):
        await open_database(link)


def test_a_record_table_naming_a_field_the_record_lacks_fails_at_once():
    """A typo in ``rows.py``'s tables fails at import, not at the first read of such a row."""
    with pytest.raises(TypeError, match="colour"):
        Fields(Run, colour=str)
