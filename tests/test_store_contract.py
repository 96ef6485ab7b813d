"""The store's contract, run against every backend: what the engine and services rely on.

Each backend is one entry of ``BACKENDS`` (a factory of an unopened ``Store``): SQLite in the
test's directory, PostgreSQL in a new database of the session's server. The tests speak only
the interface (``daemon.store.Store``) and its records: no SQL, no driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.formats import Clock
from daemon.store import AlreadySynced, Duplicate, Store, Superseded
from daemon.store.postgres import PostgresStore
from daemon.store.records import (
    Administration,
    ConfigurationValues,
    DoneSummary,
    NewEntry,
    NewNotification,
    NewPendingLogin,
)
from daemon.store.sqlite import SqliteStore


class FrozenClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path, Clock], Store]] = {
    "sqlite": lambda request, tmp, clock: SqliteStore(tmp / "state", clock),
    "postgresql": lambda request, tmp, clock: PostgresStore(
        request.getfixturevalue("postgres_server").create_database(), clock
    ),
}


def same_database(store: Store, clock: Clock) -> Store:
    """A second store on the database of ``store``: what another daemon sees and changes."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.state_dir, clock)
    assert isinstance(store, PostgresStore)
    return PostgresStore(store.conninfo, clock)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(params=sorted(BACKENDS))
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Store]:
    made = BACKENDS[request.param](request, tmp_path, clock)
    await made.open()
    try:
        yield made
    finally:
        await made.close()


ADMINS = [
    Administration("a1", "101", "Park", "EUR", "Europe/Amsterdam"),
    Administration("a2", "102", "Lake", "EUR", "Europe/Amsterdam"),
]


async def connected(store: Store) -> None:
    await store.pms.connect(
        base_url="http://127.0.0.1:1/v3",
        auth="api_key",
        api_key="sealed-key",
        token=None,
        message="Connected; 2 administrations available.",
        administrations=ADMINS,
    )


