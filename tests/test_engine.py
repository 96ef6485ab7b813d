"""The scheduler and the sync engine against a demo daemon with an injectable clock."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bexsync_tui.client import RpcCallError
from daemon.background import Background
from daemon.followups import FollowUps
from daemon.scheduler import MAX_SLEEP, Scheduler
from daemon.sdnotify import Notifier
from tests.support.daemon import demo_daemon, wait_run
from tests.support.waiting import until, until_async

pytestmark = pytest.mark.usefixtures("store_backend")  # every test on SQLite and PostgreSQL


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def settle(client, config_id, timeout=60):
    """Wait until no run of the configuration is active; return its runs oldest first."""

    async def settled():
        runs = await client.call("syncs.list", {"configuration_id": config_id, "limit": 1000})
        if not runs or any(
            r["state"] in ("queued", "fetching", "building", "posting") for r in runs
        ):
            return None
        due = (await client.call("configurations.get", {"id": config_id}))["next_due"]
        if due is None or due["due_at"] > client_clock_iso(client):
            return list(reversed(runs))
        return None

    return await until_async(settled, f"the runs of configuration {config_id} to settle", timeout)


def client_clock_iso(client) -> str:
    return client._test_clock().strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))


async def test_catch_up_oldest_first_with_live_progress_then_sleep_until_due(tmp_path, clock):
    async with demo_daemon(tmp_path, clock=clock) as (app, client):
        client._test_clock = clock
        events = []
        watcher = await _subscribe(app, events)
        daily = next(
            c for c in await client.call("configurations.list") if c["frequency"] == "daily"
        )
        runs = await settle(client, daily["id"])
        periods = [r["period"] for r in runs]
        assert periods == sorted(periods), "catch-up goes oldest first"
        assert periods[0] == daily["start_date"] and periods[-1] == "2026-11-26"
        assert all(r["state"] == "posted" and r["trigger"] == "schedule" for r in runs)
        # The scheduler sleeps until the next due time: 2026-11-27 is due 02:00 Amsterdam on
        # the 28th (01:00 UTC). (The demo's monthly automatic configuration is retried a minute
        # after each failure - administration 103 has uncategorised turnover - so it rests.)
        for c in await client.call("configurations.list"):
            if c["id"] != daily["id"] and c["automatic"]:
                await client.call("configurations.deactivate", {"id": c["id"]})
        delay = await app.scheduler.plan()
        assert app.scheduler.next_wake == datetime(2026, 11, 28, 1, tzinfo=UTC)
        assert app.scheduler.next_item == (daily["id"], "2026-11-27")
        assert delay == 6 * 3600  # capped: it re-plans at least every six hours
        # A day later the next period is synced as soon as the scheduler wakes.
        clock.now += timedelta(days=1)
        app.scheduler.wake()
        runs = await settle(client, daily["id"])
        assert runs[-1]["period"] == "2026-11-27" and runs[-1]["state"] == "posted"
        await watcher.aclose()
    finished = [
        d for t, d in events if t == "sync.finished" and d["configuration_id"] == daily["id"]
    ]
    progress = [
        d for t, d in events if t == "sync.progress" and d["configuration_id"] == daily["id"]
    ]
    assert len(finished) == len(runs)
    assert {"fetching transactions", "posting"} <= {p["stage"] for p in progress}


async def _subscribe(app, events):
    from bexsync_tui.client import Client

    watcher = Client()
    await watcher.connect(str(app.socket_path))
    watcher.on_event(lambda topic, data: events.append((topic, data)))
    await watcher.subscribe(["sync.progress", "sync.finished"])
    return watcher


async def test_deactivated_and_manual_configurations_are_not_scheduled(tmp_path, clock):
    async with demo_daemon(tmp_path, clock=clock) as (app, client):
        client._test_clock = clock
        configs = await client.call("configurations.list")
        manual = next(c for c in configs if not c["automatic"])
        daily = next(c for c in configs if c["frequency"] == "daily")
        await settle(client, daily["id"])
        await client.call("configurations.deactivate", {"id": daily["id"]})
        clock.now += timedelta(days=3)
        await app.scheduler.plan()
        await asyncio.sleep(0.2)
        runs = await client.call("syncs.list", {"configuration_id": daily["id"]})
        assert runs[0]["period"] == "2026-11-26"
        assert await client.call("syncs.list", {"configuration_id": manual["id"]}) == []
        shaped = await client.call("configurations.get", {"id": daily["id"]})
        assert shaped["state"] == "inactive" and shaped["next_due"]["period"] == "2026-11-27"


async def test_period_rules_not_due_outside_range_conflict(tmp_path, clock):
    async with demo_daemon(tmp_path, clock=clock) as (_app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        for period, words in [
            ("2026-11", "not due"),
            ("2020-01", "outside"),
            ("2026-11-01", "daily"),
        ]:
            with pytest.raises(RpcCallError) as info:
                await client.call("syncs.run", {"configuration_id": manual["id"], "period": period})
            assert info.value.name == "ValidationFailed"
            assert words in (info.value.message + str(info.value.data)), period
        first = await client.call("syncs.run", {"configuration_id": manual["id"]})
        with pytest.raises(RpcCallError) as info:
            await client.call("syncs.run", {"configuration_id": manual["id"]})
        assert info.value.name in ("Conflict",)
        await wait_run(client, first["run_id"])


async def test_cancel_a_queued_run_and_errors_fail_with_a_notification(tmp_path, clock):
    async with demo_daemon(tmp_path, clock=clock) as (_app, client):
        configs = await client.call("configurations.list")
        broken = next(c for c in configs if c["frequency"] == "monthly" and c["automatic"])
        failed = await first_failure(client, broken["id"])
        assert "no ledger number" in failed["error"]
        notes = await client.call("notifications.list")
        assert any(n["level"] == "error" and n["link"]["configuration_id"] == broken["id"]
                   for n in notes)  # fmt: skip
        status = await client.call("daemon.status")
        assert any(item.get("configuration_id") == broken["id"] for item in status["attention"])


async def test_cancel_a_running_sync_posts_nothing(tmp_path, clock, monkeypatch):
    gate = asyncio.Event()
    from daemon.engine.building import DraftBuilder

    original = DraftBuilder.build

    async def held_build(self, cfg, period, on_progress=None):
        if not cfg.automatic:
            await gate.wait()
        return await original(self, cfg, period, on_progress)

    monkeypatch.setattr(DraftBuilder, "build", held_build)
    async with demo_daemon(tmp_path, clock=clock) as (_app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        run_id = (await client.call("syncs.run", {"configuration_id": manual["id"]}))["run_id"]
        cancelled = await client.call("syncs.cancel", {"run_id": run_id})
        assert cancelled["state"] == "cancelled"
        assert "cancelled by the user" in cancelled["error"]
        with pytest.raises(RpcCallError) as info:
            await client.call("syncs.cancel", {"run_id": run_id})
        assert info.value.name == "Conflict"
        assert await client.call("entries.list", {"configuration_id": manual["id"]}) == []
        gate.set()
        again = await wait_run(
            client, (await client.call("syncs.run", {"configuration_id": manual["id"]}))["run_id"]
        )
        assert again["state"] == "posted"


def is_daily(entry) -> bool:
    """An entry of the daily configuration (``bexsync:1:2026-11-17``): the fault is meant for
    it, not for the monthly one that may post first (the demo's 103 has postable months)."""
    return entry.reference.rsplit(":", 1)[-1].count("-") == 2


async def first_failure(client, config_id, timeout=60):
    """The configuration's newest run once it has failed."""

    async def failed():
        runs = await client.call("syncs.list", {"configuration_id": config_id})
        return runs[0] if runs and runs[0]["state"] == "failed" else None

    return await until_async(failed, f"a run of configuration {config_id} to fail", timeout)


async def test_retryable_provider_failure_is_retried_with_backoff(tmp_path, clock, monkeypatch):
    from providers.errors import unavailable
    from providers.sandbox import SandboxProvider

    original = SandboxProvider.post_entry
    failures = {"left": 1}

    async def flaky(self, entry, key):
        if failures["left"] and is_daily(entry):
            failures["left"] -= 1
            raise unavailable("sandbox", "the ledger is down for maintenance", retry_after=3600)
        return await original(self, entry, key)

    monkeypatch.setattr(SandboxProvider, "post_entry", flaky)
    async with demo_daemon(tmp_path, clock=clock) as (app, client):
        daily = next(
            c for c in await client.call("configurations.list") if c["frequency"] == "daily"
        )
        failed = await first_failure(client, daily["id"])
        assert failed["error_kind"] == "unavailable" and "maintenance" in failed["error"]
        # Not retried before the backoff ...
        await app.scheduler.plan()
        await asyncio.sleep(0.2)
        runs = await client.call("syncs.list", {"configuration_id": daily["id"]})
        assert runs[0]["id"] == failed["id"]
        # ... and retried after it, then the catch-up goes on.
        clock.now += timedelta(seconds=61)
        app.scheduler.wake()
        client._test_clock = clock
        runs = await settle(client, daily["id"])
        same_period = [r for r in runs if r["period"] == failed["period"]]
        assert [r["state"] for r in same_period] == ["failed", "posted"]
        assert runs[-1]["period"] == "2026-11-26"


async def test_a_refused_login_waits_for_a_new_one_then_the_period_is_retried(
    tmp_path, clock, monkeypatch
):
    from providers.errors import auth_expired
    from providers.sandbox import SandboxProvider

    original = SandboxProvider.post_entry
    refusals = {"left": 1}

    async def refusing(self, entry, key):
        if refusals["left"] and is_daily(entry):
            refusals["left"] -= 1
            raise auth_expired("sandbox", "the ledger no longer accepts this login")
        return await original(self, entry, key)

    monkeypatch.setattr(SandboxProvider, "post_entry", refusing)
    async with demo_daemon(tmp_path, clock=clock) as (app, client):
        client._test_clock = clock
        daily = next(
            c for c in await client.call("configurations.list") if c["frequency"] == "daily"
        )
        failed = await first_failure(client, daily["id"])
        assert failed["error_kind"] == "auth_expired"
        auth = await client.call("authorisations.get", {"id": daily["authorisation_id"]})
        assert auth["status"] == "error"
        # Hours later nothing was retried: the login must be renewed first.
        clock.now += timedelta(hours=3)
        await app.scheduler.plan()
        await asyncio.sleep(0.2)
        assert (await client.call("syncs.list", {"configuration_id": daily["id"]}))[0] == failed
        # Renewing it (here: activating again) retries the failed period, then catches up.
        clock.now += timedelta(seconds=1)
        await client.call("authorisations.activate", {"id": daily["authorisation_id"]})
        runs = await settle(client, daily["id"])
        same_period = [r for r in runs if r["period"] == failed["period"]]
        assert [r["state"] for r in same_period] == ["failed", "posted"]
        assert runs[-1]["state"] == "posted"


async def test_the_outcome_line_says_how_long_the_run_took(tmp_path, caplog):
    caplog.set_level("INFO", logger="bexsync.daemon")

    def outcome_of(run_id: int) -> logging.LogRecord | None:
        lines = [r for r in caplog.records if r.getMessage() == "sync posted"]
        return next((r for r in lines if r.fields.get("run_id") == run_id), None)

    async with demo_daemon(tmp_path) as (_app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        started = await client.call("syncs.run", {"configuration_id": manual["id"]})
        assert (await wait_run(client, started["run_id"]))["state"] == "posted"
        # The line is written just after the run is stored as posted: wait for it here.
        outcome = await until(lambda: outcome_of(started["run_id"]), "the run's outcome line")
    # Measured by the engine: a run of a few milliseconds is not "0.000" (whole-second stamps).
    assert 0 < float(outcome.fields["duration_s"]) < 30


async def test_a_run_settled_as_the_daemon_stops_still_logs_and_announces_it(tmp_path, caplog):
    """Stopping cancels runs still fetching or building, not one that is already stored as
    posted and is only logging its outcome and publishing ``sync.finished``."""
    caplog.set_level("INFO", logger="bexsync.daemon")
    release = asyncio.Event()
    announced: list[int] = []
    async with demo_daemon(tmp_path) as (app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        real_finished, real_publish = app.outcomes.announce, app.bus.publish

        async def slow_finished(run_id: int) -> None:
            sql = "SELECT configuration_id FROM runs WHERE id = ?"
            if (await app.store.db.fetchone(sql, (run_id,)))["configuration_id"] == manual["id"]:
                await release.wait()  # the daemon is told to stop meanwhile
            await real_finished(run_id)

        def publish(topic: str, data: dict) -> None:
            if topic == "sync.finished":
                announced.append(data["run_id"])
            real_publish(topic, data)

        app.outcomes.announce, app.bus.publish = slow_finished, publish
        run_id = (await client.call("syncs.run", {"configuration_id": manual["id"]}))["run_id"]

        async def posted() -> bool:
            row = await app.store.db.fetchone("SELECT state FROM runs WHERE id = ?", (run_id,))
            return bool(row["state"] == "posted")

        await until_async(posted, "the run to be stored as posted", every=0.01)
        asyncio.get_running_loop().call_later(0.2, release.set)
    assert run_id in announced
    lines = [r for r in caplog.records if r.getMessage() == "sync posted"]
    assert run_id in [r.fields["run_id"] for r in lines]


async def test_the_scheduler_stops_when_cancelled_as_it_is_woken():
    """A run finishing wakes the scheduler; the daemon stopping cancels it in the same step.
    The cancellation must win: with 3.11's wait_for it was dropped and the stop waited for
    the next plan, up to six hours later."""

    class Idle(Scheduler):
        async def plan(self) -> float:
            self.passes += 1
            return MAX_SLEEP

    scheduler = Idle(
        store=None,  # type: ignore[arg-type]
        clock=lambda: datetime.now(UTC),
        runs=SimpleNamespace(running_count=lambda: 0),  # type: ignore[arg-type]
        recovery=None,  # type: ignore[arg-type]
        drift=None,  # type: ignore[arg-type]
        followups=FollowUps(),
        background=Background(),
        notifier=Notifier(address=""),
    )
    task = asyncio.create_task(scheduler.run_forever())
    while scheduler.passes == 0:
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # now waiting to be woken
    scheduler.wake()
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done and task.cancelled()
