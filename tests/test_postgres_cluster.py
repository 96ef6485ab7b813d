"""Several daemons on one PostgreSQL database (issue 20): what a user of any of them notices.

Two real daemons in this process share one database of the session's PostgreSQL and one
sandbox ledger file; each has its own state dir and socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bexsync_tui.app import BexsyncApp
from bexsync_tui.cli import _print_status
from bexsync_tui.client import Client, ReconnectingClient
from daemon.app import DaemonApp
from daemon.config import parse_config
from daemon.demo import seed_demo
from daemon.store.postgres import PostgresStore
from daemon.store.postgres.coordination import PgCoordination
from providers.tokens import SecretBox
from tests.support.postgres import PostgresServer
from tests.support.waiting import until, until_async
from tests.test_store_contract import configured
from tests.tui.helpers import record_toasts, wait_toast, wait_until


@contextlib.asynccontextmanager
async def daemon(
    tmp: Path, name: str, url: str, *, seed: bool = False
) -> AsyncIterator[tuple[DaemonApp, Client]]:
    key = tmp / "shared.key"  # every daemon on one database seals with the same key
    if not key.exists():
        key.write_bytes(SecretBox.generate_key())
        key.chmod(0o600)
    config = {
        "daemon": {"encryption_key_file": str(key)},
        "pms": {"page_size": 1000},
        "store": {"url": url, "lease_seconds": 5},
        "providers": {"sandbox": {"ledger_file": str(tmp / "shared-ledger.sqlite3")}},
    }
    app = DaemonApp(
        state_dir=tmp / name, socket_path=tmp / f"{name}.sock", config=parse_config(config)
    )
    await app.open()
    if seed:
        await seed_demo(app)
    await app.start()
    client = Client()
    await client.connect(str(app.socket_path))
    try:
        yield app, client
    finally:
        await client.aclose()
        await app.stop()


@contextlib.asynccontextmanager
async def two_daemons(
    tmp: Path, url: str
) -> AsyncIterator[tuple[tuple[DaemonApp, Client], tuple[DaemonApp, Client]]]:
    """Daemon A (the demo's data seeded through it) and daemon B, on one database."""
    async with daemon(tmp, "a", url, seed=True) as a, daemon(tmp, "b", url) as b:
        yield a, b


async def _age_heartbeat(store: PostgresStore, daemon_id: str) -> None:
    """The daemon's last heartbeat a minute older: long past the lease (5 s here)."""
    await store.db.execute(
        "UPDATE daemons SET heartbeat_at = heartbeat_at - 60 WHERE id = ?", (daemon_id,)
    )


async def _fall_silent(silent: DaemonApp, *, taken_over_by: DaemonApp) -> None:
    """``silent`` stops beating (frozen, cut off) with its last heartbeat long ago; its peer's
    next beat takes its leases over and settles its runs."""
    for task in silent.cluster._tasks:
        task.cancel()
    store = taken_over_by.store
    assert isinstance(store, PostgresStore)
    await _age_heartbeat(store, silent.instance_id)
    await taken_over_by.cluster.beat()


async def test_a_client_of_one_daemon_sees_a_run_that_another_daemon_executes(
    tmp_path: Path, postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_server.create_database()
    async with two_daemons(tmp_path, url) as ((app_a, client_a), (app_b, client_b)):
        events: list[tuple[str, dict[str, Any]]] = []
        client_a.on_event(lambda topic, data: events.append((topic, data)))
        await client_a.subscribe(["sync.progress", "sync.finished"])
        status = await client_a.call("daemon.status")
        assert status["store"] == url
        alive = {d["id"]: d for d in status["daemons"] if d["alive"]}
        assert set(alive) == {app_a.instance_id, app_b.instance_id}
        assert alive[app_a.instance_id]["this"] and not alive[app_b.instance_id]["this"]
        _print_status(status)  # `bexsync status`
        shown = capsys.readouterr().out
        assert f"store {url}" in shown and f"{app_b.instance_id[:8]} " in shown
        assert shown.count(" alive heartbeat ") == 2 and "(this one)" in shown

        manual = next(c for c in await client_b.call("configurations.list") if not c["automatic"])
        run = await client_b.call("syncs.run", {"configuration_id": manual["id"]})
        run_id = run["run_id"]

        def finished() -> dict[str, Any] | None:
            return next(
                (d for t, d in events if t == "sync.finished" and d["run_id"] == run_id), None
            )

        done = await until(finished, "daemon A's client to hear daemon B's run finish")
        assert done["state"] == "posted" and done["configuration_id"] == manual["id"]
        assert any(t == "sync.progress" and d.get("run_id") == run_id for t, d in events)
        # Both daemons read the same runs: the one B executed is posted, seen from A.
        seen = await client_a.call("syncs.get", {"run_id": run_id})
        assert seen["state"] == "posted"


async def test_the_tui_on_one_daemon_shows_a_run_another_daemon_posts(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database()
    async with two_daemons(tmp_path, url) as ((app_a, client_a), (_app_b, client_b)):
        configs = await client_a.call("configurations.list")
        manual = next(c for c in configs if not c["automatic"])

        async def caught_up() -> bool:
            runs = await client_a.call("syncs.list", {"limit": 1000})
            return not any(r["state"] in ACTIVE for r in runs)

        for c in configs:  # no catch-up meanwhile: its toast would sum our run up with it
            if c["automatic"]:
                await client_a.call("configurations.deactivate", {"id": c["id"]})
        await until_async(caught_up, "the catch-up's runs to settle")
        tui_client = ReconnectingClient(str(app_a.socket_path), client_name="bexsync-tui-test")
        app = BexsyncApp(
            client=tui_client,
            socket_path=app_a.socket_path,
            keymap={},
            keymap_path=tmp_path / "tui.toml",
            sixteen_colours=False,
        )
        record_toasts(app)
        try:
            async with app.run_test(size=(100, 30), notifications=True) as pilot:
                await wait_until(pilot, lambda: len(app.configurations) == 3, what="the labels")
                app.clear_notifications()
                run = await client_b.call("syncs.run", {"configuration_id": manual["id"]})
                period = (await client_b.call("syncs.get", {"run_id": run["run_id"]}))["period"]
                toast = await wait_toast(pilot, f"{period}: entry posted")
                assert manual["administration_number"] in toast
        finally:
            await tui_client.close()


async def test_a_configuration_is_claimed_by_exactly_one_daemon(
    postgres_server: PostgresServer,
) -> None:
    store = PostgresStore(postgres_server.create_database(), _clock)
    await store.open()
    try:
        _auth_id, config_id = await configured(store)
        nodes = [PgCoordination(lambda: store.db, f"n{i}", _clock, 30.0) for i in range(6)]
        for node in nodes:
            await node.join()
        granted = await asyncio.gather(*(n.claim(config_id, "2026-11") for n in nodes))
        assert sum(granted) == 1
        winner = nodes[granted.index(True)]
        assert await winner.claim(config_id, "2026-11")  # its own lease: granted again
        others = [n for n in nodes if n is not winner]
        assert not any([await n.claim(config_id, "2026-11") for n in others])
        await winner.release(config_id)
        assert await others[0].claim(config_id, "2026-12")
        listed = {d.id: d for d in await winner.daemons()}
        assert [lease.configuration_id for lease in listed[others[0].node_id].leases] == [config_id]
    finally:
        await store.close()


async def test_a_silent_daemons_runs_are_recovered_by_a_peer_after_the_lease(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """A daemon that stops answering (killed, frozen) with a run in flight: a peer takes its
    lease once its heartbeat is older than the lease, records the run interrupted, and the
    period is synced again."""
    url = postgres_server.create_database()
    async with daemon(tmp_path, "a", url, seed=True) as (app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        store = app.store
        assert isinstance(store, PostgresStore)
        dead = PgCoordination(lambda: store.db, "dead-daemon", _clock, 5.0)
        await dead.join()
        period = manual["next_due"]["period"] if manual["next_due"] else "2026-10"
        assert await dead.claim(manual["id"], period)
        run_id = await store.runs.queue(
            manual["id"], period, trigger="manual", draft_id=None, allow_correction=False
        )
        await store.runs.set_state(run_id, "fetching", "fetching transactions")
        # While its heartbeat is fresh the run is the dead daemon's: this daemon leaves it.
        await app.cluster.beat()
        assert (await store.runs.get(run_id)).state == "fetching"  # type: ignore[union-attr]
        await _age_heartbeat(store, "dead-daemon")
        await app.cluster.beat()
        run = await store.runs.get(run_id)
        assert run is not None and run.state == "failed"
        assert "stopped answering" in (run.error or "")
        daemons = {d["id"]: d for d in (await client.call("daemon.status"))["daemons"]}
        assert daemons["dead-daemon"]["alive"] is False and daemons["dead-daemon"]["leases"] == []
        # The lease is free again: the period can be synced by this daemon.
        again = await client.call("syncs.run", {"configuration_id": manual["id"]})
        assert again


async def test_a_run_frozen_while_posting_is_settled_by_a_peer_and_posted_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Daemon A committed its intent and called the provider, then went silent (frozen, cut
    off). B takes the lease over, looks the reference up and posts with the same key. When A
    wakes up and its call completes, the provider holds one entry and so does the store."""
    url = postgres_server.create_database()
    async with two_daemons(tmp_path, url) as ((app_a, client_a), (app_b, client_b)):
        manual = next(c for c in await client_a.call("configurations.list") if not c["automatic"])
        provider = await app_a.providers.provider_for(manual["authorisation_id"])
        reached, gate = asyncio.Event(), asyncio.Event()
        post = provider.post_entry

        async def frozen(entry: Any, key: str) -> Any:
            if entry.reference.startswith(f"bexsync:{manual['id']}:"):  # not the catch-up's
                reached.set()
                await gate.wait()
            return await post(entry, key)

        provider.post_entry = frozen  # type: ignore[method-assign]
        run_id = (await client_a.call("syncs.run", {"configuration_id": manual["id"]}))["run_id"]
        await asyncio.wait_for(reached.wait(), 60)
        await _fall_silent(app_a, taken_over_by=app_b)
        run = await client_b.call("syncs.get", {"run_id": run_id})
        assert run["state"] == "posted" and run["entry_id"] is not None
        gate.set()  # A wakes up: its call completes with the same idempotency key
        await until(lambda: not app_a.engine.running_count(), "A's run task to end")
        entries = await client_a.call("entries.list", {"configuration_id": manual["id"]})
        assert [e["id"] for e in entries] == [run["entry_id"]]
        assert (await client_a.call("syncs.get", {"run_id": run_id}))["state"] == "posted"
        assert _ledger_count(tmp_path / "shared-ledger.sqlite3", entries[0]["reference"]) == 1


async def test_a_run_its_daemon_lost_while_building_never_posts_when_it_wakes(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Daemon A went silent before posting; B took over and recorded the run interrupted. When
    A wakes up, its run finds itself settled and stops: nothing reaches the ledger."""
    url = postgres_server.create_database()
    async with two_daemons(tmp_path, url) as ((app_a, client_a), (app_b, _client_b)):
        manual = next(c for c in await client_a.call("configurations.list") if not c["automatic"])
        reached, gate = asyncio.Event(), asyncio.Event()
        post = app_a.engine._post

        async def frozen(run: Any, cfg: Any, *rest: Any) -> Any:
            if cfg.id == manual["id"]:
                reached.set()
                await gate.wait()
            return await post(run, cfg, *rest)

        app_a.engine._post = frozen  # type: ignore[method-assign]
        run_id = (await client_a.call("syncs.run", {"configuration_id": manual["id"]}))["run_id"]
        await asyncio.wait_for(reached.wait(), 60)
        await _fall_silent(app_a, taken_over_by=app_b)
        assert (await client_a.call("syncs.get", {"run_id": run_id}))["state"] == "failed"
        gate.set()
        await until(lambda: run_id not in app_a.engine._tasks, "A's run task to end")
        run = await client_a.call("syncs.get", {"run_id": run_id})
        assert run["state"] == "failed" and run["entry_id"] is None
        assert await client_a.call("entries.list", {"configuration_id": manual["id"]}) == []
        reference = f"bexsync:{manual['id']}:{run['period']}"
        assert _ledger_count(tmp_path / "shared-ledger.sqlite3", reference) == 0


def _ledger_count(ledger: Path, reference: str) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(ledger)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM journal_entries WHERE reference = ?", (reference,)
        ).fetchone()
    return int(row[0])


ACTIVE = ("queued", "fetching", "building", "posting")


def _clock() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


pytestmark = pytest.mark.timeout(120)
