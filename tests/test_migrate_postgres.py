"""``bexsyncd migrate --to postgresql://...``: a SQLite state moved to PostgreSQL, checked by
counts, secrets still sealed, and a daemon on the new database carries on where it stopped."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from daemon.migrate_cli import main as migrate
from daemon.migrate_cli import migrate as migrate_now
from daemon.secret_key import default_key_path
from tests.support.daemon import demo_daemon, wait_run
from tests.support.postgres import PostgresServer


async def test_a_sqlite_state_moves_to_postgresql_and_a_daemon_carries_on(
    tmp_path: Path, postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with demo_daemon(tmp_path / "old", config={"store": {}}) as (app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        run = await client.call("syncs.run", {"configuration_id": manual["id"]})
        assert (await wait_run(client, run["run_id"]))["state"] == "posted"
        entries = await client.call("entries.list", {"limit": 1000})
        db = app.store.db  # type: ignore[attr-defined]
        sealed = await db.fetchval("SELECT api_key FROM pms_connection")  # the PMS key, sealed
    url = postgres_server.create_database()
    state = tmp_path / "old" / "state"

    assert await migrate_now(url, None, state) == 0
    printed = capsys.readouterr().out
    assert "MISMATCH" not in printed and f"copied to {url}" in printed
    copied = {
        line.split()[0]: int(line.split()[1]) for line in printed.splitlines() if "->" in line
    }
    assert copied["entries"] >= len(entries) >= 1 and copied["pms_connection"] == 1
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT api_key FROM pms_connection").fetchone()
        assert row is not None and row[0] == sealed  # copied as stored: still sealed

    # seed: the demo's PMS simulator again (it stopped with the old daemon), nothing re-seeded
    # the key that sealed the old state, as every host of the new database needs it
    key = default_key_path(state)
    config = {"store": {"url": url}, "daemon": {"encryption_key_file": str(key)}}
    async with demo_daemon(tmp_path / "new", config=config) as (_app, client):
        after = await client.call("daemon.status")
        for name in ("entries", "configurations", "authorisations", "administrations"):
            assert after["counts"][name] == copied[name]
        moved = {e["id"]: e for e in await client.call("entries.list", {"limit": 1000})}
        assert all(moved[e["id"]] == e for e in entries)
        # New rows continue after the copied ids, and a sync still works with the moved login.
        run = await client.call("syncs.run", {"configuration_id": manual["id"]})
        assert run["run_id"] > max(e["run_id"] or 0 for e in entries)
        assert (await wait_run(client, run["run_id"]))["state"] == "posted"

    # A second copy would overwrite a state: refused, nothing changed.
    assert await migrate_now(url, None, state) == 1
    assert "already holds" in capsys.readouterr().err


def test_a_password_in_the_url_is_refused_without_repeating_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrate(["--to", "postgresql://u:hunter2-pw@h/db", "--state-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "password_file" in err and "hunter2-pw" not in err