def values(auth_id: int, admin: str = "a1", **changes: object) -> ConfigurationValues:
    base = ConfigurationValues(
        authorisation_id=auth_id,
        administration_id=admin,
        frequency="daily",
        ledger_id="BEX",
        ledger_name="",
        tenant_id=None,
        start_date=date(2026, 11, 1),
        end_date=None,
        delay_days=0,
        automatic=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def configured(store: Store) -> tuple[int, int]:
    """An active authorisation with one active, automatic configuration."""
    await connected(store)
    auth_id = await store.authorisations.create(
        name="Books", provider="sandbox", status_message="new", settings={}, pending=None
    )
    await store.authorisations.set_status(auth_id, "active", "ok")
    config_id = await store.configurations.create(values(auth_id), active=True)
    return auth_id, config_id


def new_entry(config_id: int, period: str, reference: str, kind: str = "entry") -> NewEntry:
    return NewEntry(
        configuration_id=config_id,
        administration_number="101",
        period=period,
        kind=kind,
        reference=reference,
        date=date.fromisoformat(period),
        provider="sandbox",
        external_id="X-1",
        total=Decimal("12.50"),
        lines=[{"account": "8000", "vat_code": None, "debit": "0.00", "credit": "12.50"}],
    )


NOTE = NewNotification("success", "Posted", "body", {"kind": "entries", "entry_id": None})


# -- the PMS connection and administrations -----------------------------------------------


async def test_connecting_lists_administrations_and_keeps_their_access(store: Store) -> None:
    assert await store.pms.get() is None
    await store.pms.start_login(NewPendingLogin("sealed-pending", 1e12))
    await connected(store)
    pms = await store.pms.get()
    assert pms is not None and (pms.status, pms.auth, pms.api_key) == (
        "connected",
        "api_key",
        "sealed-key",
    )
    assert pms.updated_at == "2026-11-27T12:00:00Z"
    assert await store.pms.pending_login() is None  # the login in progress was superseded
    await store.administrations.set_access("a1", True)
    renamed = [Administration("a1", "101", "Park Renamed", "EUR", "UTC"), ADMINS[1]]
    await store.pms.connect(base_url="http://x", auth="api_key", api_key=None, token=None,
                            message="again", administrations=renamed)  # fmt: skip
    a1 = await store.administrations.get("a1")
    assert a1 is not None and a1.name == "Park Renamed" and a1.access
    assert [a.number for a in await store.administrations.all()] == ["101", "102"]


async def test_a_lost_pms_login_and_its_notification_come_together(store: Store) -> None:
    await connected(store)
    note = await store.pms.mark_lost("refused", NewNotification("error", "Connect again", "b"))
    pms = await store.pms.get()
    assert pms is not None and (pms.status, pms.message) == ("error", "refused")
    assert [n.id for n in await store.notifications.recent(unread_only=True, limit=10)] == [note.id]


async def test_a_token_is_saved_only_while_the_connection_uses_oauth(store: Store) -> None:
    await connected(store)
    await store.pms.save_token("sealed-token")
    pms = await store.pms.get()
    assert pms is not None and pms.token is None
    await store.pms.connect(base_url="http://x", auth="oauth", api_key=None, token="t1",
                            message="m", administrations=ADMINS)  # fmt: skip
    await store.pms.save_token("t2")
    pms = await store.pms.get()
    assert pms is not None and pms.token == "t2"


# -- authorisations, credentials, logins in progress ---------------------------------------


async def test_authorisation_names_are_unique_without_regard_to_case(store: Store) -> None:
    pending = NewPendingLogin("sealed", 123.0)
    auth_id = await store.authorisations.create(
        name="Books", provider="xero", status_message="new", settings={"a": 1}, pending=pending
    )
    with pytest.raises(Duplicate):
        await store.authorisations.create(
            name="BOOKS", provider="xero", status_message="", settings={}, pending=None
        )
    found = await store.authorisations.find_by_name("books")
    assert found is not None and found.id == auth_id
    assert found.settings == {"a": 1} and found.login_pending and not found.logged_in
    login = await store.logins.get(auth_id)
    assert login is not None and (login.data, login.expires_at) == ("sealed", 123.0)


async def test_a_completed_login_replaces_credentials_and_ends_the_pending_one(
    store: Store,
) -> None:
    auth_id = await store.authorisations.create(
        name="B", provider="xero", status_message="", settings={}, pending=NewPendingLogin("p", 1)
    )
    await store.authorisations.set_status(auth_id, "error", "refused")
    await store.authorisations.record_login(
        auth_id, credentials="sealed-creds", settings={"tenant_id": "T"}, status_message="in"
    )
    auth = await store.authorisations.get(auth_id)
    assert auth is not None
    assert (auth.status, auth.status_message, auth.settings) == (
        "inactive",
        "in",
        {"tenant_id": "T"},
    )
    assert auth.logged_in and not auth.login_pending
    assert await store.credentials.get(auth_id) == "sealed-creds"
    await store.credentials.replace(auth_id, "rotated")
    assert await store.credentials.get(auth_id) == "rotated"
    await store.logins.replace(auth_id, NewPendingLogin("again", 5))
    assert [p.authorisation_id for p in await store.logins.all()] == [auth_id]
    await store.logins.replace(auth_id, None)
    assert await store.logins.get(auth_id) is None


async def test_a_status_and_its_notification_are_one_change(
    store: Store, clock: FrozenClock
) -> None:
    auth_id = await store.authorisations.create(
        name="B", provider="sandbox", status_message="", settings={}, pending=None
    )
    clock.now += timedelta(minutes=5)
    note = await store.authorisations.set_status(
        auth_id, "error", "lost", NewNotification("error", "Log in again", "body", {"k": 1})
    )
    auth = await store.authorisations.get(auth_id)
    assert auth is not None and (auth.status, auth.updated_at) == ("error", "2026-11-27T12:05:00Z")
    assert note is not None and note.link == {"k": 1} and not note.read
    assert await store.notifications.unread_count() == 1
    await store.authorisations.delete(auth_id)
    assert await store.authorisations.get(auth_id) is None
    assert await store.credentials.get(auth_id) is None


# -- configurations and periods -----------------------------------------------------------


async def test_configurations_read_with_their_administration_and_login(store: Store) -> None:
    auth_id, config_id = await configured(store)
    cfg = await store.configurations.get(config_id)
    assert cfg is not None
    assert (cfg.administration_number, cfg.timezone, cfg.authorisation_status) == (
        "101", "Europe/Amsterdam", "active",
    )  # fmt: skip
    assert cfg.start_date == date(2026, 11, 1) and cfg.end_date is None
    assert cfg.automatic and cfg.active and cfg.account_map == {}
    assert await store.configurations.schedulable() == []  # no access to its administration
    await store.administrations.set_access("a1", True)
    assert [c.id for c in await store.configurations.schedulable()] == [config_id]
    with pytest.raises(Duplicate):
        await store.configurations.create(values(auth_id), active=False)
    on = await store.configurations.on_target("sandbox", None, "BEX", "a1")
    assert [c.id for c in on] == [config_id]
    assert await store.configurations.on_target("sandbox", "t2", "BEX", "a1") == []
    assert await store.configurations.clash(auth_id, "a1", None) == config_id
    assert await store.configurations.clash(auth_id, "a1", config_id) is None
    changed = values(auth_id, "a2", ledger_name="Memorial", account_map={"1": "8000"})
    await store.configurations.update(config_id, changed)
    await store.configurations.set_active(config_id, False)
    cfg = await store.configurations.get(config_id)
    assert cfg is not None and cfg.administration_number == "102" and not cfg.active
    assert cfg.account_map == {"1": "8000"} and cfg.ledger_name == "Memorial"
    assert await store.configurations.schedulable() == []
    assert [c.id for c in await store.configurations.all(auth_id)] == [config_id]


async def test_a_configuration_without_a_ledger_name_gets_one(store: Store) -> None:
    auth_id, config_id = await configured(store)
    assert [c.id for c in await store.configurations.without_ledger_name(auth_id)] == [config_id]
    await store.configurations.set_ledger_name(config_id, "Memorial")
    assert await store.configurations.without_ledger_name(auth_id) == []


# -- runs: the exactly-once transitions -----------------------------------------------------


async def test_a_run_is_queued_once_per_configuration_and_a_synced_period_only_corrected(
    store: Store,
) -> None:
    _, config_id = await configured(store)
    run_id = await store.runs.queue(
        config_id, "2026-11-01", trigger="manual", draft_id=None, allow_correction=False
    )
    with pytest.raises(Duplicate):  # one active run per configuration
        await store.runs.queue(
            config_id, "2026-11-02", trigger="manual", draft_id=None, allow_correction=False
        )
    active = await store.runs.active(config_id)
    assert active is not None and (active.id, active.state, active.kind) == (
        run_id,
        "queued",
        "entry",
    )
    await store.runs.mark_posting(run_id, idempotency_key="k1", payload_hash="h", payload={"a": 1})
    posted = await store.runs.record_posted(run_id, new_entry(config_id, "2026-11-01", "R1"), NOTE)
    with pytest.raises(AlreadySynced):
        await store.runs.queue(
            config_id, "2026-11-01", trigger="schedule", draft_id=None, allow_correction=False
        )
    again = await store.runs.queue(
        config_id, "2026-11-01", trigger="manual", draft_id=None, allow_correction=True
    )
    run = await store.runs.get(again)
    assert run is not None and run.kind == "correction"
    assert posted.note is not None


async def test_posting_commits_intent_then_result_in_one_step(
    store: Store, clock: FrozenClock
) -> None:
    _, config_id = await configured(store)
    draft_id = await store.drafts.create(config_id, "2026-11-01", {"lines": []})
    run_id = await store.runs.queue(
        config_id, "2026-11-01", trigger="manual", draft_id=draft_id, allow_correction=False
    )
    await store.runs.set_state(run_id, "fetching", "fetching transactions")
    clock.now += timedelta(seconds=3)
    await store.runs.set_state(run_id, "building", None)
    run = await store.runs.get(run_id)
    assert run is not None and (run.state, run.stage) == ("building", "fetching transactions")
    assert run.started_at == "2026-11-27T12:00:00Z"  # stamped by the first step only
    payload = {"reference": "R1", "lines": [{"debit": "1.00"}]}
    await store.runs.mark_posting(
        run_id, idempotency_key="key-1", payload_hash="h", payload=payload
    )
    posting = await store.runs.posting()
    assert [(p.run.id, p.idempotency_key, p.payload) for p in posting] == [
        (run_id, "key-1", payload)
    ]
    draft = await store.drafts.get(draft_id)
    assert draft is not None and draft.status == "posting"
    assert await store.runs.interrupted() == []  # posting runs are recovery's, not restart's
    posted = await store.runs.record_posted(run_id, new_entry(config_id, "2026-11-01", "R1"), NOTE)
    run = await store.runs.get(run_id)
    assert run is not None and (run.state, run.entry_id) == ("posted", posted.entry_id)
    assert posted.note is not None and posted.note.link == {
        "kind": "entries",
        "entry_id": posted.entry_id,
    }
    assert await store.periods.done(config_id) == {"2026-11-01"}
    draft = await store.drafts.get(draft_id)
    assert draft is not None and draft.status == "posted"
    assert await store.runs.posting_run(run_id) is None
    entry = await store.entries.get(posted.entry_id)
    assert entry is not None and entry.total == Decimal("12.50") and entry.line_count == 1
    assert entry.lines == [
        {"account": "8000", "vat_code": None, "debit": "0.00", "credit": "12.50"}
    ]


async def test_a_result_recorded_by_another_run_is_held_once(store: Store) -> None:
    _, config_id = await configured(store)
    first = await store.runs.queue(
        config_id, "2026-11-01", trigger="manual", draft_id=None, allow_correction=False
    )
    recorded = await store.runs.record_posted(first, new_entry(config_id, "2026-11-01", "R1"), NOTE)
    second = await store.runs.queue(
        config_id, "2026-11-01", trigger="manual", draft_id=None, allow_correction=True
    )
    again = await store.runs.record_posted(second, new_entry(config_id, "2026-11-01", "R1"), NOTE)
    assert (again.entry_id, again.note) == (recorded.entry_id, None)
    run = await store.runs.get(second)
    assert run is not None and (run.state, run.stage) == ("posted", "already recorded")
    assert len(await store.entries.for_period(config_id, "2026-11-01")) == 1


async def test_a_failed_run_counts_an_attempt_reopens_its_draft_and_notifies(store: Store) -> None:
    _, config_id = await configured(store)
    draft_id = await store.drafts.create(config_id, "2026-11-01", {})
    run_id = await store.runs.queue(
        config_id, "2026-11-01", trigger="schedule", draft_id=draft_id, allow_correction=False
    )
    await store.runs.mark_posting(run_id, idempotency_key="k", payload_hash="h", payload={})
    note = await store.runs.record_failed(
        run_id, state="failed", message="refused", error_kind="rejected",
        note=NewNotification("error", "Sync failed", "refused"),
    )  # fmt: skip
    run = await store.runs.get(run_id)
    assert run is not None
    assert (run.state, run.error, run.error_kind, run.attempts) == (
        "failed",
        "refused",
        "rejected",
        1,
    )
    assert run.finished_at == "2026-11-27T12:00:00Z"
    draft = await store.drafts.get(draft_id)
    assert draft is not None and draft.status == "open"
    assert note is not None and await store.notifications.unread_count() == 1
    assert await store.runs.latest_for_period(config_id, "2026-11-01") == run
    attention = await store.reports.runs_needing_attention(10)
    assert [r.id for r in attention] == [run_id]
    # A retry of the failed period carries the count on, so the scheduler's pause grows.
    retry = await store.runs.queue(
        config_id, "2026-11-01", trigger="schedule", draft_id=None, allow_correction=False
    )
    retried = await store.runs.get(retry)
    assert retried is not None and retried.attempts == 1


async def test_a_run_settled_meanwhile_never_commits_an_intent_to_post(store: Store) -> None:
    """A daemon silent for a while finds its run settled by a peer: it must not post it."""
    _, config_id = await configured(store)
    run_id = await store.runs.queue(
        config_id, "2026-11-01", trigger="schedule", draft_id=None, allow_correction=False
    )
    await store.runs.record_failed(
        run_id, state="failed", message="interrupted", error_kind="interrupted", note=None
    )
    with pytest.raises(Superseded):
        await store.runs.mark_posting(run_id, idempotency_key="k", payload_hash="h", payload={})
    run = await store.runs.get(run_id)
    assert run is not None and run.state == "failed"
    assert await store.runs.posting() == []


async def test_an_empty_period_and_an_unchanged_correction_settle_the_run(store: Store) -> None:
    _, config_id = await configured(store)
    run_id = await store.runs.queue(
        config_id, "2026-11-02", trigger="schedule", draft_id=None, allow_correction=False
    )
    await store.runs.record_empty(run_id)
    run = await store.runs.get(run_id)
    assert run is not None and (run.state, run.stage, run.entry_id) == (
        "posted",
        "no transactions",
        None,
    )
    assert await store.periods.done(config_id) == {"2026-11-02"}
    again = await store.runs.queue(
        config_id, "2026-11-02", trigger="manual", draft_id=None, allow_correction=True
    )
    note = await store.runs.record_unchanged(again, NewNotification("info", "Nothing", "b"))
    run = await store.runs.get(again)
    assert run is not None and (run.state, run.stage) == ("posted", "no difference")
    assert note.level == "info"


async def test_drift_is_remembered_with_its_notification(store: Store) -> None:
    _, config_id = await configured(store)
    run_id = await store.runs.queue(
        config_id, "2026-11-01", trigger="manual", draft_id=None, allow_correction=False
    )
    await store.runs.record_posted(run_id, new_entry(config_id, "2026-11-01", "R1"), NOTE)
    assert await store.periods.source_hash(config_id, "2026-11-01") is None
    await store.periods.record_drift(
        config_id, "2026-11-01", "abc", NewNotification("warning", "t", "b")
    )
    assert await store.periods.source_hash(config_id, "2026-11-01") == "abc"
    assert await store.entries.corrections(config_id, "2026-11-01") == 0


async def test_runs_are_listed_newest_first_and_filtered(store: Store) -> None:
    _, config_id = await configured(store)
    ids = []
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        run_id = await store.runs.queue(
            config_id, day, trigger="schedule", draft_id=None, allow_correction=False
        )
        await store.runs.record_empty(run_id)
        ids.append(run_id)
    assert [r.id for r in await store.runs.recent(config_id, None, 2)] == ids[:0:-1]
    assert await store.runs.recent(None, "failed", 10) == []
    latest = await store.runs.latest(config_id)
    assert latest is not None and latest.id == ids[-1]
    assert await store.runs.running() == []


async def test_a_listing_reads_every_configurations_periods_and_last_run_at_once(
    store: Store,
) -> None:
    auth_id, first = await configured(store)
    second = await store.configurations.create(values(auth_id, "a2"), active=True)
    for day in ("2026-11-01", "2026-11-02"):
        run_id = await store.runs.queue(
            first, day, trigger="schedule", draft_id=None, allow_correction=False
        )
        await store.runs.record_empty(run_id)
    assert await store.periods.summary_by_configuration() == {
        first: DoneSummary(count=2, matching=2, first="2026-11-01", last="2026-11-02")
    }
    latest = await store.runs.latest_by_configuration()
    assert set(latest) == {first} and latest[first].id == run_id
    assert second not in latest


async def test_a_listing_again_shows_what_changed_meanwhile_through_any_store(
    store: Store, clock: FrozenClock
) -> None:
    """Listings reuse the records of rows read unchanged: a change to a configuration, to its
    administration or to its login shows at once, also when another daemon made it."""
    auth_id, config_id = await configured(store)
    other = same_database(store, clock)
    await other.open()
    try:
        before = await store.configurations.all()
        assert [(c.id, c.active, c.access) for c in before] == [(config_id, True, False)]
        assert await store.configurations.schedulable() == []
        await other.administrations.set_access("a1", True)
        assert [c.id for c in await store.configurations.schedulable()] == [config_id]
        renamed = Administration("a1", "101", "Park Renamed", "EUR", "Europe/Amsterdam")
        await other.pms.connect(
            base_url="http://127.0.0.1:1/v3", auth="api_key", api_key="sealed-key", token=None,
            message="Connected.", administrations=[renamed],
        )  # fmt: skip
        await other.authorisations.set_status(auth_id, "error", "lost")
        await other.configurations.update(config_id, values(auth_id, account_map={"1": "8000"}))
        (after,) = await store.configurations.all()
        assert (after.administration_name, after.access, after.authorisation_status) == (
            "Park Renamed", True, "error",
        )  # fmt: skip
        assert after.account_map == {"1": "8000"} and before[0].account_map == {}
        assert await store.configurations.schedulable() == []  # its login is in error
        await other.configurations.set_active(config_id, False)
        assert [c.active for c in await store.configurations.all()] == [False]
        assert await store.configurations.all() == await other.configurations.all()
    finally:
        await other.close()


async def test_a_listing_counts_each_configurations_periods_of_its_frequency(
    store: Store,
) -> None:
    """Counted from the index, not read: how many, and the first and last keyed like the
    configuration's frequency (keys of a frequency it had before are counted, not spanned)."""
    auth_id, daily = await configured(store)
    monthly = await store.configurations.create(
        values(auth_id, "a2", frequency="monthly"), active=True
    )
    await store.configurations.create(
        values(await store.authorisations.create(
            name="Other", provider="sandbox", status_message="", settings={}, pending=None
        ), "a1"),
        active=False,
    )  # fmt: skip
    settled = {daily: ["2026-11-01", "2026-11-02", "2026-11-04", "2026-10"],
               monthly: ["2026-09", "2026-10", "2026-10-05"]}  # fmt: skip
    for config_id, periods in settled.items():
        for period in periods:
            run_id = await store.runs.queue(
                config_id, period, trigger="manual", draft_id=None, allow_correction=False
            )
            await store.runs.record_empty(run_id)
    assert await store.periods.summary_by_configuration() == {
        daily: DoneSummary(count=4, matching=3, first="2026-11-01", last="2026-11-04"),
        monthly: DoneSummary(count=3, matching=2, first="2026-09", last="2026-10"),
    }


# -- entries, notifications, figures ------------------------------------------------------


async def test_entries_are_filtered_by_configuration_administration_and_period(
    store: Store,
) -> None:
    _, config_id = await configured(store)
    for day in ("2026-11-01", "2026-11-02"):
        run_id = await store.runs.queue(
            config_id, day, trigger="schedule", draft_id=None, allow_correction=False
        )
        await store.runs.record_posted(run_id, new_entry(config_id, day, f"R{day}"), NOTE)

    async def periods(**filters: object) -> list[str]:
        args = {"configuration_id": None, "administration_id": None, "period_prefix": None,
                "limit": 100, "offset": 0, **filters}  # fmt: skip
        return [e.period for e in await store.entries.recent(**args)]  # type: ignore[arg-type]

    assert await periods() == ["2026-11-02", "2026-11-01"]
    assert await periods(period_prefix="2026-11-01") == ["2026-11-01"]
    assert await periods(administration_id="a1", offset=1) == ["2026-11-01"]
    assert await periods(administration_id="a2") == []
    listed = await store.entries.recent(configuration_id=config_id, administration_id=None,
                                        period_prefix=None, limit=1, offset=0)  # fmt: skip
    assert listed[0].lines is None  # the overview does not carry lines


async def test_notifications_are_marked_read_one_or_all(store: Store) -> None:
    first = await store.notifications.create(NewNotification("info", "one", "b"))
    await store.notifications.create(NewNotification("info", "two", "b", {"kind": "pms"}))
    assert await store.notifications.mark_read(first.id) == 1
    assert await store.notifications.mark_read(first.id) == 0
    assert [n.title for n in await store.notifications.recent(unread_only=True, limit=10)] == [
        "two"
    ]
    assert await store.notifications.mark_read(None) == 1
    assert await store.notifications.unread_count() == 0
    titles = [n.title for n in await store.notifications.recent(unread_only=False, limit=1)]
    assert titles == ["two"]


async def test_counts_and_metrics_figures(store: Store) -> None:
    _, config_id = await configured(store)
    run_id = await store.runs.queue(
        config_id, "2026-11-01", trigger="schedule", draft_id=None, allow_correction=False
    )
    await store.runs.record_posted(run_id, new_entry(config_id, "2026-11-01", "R1"), NOTE)
    failed = await store.runs.queue(
        config_id, "2026-11-02", trigger="schedule", draft_id=None, allow_correction=False
    )
    await store.runs.record_failed(failed, state="failed", message="m", error_kind="unavailable",
                                   note=None)  # fmt: skip
    counts = await store.reports.counts()
    assert (counts.administrations, counts.authorisations, counts.configurations) == (2, 1, 1)
    assert (counts.entries, counts.running, counts.unread_notifications) == (1, 0, 1)
    figures = await store.reports.metrics()
    assert figures.runs_by_state == {"posted": 1, "failed": 1}
    assert figures.authorisations_by_status == {"active": 1}
    assert figures.errors_by_provider_and_kind == {("sandbox", "unavailable"): 1}
    assert [(p.configuration_id, p.administration_number) for p in figures.last_postings] == [
        (config_id, "101")
    ]


async def test_deleting_a_configuration_keeps_its_entries(store: Store) -> None:
    _, config_id = await configured(store)
    run_id = await store.runs.queue(
        config_id, "2026-11-01", trigger="schedule", draft_id=None, allow_correction=False
    )
    posted = await store.runs.record_posted(run_id, new_entry(config_id, "2026-11-01", "R1"), NOTE)
    await store.configurations.delete(config_id)
    assert await store.configurations.get(config_id) is None
    assert await store.runs.get(run_id) is None
    entry = await store.entries.get(posted.entry_id)
    assert entry is not None and entry.configuration_id is None
