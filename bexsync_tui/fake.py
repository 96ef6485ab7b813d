"""An in-memory stand-in for bexsyncd with the ``ReconnectingClient`` interface, for fast tests.

It implements the CONTRACT.md methods the TUI uses over a deterministic, demo-like state (three
administrations of a holiday park group, the "Demo sandbox" authorisation, one configuration per
administration, posted entries, runs and notifications, all on fixed dates), and the client's
stream protocol: ``client.state`` on every connection change, ``client.snapshot`` after every
(re)subscription, then the daemon's events. Test controls: ``stop_daemon()`` / ``start_daemon()``
(a restart), ``hold_runs()`` / ``release_runs()`` (pause syncs before they post) and
``emit()`` (any event). Results go through JSON, so shapes are exactly what the wire carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bexsync_tui.client import (
    SNAPSHOT_TOPIC,
    STATE_TOPIC,
    DaemonUnavailable,
    EventStream,
    RpcCallError,
)

FIXED_TODAY = date(2025, 3, 15)
CENT = Decimal("0.01")
ACTIVE_STATES = ("queued", "fetching", "building", "posting")
STAGES = (("fetching", 4), ("building", 3), ("posting", 1))

ADMINISTRATIONS = (
    ("4101", "101", "Holiday Park De Veluwe"),
    ("4102", "102", "Holiday Park Zeeuwse Duinen"),
    ("4103", "103", "Holiday Park Limburgse Heuvels"),
)
CHART = {
    "1000": "Cash",
    "1020": "Card (PIN) suspense",
    "1030": "PSP suspense (BEX Payments)",
    "1300": "Reservations (guest debtors)",
    "1700": "Pre-invoiced turnover",
    "1800": "VAT payable low",
    "1810": "VAT payable high",
    "8000": "Rent turnover",
    "8100": "POS turnover",
    "8200": "Tourist tax",
}
TAX_CODES = ("0", "L", "H", "NONE")
LEDGERS = (
    {"id": "BEX", "code": "BEX", "name": "Booking Experts postings"},
    {"id": "MEM", "code": "MEM", "name": "Memorial"},
)
PROVIDERS = (
    ("acd", "ACD", "direct", "credentials"),
    ("business_central", "Microsoft Dynamics 365 Business Central", "direct", "device_code"),
    ("cegid_loop", "Cegid Loop", "direct", "credentials"),
    ("chift", "Chift", "chift", "credentials"),
    ("inqom", "Inqom", "direct", "credentials"),
    ("minox", "Minox", "direct", "open_url"),
    ("myunisoft", "MyUnisoft", "direct", "credentials"),
    ("odoo", "Odoo", "direct", "credentials"),
    ("pennylane", "Pennylane", "direct", "open_url"),
    ("sage100fr", "Sage 100 (France)", "chift", "credentials"),
    ("sandbox", "Sandbox (local ledger)", "local", "none"),
    ("tiime", "Tiime", "chift", "credentials"),
    ("xero", "Xero", "direct", "open_url"),
)
OAUTH_STATE = "s7Qk2v"
FAKE_PMS_URL = "http://127.0.0.1:8765"
FAKE_PMS_KEY = "demo-fake-pms-key"
"""The key the fake's PMS accepts (the demo's simulated PMS plants its own)."""
PMS_OAUTH_STATE = "pmsK4t9"
CREDENTIAL_FIELDS = {
    "odoo": [
        {"name": "url", "label": "Odoo URL", "secret": False},
        {"name": "database", "label": "Database", "secret": False},
        {"name": "username", "label": "User (e-mail)", "secret": False},
        {"name": "api_key", "label": "API key", "secret": True},
    ],
}
DEFAULT_FIELDS = [
    {"name": "username", "label": "User", "secret": False},
    {"name": "password", "label": "Password", "secret": True},
]


def _error(code: int, name: str, message: str, **data: Any) -> RpcCallError:
    return RpcCallError(code, name, message, {"name": name, **data})


def not_found(what: str, ident: Any) -> RpcCallError:
    return _error(-32001, "NotFound", f"No {what} with id {ident}.")


def validation(message: str, errors: list[dict[str, str]], **data: Any) -> RpcCallError:
    return _error(-32002, "ValidationFailed", message, errors=errors, **data)


def conflict(message: str) -> RpcCallError:
    return _error(-32003, "Conflict", message)


def money(value: Decimal) -> str:
    return f"{value.quantize(CENT):f}"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def period_after(period: str, frequency: str) -> str:
    if frequency == "daily":
        return (date.fromisoformat(period) + timedelta(days=1)).isoformat()
    year, month = (int(x) for x in period.split("-"))
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def due_at(period: str, frequency: str, delay: int) -> str:
    """The schedule tick after the period (02:00) plus the delay, as the daemon reports it."""
    end = period_after(period, frequency)
    first = date.fromisoformat(end if frequency == "daily" else end + "-01")
    return f"{first + timedelta(days=delay)}T02:00:00Z"


def entry_lines(seed: int, scale: int) -> list[dict[str, Any]]:
    """Four balanced lines whose amounts depend only on ``seed``."""
    net = (Decimal(800 + (seed * 137) % 900) + Decimal(seed % 100) / 100) * scale
    vat = (net * Decimal("0.09")).quantize(CENT)
    gross = net + vat
    cash = (gross * Decimal("0.4")).quantize(CENT)
    return [
        _line("1000", "Cash receipts", "", cash, Decimal(0)),
        _line("1020", "Card (PIN) receipts", "", gross - cash, Decimal(0)),
        _line("8000", "Rent turnover", "L", Decimal(0), net),
        _line("1800", "VAT low 9%", "", Decimal(0), vat),
    ]


def _line(
    account: str, description: str, vat: str, debit: Decimal, credit: Decimal
) -> dict[str, Any]:
    return {
        "account": account,
        "account_name": CHART.get(account, ""),
        "description": description,
        "vat_code": vat,
        "debit": money(debit),
        "credit": money(credit),
    }


@dataclass
class FakeRun:
    id: int
    configuration_id: int
    period: str
    trigger: str
    state: str = "queued"
    stage: str = "queued"
    done: int = 0
    total: int | None = None
    error: str | None = None
    entry_id: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    draft_id: int | None = None

    def shape(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "configuration_id": self.configuration_id,
            "period": self.period,
            "trigger": self.trigger,
            "state": self.state,
            "progress": {"stage": self.stage, "done": self.done, "total": self.total},
            "error": self.error,
            "entry_id": self.entry_id,
            "draft_id": self.draft_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass
class FakeState:
    administrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorisations: dict[int, dict[str, Any]] = field(default_factory=dict)
    configurations: dict[int, dict[str, Any]] = field(default_factory=dict)
    runs: dict[int, FakeRun] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    drafts: dict[int, dict[str, Any]] = field(default_factory=dict)
    notifications: dict[int, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        self.ids[kind] = self.ids.get(kind, 0) + 1
        return self.ids[kind]


class FakeDaemon:
    """Same interface as ``ReconnectingClient``: ``start/close/call/subscribe/events/state``."""

    def __init__(
        self,
        *,
        today: date = FIXED_TODAY,
        bulk_entries: int = 0,
        step_delay: float = 0.0,
        options_delay: float = 0.0,
        running: bool = True,
    ) -> None:
        self.today = today
        self.now = datetime(today.year, today.month, today.day, 9, 30)
        self.step_delay = step_delay
        self.options_delay = options_delay
        # Cleared, configurations.options answers only once it is set again (a slow provider).
        self.options_ready = asyncio.Event()
        self.options_ready.set()
        self.daemon_running = running
        self.state = "down"
        self.error: str | None = None
        self.instance = 1
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.data = FakeState()
        self.pms: dict[str, Any] = {
            "kind": "bex",
            "base_url": FAKE_PMS_URL,
            "auth": "api_key",
            "status": "connected",
            "message": "Connected; 3 administrations.",
        }
        self.pms_key = FAKE_PMS_KEY
        self.pms_pending: str | None = None
        self._queues: set[EventStream] = set()
        self._subscribed = False
        self._topics: list[str] | None = None
        self._started = False
        self._gate: asyncio.Event | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._seed(bulk_entries)

    # -- client protocol -------------------------------------------------------------------
    async def start(self, *, wait: float | None = None) -> None:
        self._started = True
        self._set_state(
            "connected" if self.daemon_running else "connecting",
            None if self.daemon_running else self._down_message(),
        )

    async def wait_connected(self, timeout: float | None = None) -> None:
        if self.state != "connected":
            raise DaemonUnavailable(self._down_message())

    async def close(self) -> None:
        self._started = False
        for task in list(self._tasks.values()):
            task.cancel()
        self._set_state("down", None)
        for queue in list(self._queues):
            queue.end()

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        if self.state != "connected":
            raise DaemonUnavailable(self._down_message())
        params = json.loads(json.dumps(params or {}))
        self.calls.append((method, params))
        handler: Callable[[dict[str, Any]], Any] | None = getattr(
            self, "m_" + method.replace(".", "_"), None
        )
        if handler is None:
            raise _error(-32601, "MethodNotFound", f"No method {method!r}.")
        await asyncio.sleep(0)
        result = handler(params)
        if asyncio.iscoroutine(result):
            result = await result
        return json.loads(json.dumps(result))

    async def subscribe(self, topics: list[str] | None = None) -> dict[str, Any]:
        self._topics = None if topics is None else list(topics)
        self._subscribed = True
        if self.state != "connected":
            raise DaemonUnavailable(self._down_message())
        return self._send_snapshot(restarted=False)

    def events(self) -> EventStream:
        """Registered at once, as the real client's: nothing emitted after this is missed."""
        return EventStream(self._queues, 100_000)

    # -- test controls ---------------------------------------------------------------------
    def stop_daemon(self) -> None:
        """The daemon goes away: calls fail, the state becomes reconnecting."""
        self.daemon_running = False
        for task in list(self._tasks.values()):
            task.cancel()
        if self._started:
            self._set_state("reconnecting", self._down_message())

    def start_daemon(self) -> None:
        """The daemon is back (a new instance): connected, then a fresh snapshot."""
        self.daemon_running = True
        self.instance += 1
        for run in self.data.runs.values():
            if run.state in ACTIVE_STATES:
                run.state, run.error = "failed", "The daemon stopped during the sync."
        if self._started:
            self._set_state("connected", None)
            if self._subscribed:
                self._send_snapshot(restarted=True)

    def hold_runs(self) -> None:
        """Syncs stop before posting until ``release_runs()``."""
        self._gate = asyncio.Event()

    def release_runs(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    def emit(self, topic: str, data: dict[str, Any]) -> None:
        wanted = self._topics is None or topic in self._topics
        if self._subscribed and self.state == "connected" and wanted:
            self._put((topic, json.loads(json.dumps(data))))

    def method_calls(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    # -- internals -------------------------------------------------------------------------
    def _down_message(self) -> str:
        return (
            "No daemon answers at /fake/bexsyncd.sock: connection refused; bexsyncd is not running"
        )

    def _put(self, item: Any) -> None:
        for queue in list(self._queues):
            queue.put(item)

    def _set_state(self, state: str, error: str | None) -> None:
        if state == self.state:
            return
        self.state, self.error = state, error
        self._put((STATE_TOPIC, {"state": state, "error": error}))

    def _send_snapshot(self, *, restarted: bool) -> dict[str, Any]:
        snapshot = self._snapshot()
        self._put(
            (
                SNAPSHOT_TOPIC,
                {
                    "topics": self._topics,
                    "snapshot": snapshot,
                    "instance_id": f"fake-{self.instance}",
                    "restarted": restarted,
                },
            )
        )
        return json.loads(json.dumps(snapshot))

    def _snapshot(self) -> dict[str, Any]:
        return {
            "running": [r.shape() for r in self.data.runs.values() if r.state in ACTIVE_STATES],
            "unread_notifications": sum(
                1 for n in self.data.notifications.values() if not n["read"]
            ),
        }

    def _stamp(self, minutes: int = 0) -> str:
        return iso(self.now + timedelta(minutes=minutes))

    # -- seed ------------------------------------------------------------------------------
    def _seed(self, bulk_entries: int) -> None:
        d = self.data
        for admin_id, number, name in ADMINISTRATIONS:
            d.administrations[admin_id] = {
                "id": admin_id,
                "number": number,
                "name": name,
                "currency": "EUR",
                "timezone": "Europe/Amsterdam",
                "access": True,
            }
        auth_id = d.next_id("authorisation")
        d.authorisations[auth_id] = {
            "id": auth_id,
            "name": "Demo sandbox",
            "provider": "sandbox",
            "status": "active",
            "status_message": "Sandbox ledger ready.",
            "created_at": "2025-03-01T08:00:00Z",
            "logged_in": True,
            "login_pending": False,
        }
        month_start = self.today.replace(day=1)
        four_months_ago = (month_start - timedelta(days=100)).replace(day=1)
        plans = (
            ("daily", self.today - timedelta(days=10), True, 0),
            ("monthly", four_months_ago, False, 3),
            ("monthly", four_months_ago, True, 5),
        )
        for (admin_id, _, _), (frequency, start, automatic, delay) in zip(
            ADMINISTRATIONS, plans, strict=True
        ):
            config_id = d.next_id("configuration")
            d.configurations[config_id] = {
                "id": config_id,
                "authorisation_id": auth_id,
                "administration_id": admin_id,
                "frequency": frequency,
                "ledger_id": "BEX",
                "ledger_name": "Booking Experts postings",
                "tenant_id": None,
                "start_date": start.isoformat(),
                "end_date": None,
                "delay_days": delay,
                "automatic": automatic,
                "active": True,
                "no_vat_code": "NONE",
                "account_map": {},
                "vat_map": {},
            }
        # Bulk entries (benchmarks) are the oldest, generated on demand from their index.
        self.bulk_entries = bulk_entries
        d.ids["entry"] = bulk_entries
        # The real history, oldest first: daily 101 up to yesterday, monthly up to last month.
        self._history(1, self.today - timedelta(days=10), self.today - timedelta(days=1))
        self._history(2, four_months_ago, date(2025, 1, 1))
        self._history(3, four_months_ago, date(2025, 2, 1), failed_first="2025-02")
        self._notify(
            "success",
            "Sync posted: 101 2025-03-14",
            "Entry posted to Demo sandbox (BEX): 4 lines, total in the overview.",
            self._link_last(1),
            read=True,
            minutes=-450,
        )
        self._notify(
            "error",
            "Sync failed: 103 2025-02",
            "The provider did not answer (unavailable); bexsync retried and posted it.",
            self._link_last(3),
            read=False,
            minutes=-300,
        )
        self._notify(
            "warning",
            "Manual sync waiting: 102 2025-02",
            "Administration 102 syncs manually: preview, correct and post 2025-02.",
            {"kind": "entries", "configuration_id": 2, "entry_id": None},
            read=False,
            minutes=-200,
        )

    def _history(self, config_id: int, first: date, last: date, failed_first: str = "") -> None:
        c = self.data.configurations[config_id]
        period = first.isoformat() if c["frequency"] == "daily" else first.strftime("%Y-%m")
        last_period = last.isoformat() if c["frequency"] == "daily" else last.strftime("%Y-%m")
        while period <= last_period:
            if period == failed_first:
                run = self._new_run(config_id, period, "schedule")
                run.state, run.stage = "failed", "posting"
                run.error = "Demo sandbox is unavailable: the provider did not answer."
                run.started_at = run.finished_at = self._stamp(-305)
            run = self._new_run(config_id, period, "schedule")
            run.state = run.stage = "posted"
            when = due_at(period, c["frequency"], c["delay_days"])
            run.started_at = run.finished_at = when
            day = date.fromisoformat(period if len(period) == 10 else period + "-01")
            entry = self._add_entry(config_id, period, day, seed=run.id, run_id=run.id)
            entry["posted_at"] = when
            run.entry_id = entry["id"]
            period = period_after(period, c["frequency"])

    def _link_last(self, config_id: int) -> dict[str, Any]:
        entry = next(e for e in reversed(self.data.entries) if e["configuration_id"] == config_id)
        return {"kind": "entries", "configuration_id": config_id, "entry_id": entry["id"]}

    def _new_run(self, config_id: int, period: str, trigger: str) -> FakeRun:
        run = FakeRun(self.data.next_id("run"), config_id, period, trigger)
        self.data.runs[run.id] = run
        return run

    def _add_entry(
        self, config_id: int, period: str, day: date, *, seed: int, run_id: int | None
    ) -> dict[str, Any]:
        c = self.data.configurations[config_id]
        scale = 1 if c["frequency"] == "daily" else 30
        lines = entry_lines(seed, scale)
        return self._store_entry(config_id, period, day, lines, run_id)

    def _store_entry(
        self,
        config_id: int,
        period: str,
        day: date,
        lines: list[dict[str, Any]],
        run_id: int | None,
    ) -> dict[str, Any]:
        c = self.data.configurations[config_id]
        entry_id = self.data.next_id("entry")
        total = sum((Decimal(line["debit"]) for line in lines), Decimal(0))
        entry = {
            "id": entry_id,
            "configuration_id": config_id,
            "administration_number": self.data.administrations[c["administration_id"]]["number"],
            "period": period,
            "reference": f"bexsync:{config_id}:{period}",
            "date": day.isoformat(),
            "provider": "sandbox",
            "external_id": f"SBX-{entry_id:06d}",
            "total": money(total),
            "line_count": len(lines),
            "posted_at": f"{day.isoformat()}T02:00:00Z",
            "run_id": run_id,
            "lines": lines,
        }
        self.data.entries.append(entry)
        return entry

    def _notify(
        self,
        level: str,
        title: str,
        body: str,
        link: dict[str, Any] | None,
        *,
        read: bool = False,
        minutes: int = 0,
    ) -> dict[str, Any]:
        note_id = self.data.next_id("notification")
        note = {
            "id": note_id,
            "level": level,
            "title": title,
            "body": body,
            "created_at": self._stamp(minutes),
            "read": read,
            "link": link,
        }
        self.data.notifications[note_id] = note
        return note

    # -- shapes ----------------------------------------------------------------------------
    def _auth(self, auth_id: Any) -> dict[str, Any]:
        auth = self.data.authorisations.get(_int(auth_id))
        if auth is None:
            raise not_found("authorisation", auth_id)
        count = sum(
            1 for c in self.data.configurations.values() if c["authorisation_id"] == auth["id"]
        )
        return {**auth, "configuration_count": count}

    def _done_periods(self, config_id: int) -> set[str]:
        return {e["period"] for e in self.data.entries if e["configuration_id"] == config_id}

    def _next_period(self, c: dict[str, Any]) -> str | None:
        start = date.fromisoformat(c["start_date"])
        period = start.isoformat() if c["frequency"] == "daily" else start.strftime("%Y-%m")
        done = self._done_periods(c["id"])
        while period in done:
            period = period_after(period, c["frequency"])
        if c.get("end_date"):
            end = date.fromisoformat(c["end_date"])
            last = end.isoformat() if c["frequency"] == "daily" else end.strftime("%Y-%m")
            if period > last:
                return None
        return period

    def _period(self, c: dict[str, Any], key: Any, *, for_run: bool) -> str:
        """The daemon's period checks: shape, the configuration's dates, due for a run."""
        if key is None:
            period = (c["next_due"] or {}).get("period")
            if period is None:
                raise validation(
                    "Nothing to sync: the configuration is finished.",
                    [{"field": "period", "message": "no period left"}],
                )
            if for_run and c["next_due"]["due_at"] > self._stamp():
                raise validation(
                    "No period of this configuration is due for a sync. The next one, "
                    f"{period}, is due at {c['next_due']['due_at']}.",
                    [{"field": "period", "message": "nothing is due; name a period"}],
                )
            return str(period)
        key = str(key)
        try:
            day = date.fromisoformat(key if c["frequency"] == "daily" else key + "-01")
            if len(key) != (10 if c["frequency"] == "daily" else 7):
                raise ValueError
        except ValueError:
            raise validation(
                f"{key!r} is not a period of this configuration.",
                [{"field": "period", "message": f"not a {c['frequency']} period"}],
            ) from None
        start = date.fromisoformat(c["start_date"])
        first = start if c["frequency"] == "daily" else start.replace(day=1)
        end = c.get("end_date")
        if day < first or (end and day > date.fromisoformat(end)):
            raise validation(
                f"Period {key} is outside this configuration's start and end dates.",
                [{"field": "period", "message": "outside the configuration's dates"}],
            )
        due = due_at(key, c["frequency"], c["delay_days"])
        if for_run and due > self._stamp():
            raise validation(
                f"Period {key} is not due until {due}; a period is synced only after it "
                "ends (plus the delay).",
                [{"field": "period", "message": "not due yet"}],
            )
        return key

    def _posted_lines(self, config_id: int, period: str) -> dict[tuple[str, str], Decimal] | None:
        """Net amount per (account, VAT code) over the period's entries; None: not posted."""
        entries = [
            e
            for e in self.data.entries
            if e["configuration_id"] == config_id and e["period"] == period
        ]
        if not entries:
            return None
        totals: dict[tuple[str, str], Decimal] = {}
        for entry in entries:
            for line in entry["lines"]:
                key = (line["account"], line.get("vat_code") or "")
                totals[key] = (
                    totals.get(key, Decimal(0)) + Decimal(line["debit"]) - Decimal(line["credit"])
                )
        return totals

    def _config(self, config_id: Any) -> dict[str, Any]:
        c = self.data.configurations.get(_int(config_id))
        if c is None:
            raise not_found("configuration", config_id)
        admin = self.data.administrations[c["administration_id"]]
        auth = self.data.authorisations[c["authorisation_id"]]
        runs = [r for r in self.data.runs.values() if r.configuration_id == c["id"]]
        last = max(runs, key=lambda r: r.id) if runs else None
        running = last is not None and last.state in ACTIVE_STATES
        period = self._next_period(c)
        if running:
            state = "running"
        elif period is None:
            state = "finished"
        elif not c["active"]:
            state = "inactive"
        elif auth["status"] != "active":
            state = "authorisation_" + auth["status"]
        else:
            state = "active"
        return {
            **c,
            "authorisation_name": auth["name"],
            "provider": auth["provider"],
            "administration_number": admin["number"],
            "administration_name": admin["name"],
            "state": state,
            "next_due": None
            if period is None
            else {"period": period, "due_at": due_at(period, c["frequency"], c["delay_days"])},
            "last_run": last.shape() if last else None,
        }

    # -- methods: daemon, providers, administrations ---------------------------------------
    def m_daemon_hello(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "api_version": "1.0",
            "server_version": "0.1.0",
            "instance_id": f"fake-{self.instance}",
        }

    def m_daemon_status(self, p: dict[str, Any]) -> dict[str, Any]:
        configs = [self._config(i) for i in sorted(self.data.configurations)]
        failing = [r for r in self.data.runs.values() if r.state == "failed"][-1:]
        return {
            "version": "0.1.0",
            "started_at": "2025-03-15T08:30:00Z",
            "uptime_s": 3600,
            "state_dir": "/var/lib/bexsync",
            "socket": "/run/bexsync/bexsyncd.sock",
            "pms": {k: self.pms[k] for k in ("kind", "base_url", "status", "message")},
            "counts": {
                "authorisations": len(self.data.authorisations),
                "configurations": len(configs),
                "entries": len(self.data.entries) + self.bulk_entries,
                "unread_notifications": self._snapshot()["unread_notifications"],
            },
            "next_runs": [
                {"configuration_id": c["id"], **c["next_due"]}
                for c in configs
                if c["next_due"] and c["active"]
            ],
            "attention": [
                {
                    "kind": "run_failed",
                    "message": f"Run {r.id} of configuration "
                    f"{r.configuration_id} ({r.period}) failed: {r.error}",
                }
                for r in failing
            ],
        }

    def m_providers_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"id": pid, "title": title, "route": route, "auth": [kind], "capabilities": {}}
            for pid, title, route, kind in PROVIDERS
        ]

    # -- the PMS connection (as the daemon's administrations service) -----------------------
    def m_pms_get(self, p: dict[str, Any]) -> dict[str, Any]:
        return {**self.pms, "login_pending": self.pms_pending is not None}

    def m_pms_connect(self, p: dict[str, Any]) -> dict[str, Any]:
        """API key: checked against the PMS now. OAuth: a login URL; ``pms.complete`` ends it."""
        mode = p.get("auth") or "api_key"
        if mode not in ("api_key", "oauth"):
            raise _error(
                -32602,
                "InvalidParams",
                f"Unknown PMS login {mode!r}.",
                errors=[{"field": "auth", "message": 'one of "api_key", "oauth"'}],
            )
        if mode == "oauth" and p.get("api_key") is not None:
            raise _error(
                -32602,
                "InvalidParams",
                "An API key is not used with an OAuth login.",
                errors=[{"field": "api_key", "message": 'leave it out with auth "oauth"'}],
            )
        url = str(p.get("base_url") or self.pms["base_url"] or "")
        if not url:
            raise validation(
                "The PMS API base URL is missing.",
                [{"field": "base_url", "message": "required on the first connection"}],
            )
        scheme, _, rest = url.partition("://")
        if scheme not in ("http", "https") or not rest.split("/")[0] or not url.isprintable():
            raise validation(
                "The PMS API base URL must be an http:// or https:// URL with a host.",
                [{"field": "base_url", "message": "must be an http(s) URL"}],
            )
        if mode == "oauth":
            self.pms_pending = url
            return {
                **self.m_pms_get({}),
                "next_step": {
                    "kind": "open_url",
                    "url": f"{url}/oauth/authorize?response_type=code&client_id=bexsync"
                    f"&redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcallback"
                    f"&state={PMS_OAUTH_STATE}",
                    "redirect_uri": "http://127.0.0.1:8976/callback",
                    "instructions": "Open this address, log in to the PMS and allow bexsync; "
                    "then paste the address the browser lands on.",
                },
            }
        key = p.get("api_key") or (self.pms_key if self.pms["auth"] == "api_key" else None)
        if not key:
            raise _error(
                -32602,
                "InvalidParams",
                "The PMS API key is missing.",
                errors=[{"field": "api_key", "message": 'required, or use auth "oauth"'}],
            )
        if key != FAKE_PMS_KEY:
            raise _error(
                -32004,
                "ProviderError",
                "The PMS refused the API key (401).",
                kind="auth_expired",
                provider="bex",
            )
        self.pms_key = key
        return self._pms_connected(url, "api_key")

    def _pms_connected(self, url: str, auth: str) -> dict[str, Any]:
        count = len(self.data.administrations)
        self.pms = {
            "kind": "bex",
            "base_url": url,
            "auth": auth,
            "status": "connected",
            "message": f"Connected; {count} administrations.",
        }
        return self.m_pms_get({})

    def m_pms_complete(self, p: dict[str, Any]) -> dict[str, Any]:
        url = str(p.get("redirect_url") or "")
        if not (url or p.get("code")):
            raise _error(
                -32602,
                "InvalidParams",
                "Paste the address the browser ended on (or the code).",
                errors=[{"field": "redirect_url", "message": "redirect_url or code is required"}],
            )
        if self.pms_pending is None:
            raise validation(
                "No PMS OAuth login is in progress: start one with pms.connect and auth "
                '"oauth" (a login that already completed cannot be completed twice).',
                [{"field": "redirect_url", "message": 'call pms.connect with auth "oauth"'}],
            )
        if url and ("code=" not in url or f"state={PMS_OAUTH_STATE}" not in url):
            raise validation(
                "The PMS login cannot be completed.",
                [{"field": "redirect_url", "message": "not the address of this login"}],
            )
        base_url, self.pms_pending = self.pms_pending, None
        return self._pms_connected(base_url, "oauth")

    def m_administrations_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(self.data.administrations.values(), key=lambda a: a["number"])

    def m_administrations_set_access(self, p: dict[str, Any]) -> dict[str, Any]:
        admin = self.data.administrations.get(str(p.get("id")))
        if admin is None:
            raise _error(-32001, "NotFound", f"No administration with id {p.get('id')!r}.")
        admin["access"] = bool(p.get("access"))
        self.emit("administration.updated", admin)
        return admin

    # -- authorisations --------------------------------------------------------------------
    def m_authorisations_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        auths = [self._auth(i) for i in self.data.authorisations]
        return sorted(auths, key=lambda a: a["name"].casefold())

    def m_authorisations_get(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._auth(p.get("id"))

    def m_authorisations_create(self, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p.get("name") or "").strip()
        provider = str(p.get("provider") or "")
        kinds = {pid: kind for pid, _, _, kind in PROVIDERS}
        problems = []
        if not name:
            problems.append({"field": "name", "message": "a name is required"})
        if provider not in kinds:
            problems.append({"field": "provider", "message": f"unknown provider {provider!r}"})
        if problems:
            raise validation("The authorisation cannot be created.", problems)
        if any(a["name"].casefold() == name.casefold() for a in self.data.authorisations.values()):
            raise conflict(f"An authorisation named {name!r} already exists.")
        auth_id = self.data.next_id("authorisation")
        kind = kinds[provider]
        self.data.authorisations[auth_id] = {
            "id": auth_id,
            "name": name,
            "provider": provider,
            "status": "inactive",
            "status_message": "Not verified yet: activate it.",
            "created_at": self._stamp(),
            "logged_in": kind == "none",
            "login_pending": kind != "none",
        }
        auth = self._auth(auth_id)
        self.emit("authorisation.updated", auth)
        return {"authorisation": auth, "next_step": self._next_step(provider, kind)}

    def _next_step(self, provider: str, kind: str) -> dict[str, Any]:
        if kind == "open_url":
            return {
                "kind": "open_url",
                "url": f"https://login.{provider}.example/authorize?response_type=code"
                f"&client_id=bexsync-demo&redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcallback"
                f"&state={OAUTH_STATE}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
                f"&code_challenge_method=S256",
                "redirect_uri": "http://127.0.0.1:8976/callback",
                "instructions": None,
            }
        if kind == "device_code":
            return {
                "kind": "device_code",
                "verification_uri": "https://microsoft.com/devicelogin",
                "user_code": "FKX3-PQ7R",
                "expires_in": 900,
            }
        if kind == "credentials":
            return {
                "kind": "credentials",
                "fields": CREDENTIAL_FIELDS.get(provider, DEFAULT_FIELDS),
            }
        return {"kind": "none"}

    def m_authorisations_login(self, p: dict[str, Any]) -> dict[str, Any]:
        """Log in again: the provider's step as for create; the old login stays till complete."""
        auth = self._auth(p.get("id"))
        kind = {pid: k for pid, _, _, k in PROVIDERS}[auth["provider"]]
        self.data.authorisations[auth["id"]]["login_pending"] = kind != "none"
        result = self._auth(auth["id"])
        self.emit("authorisation.updated", result)
        return {"authorisation": result, "next_step": self._next_step(auth["provider"], kind)}

    def set_status(self, auth_id: int, status: str, message: str) -> None:
        """Test control: the daemon found the login refused (``error``) or fixed."""
        self.data.authorisations[auth_id].update(status=status, status_message=message)
        self.emit("authorisation.updated", self._auth(auth_id))

    def approve_device_login(self, auth_id: int) -> None:
        """The user approved the device code: the daemon's poll finishes the login."""
        auth = self.data.authorisations[auth_id]
        auth.update(
            logged_in=True,
            login_pending=False,
            status_message="Logged in; activate it to verify the connection.",
        )
        self.emit("authorisation.updated", self._auth(auth_id))

    def m_authorisations_complete(self, p: dict[str, Any]) -> dict[str, Any]:
        auth = self._auth(p.get("id"))
        kind = {pid: k for pid, _, _, k in PROVIDERS}[auth["provider"]]
        if kind == "open_url":
            url = str(p.get("redirect_url") or "")
            if "code=" not in url:
                raise validation(
                    "The login cannot be completed.",
                    [{"field": "redirect_url", "message": "the pasted address has no code= in it"}],
                )
            if f"state={OAUTH_STATE}" not in url:
                raise validation(
                    "The login cannot be completed.",
                    [
                        {
                            "field": "redirect_url",
                            "message": "the address belongs to another login (state differs)",
                        }
                    ],
                )
        elif kind == "credentials":
            creds = p.get("credentials") or {}
            missing = [
                f["name"]
                for f in CREDENTIAL_FIELDS.get(auth["provider"], DEFAULT_FIELDS)
                if not str(creds.get(f["name"]) or "").strip()
            ]
            if missing:
                raise validation(
                    "Some credentials are missing.",
                    [{"field": name, "message": "required"} for name in missing],
                )
        elif kind == "device_code" and not auth["logged_in"]:
            raise _error(
                -32005,
                "AuthorisationRequired",
                "The device code was not approved yet: enter it first.",
            )
        stored = self.data.authorisations[auth["id"]]
        stored.update(
            logged_in=True,
            login_pending=False,
            status="inactive",
            status_message="Logged in; activate it to verify the connection.",
        )
        result = self._auth(auth["id"])
        self.emit("authorisation.updated", result)
        return result

    def m_authorisations_activate(self, p: dict[str, Any]) -> dict[str, Any]:
        auth = self._auth(p.get("id"))
        stored = self.data.authorisations[auth["id"]]
        if not stored["logged_in"]:
            raise _error(
                -32005,
                "AuthorisationRequired",
                f"Authorisation {auth['name']!r} has no login yet: complete the login first.",
            )
        stored.update(status="active", status_message="Connection verified.")
        result = self._auth(auth["id"])
        self.emit("authorisation.updated", result)
        return result

    def m_authorisations_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        auth = self._auth(p.get("id"))
        if auth["configuration_count"]:
            raise conflict(
                f"Authorisation {auth['name']!r} still has {auth['configuration_count']} "
                "configuration(s); delete those first."
            )
        del self.data.authorisations[auth["id"]]
        self.emit("authorisation.updated", {"id": auth["id"], "deleted": True})
        return {"deleted": True}

    # -- configurations --------------------------------------------------------------------
    async def m_configurations_options(self, p: dict[str, Any]) -> dict[str, Any]:
        auth = self._auth(p.get("authorisation_id"))
        if auth["status"] != "active":
            raise _error(
                -32005,
                "AuthorisationRequired",
                f"Authorisation {auth['name']!r} is {auth['status']}; activate it first.",
            )
        if self.options_delay:
            await asyncio.sleep(self.options_delay)
        await self.options_ready.wait()
        return {
            "administrations": [a for a in self.m_administrations_list({}) if a["access"]],
            "ledgers": list(LEDGERS),
            "tenants": [{"id": "sandbox", "name": "Sandbox"}],
            "vat_codes": [{"code": c, "name": c, "rate": None} for c in TAX_CODES],
        }

    def m_configurations_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        auth_id = p.get("authorisation_id")
        return [
            self._config(i)
            for i, c in sorted(self.data.configurations.items())
            if auth_id is None or c["authorisation_id"] == _int(auth_id)
        ]

    def m_configurations_get(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._config(p.get("id"))

    def _check(
        self, fields: dict[str, Any], current: dict[str, Any] | None
    ) -> list[dict[str, str]]:
        merged = {**(current or {}), **fields}
        problems: list[dict[str, str]] = []

        def add(field_name: str, message: str) -> None:
            problems.append({"field": field_name, "message": message})

        admin = self.data.administrations.get(str(merged.get("administration_id")))
        if admin is None:
            add("administration_id", f"unknown administration {merged.get('administration_id')!r}")
        elif not admin["access"]:
            add(
                "administration_id",
                "bexsync has no access to this administration; tick its access first",
            )
        if merged.get("frequency") not in ("daily", "monthly"):
            add("frequency", "must be daily or monthly")
        if merged.get("ledger_id") not in {x["id"] for x in LEDGERS}:
            add("ledger_id", f"the provider has no ledger {merged.get('ledger_id')!r}")
        try:
            start = date.fromisoformat(str(merged.get("start_date")))
        except ValueError:
            add("start_date", "not a date (YYYY-MM-DD)")
            start = None
        end = merged.get("end_date")
        if end:
            try:
                if start is not None and date.fromisoformat(str(end)) <= start:
                    add("end_date", "the end date must be after the start date")
            except ValueError:
                add("end_date", "not a date (YYYY-MM-DD)")
        delay = merged.get("delay_days")
        if not isinstance(delay, int) or not 0 <= delay <= 14:
            add("delay_days", "must be between 0 and 14 days")
        for key in ("account_map", "vat_map"):
            mapping = merged.get(key) or {}
            if not all(isinstance(v, str) and v for v in mapping.values()):
                add(key, "must map codes (text) to non-empty codes (text)")
        return problems

    def m_configurations_create(self, p: dict[str, Any]) -> dict[str, Any]:
        auth = self._auth(p.get("authorisation_id"))
        problems = self._check(p, None)
        if problems:
            raise validation("The configuration is not valid.", problems)
        if any(
            c["authorisation_id"] == auth["id"] and c["administration_id"] == p["administration_id"]
            for c in self.data.configurations.values()
        ):
            raise validation(
                "The configuration is not valid.",
                [
                    {
                        "field": "administration_id",
                        "message": "this authorisation already has a configuration for it",
                    }
                ],
            )
        config_id = self.data.next_id("configuration")
        self.data.configurations[config_id] = {
            "id": config_id,
            "authorisation_id": auth["id"],
            "administration_id": p["administration_id"],
            "frequency": p["frequency"],
            "ledger_id": p["ledger_id"],
            "ledger_name": {x["id"]: x["name"] for x in LEDGERS}[p["ledger_id"]],
            "tenant_id": p.get("tenant_id"),
            "start_date": p["start_date"],
            "end_date": p.get("end_date"),
            "delay_days": p["delay_days"],
            "automatic": bool(p.get("automatic", True)),
            "active": bool(p.get("activate", False)),
            "no_vat_code": p.get("no_vat_code") or "NONE",
            "account_map": dict(p.get("account_map") or {}),
            "vat_map": dict(p.get("vat_map") or {}),
        }
        result = self._config(config_id)
        self.emit("configuration.updated", result)
        return result

    def m_configurations_update(self, p: dict[str, Any]) -> dict[str, Any]:
        current = self._config(p.get("id"))
        fields = {k: v for k, v in p.items() if k != "id"}
        problems = self._check(fields, current)
        if problems:
            raise validation("The configuration is not valid.", problems)
        stored = self.data.configurations[current["id"]]
        for key in (
            "frequency",
            "ledger_id",
            "tenant_id",
            "start_date",
            "end_date",
            "delay_days",
            "automatic",
            "no_vat_code",
            "account_map",
            "vat_map",
        ):
            if key in fields:
                stored[key] = fields[key]
        stored["ledger_name"] = {x["id"]: x["name"] for x in LEDGERS}[stored["ledger_id"]]
        result = self._config(current["id"])
        self.emit("configuration.updated", result)
        return result

    def _set_active(self, p: dict[str, Any], active: bool) -> dict[str, Any]:
        current = self._config(p.get("id"))
        self.data.configurations[current["id"]]["active"] = active
        result = self._config(current["id"])
        self.emit("configuration.updated", result)
        return result

    def m_configurations_activate(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._set_active(p, True)

    def m_configurations_deactivate(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._set_active(p, False)

    def m_configurations_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        current = self._config(p.get("id"))
        del self.data.configurations[current["id"]]
        self.emit("configuration.updated", {"id": current["id"], "deleted": True})
        return {"deleted": True}

    # -- previews and drafts ---------------------------------------------------------------
    def m_syncs_preview(self, p: dict[str, Any]) -> dict[str, Any]:
        c = self._config(p.get("configuration_id"))
        period = self._period(c, p.get("period"), for_run=False)
        scale = 1 if c["frequency"] == "daily" else 30
        posted = next(
            (
                e
                for e in self.data.entries
                if e["configuration_id"] == c["id"] and e["period"] == period
            ),
            None,
        )
        # The PMS has not changed since: a posted period previews as it was posted.
        if posted is not None:
            lines = [dict(line) for line in posted["lines"]]
        else:
            lines = entry_lines(c["id"] * 1000 + len(period), scale)
            for line in lines:  # the configuration's overrides, as the entry builder does
                line["account"] = (c.get("account_map") or {}).get(line["account"], line["account"])
                if line["vat_code"]:
                    vat = line["vat_code"]
                    line["vat_code"] = (c.get("vat_map") or {}).get(vat, vat)
        day = date.fromisoformat(period if len(period) == 10 else period + "-01")
        warnings = []
        if c["frequency"] == "monthly":
            warnings.append(
                {
                    "code": "date_split",
                    "message": f"Invoice {c['administration_number']}-S0012: the stay is "
                    f"realised in {period} and the next month; its invoice date is in {period}.",
                    "details": {"invoice": f"{c['administration_number']}-S0012"},
                }
            )
        if posted is not None:
            warnings.append(
                {
                    "code": "already_posted",
                    "message": f"Period {period} is already posted; running it again with "
                    "force posts a correcting entry for the difference only.",
                    "details": {},
                }
            )
        draft_id = self.data.next_id("draft")
        draft = {
            "id": draft_id,
            "status": "open",
            "configuration_id": c["id"],
            "reference": f"bexsync:{c['id']}:{period}",
            "period": period,
            "date": day.isoformat(),
            "narration": f"BEX {c['administration_number']} {period}",
            "currency": "EUR",
            "ledger_id": c["ledger_id"],
            "lines": lines,
            "warnings": warnings,
            "errors": [],
            "sources": {
                "transactions": 412 if scale > 1 else 17,
                "invoice_count": 57 if scale > 1 else 6,
                "invoices": [],
                "invoices_truncated": True,
            },
        }
        self._validate(draft)
        self.data.drafts[draft_id] = draft
        return draft

    def _validate(self, draft: dict[str, Any]) -> None:
        debit = credit = Decimal(0)
        errors = []
        for number, line in enumerate(draft["lines"], start=1):
            debit += Decimal(line["debit"])
            credit += Decimal(line["credit"])
            account = str(line.get("account") or "")
            if not account:
                errors.append(
                    {
                        "code": "no_account",
                        "message": f"line {number} has no account",
                        "details": {"line": number},
                    }
                )
            elif account not in CHART:
                errors.append(
                    {
                        "code": "unknown_account",
                        "message": f"The accounting provider has no account {account}. Create "
                        "it there, or map the BEX account to an existing account in the "
                        "configuration.",
                        "details": {"line": number},
                    }
                )
            else:
                line["account_name"] = CHART[account]
            if line.get("vat_code") and line["vat_code"] not in TAX_CODES:
                errors.append(
                    {
                        "code": "unknown_vat_code",
                        "message": f"line {number}: VAT code {line['vat_code']} is unknown",
                        "details": {"line": number},
                    }
                )
        balanced = debit == credit
        if not balanced:
            errors.append(
                {
                    "code": "unbalanced",
                    "message": f"debit {money(debit)} and credit {money(credit)} differ "
                    f"by {money(abs(debit - credit))}",
                    "details": {},
                }
            )
        draft.update(
            totals={"debit": money(debit), "credit": money(credit)},
            balanced=balanced,
            errors=errors,
            postable=not errors,
        )

    def m_drafts_update(self, p: dict[str, Any]) -> dict[str, Any]:
        draft = self.data.drafts.get(_int(p.get("id")))
        if draft is None:
            raise not_found("draft", p.get("id"))
        if draft["status"] != "open":
            raise conflict(f"Draft {draft['id']} was already {draft['status']}; preview again.")
        lines, problems = [], []
        for index, raw in enumerate(p.get("lines") or []):
            line = {
                k: raw.get(k, "") for k in ("account", "account_name", "description", "vat_code")
            }
            for key in ("debit", "credit"):
                try:
                    amount = Decimal(str(raw.get(key) or "0"))
                    if amount != amount.quantize(CENT) or amount < 0:
                        raise InvalidOperation
                    line[key] = money(amount)
                except InvalidOperation:
                    problems.append(
                        {
                            "field": f"lines[{index}].{key}",
                            "message": "not an amount with at most 2 decimals",
                        }
                    )
            lines.append(line)
        if problems:
            raise validation("Some lines cannot be read.", problems)
        draft["lines"] = lines
        self._validate(draft)
        return draft

    # -- runs ------------------------------------------------------------------------------
    def m_syncs_run(self, p: dict[str, Any]) -> dict[str, Any]:
        c = self._config(p.get("configuration_id"))
        if c["state"] == "running":
            raise conflict(f"A sync of configuration {c['id']} is already running.")
        auth = self.data.authorisations[c["authorisation_id"]]
        if auth["status"] != "active":
            raise _error(
                -32005,
                "AuthorisationRequired",
                f"Authorisation {auth['name']!r} is {auth['status']}; activate it first.",
            )
        draft = None
        if p.get("draft_id") is not None:
            draft = self.data.drafts.get(_int(p["draft_id"]))
            if draft is None:
                raise not_found("draft", p["draft_id"])
            if draft["errors"]:
                raise validation(
                    "The draft cannot be posted.",
                    [{"field": "draft_id", "message": e["message"]} for e in draft["errors"]],
                )
        period = self._period(c, p.get("period") or (draft or {}).get("period"), for_run=True)
        posted = self._posted_lines(c["id"], period)
        if posted is not None and not p.get("force"):
            raise _error(
                -32003,
                "Conflict",
                f"Period {period} is already synced. To post a correcting entry for what "
                "changed since, run it again with force=true.",
                period=period,
            )
        run = self._new_run(c["id"], period, "manual")
        run.draft_id = None if draft is None else draft["id"]
        run.started_at = self._stamp()
        task = asyncio.get_running_loop().create_task(self._progress(run, draft, posted))
        self._tasks[run.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run.id, None))
        return {"run_id": run.id}

    async def _progress(
        self,
        run: FakeRun,
        draft: dict[str, Any] | None,
        posted: dict[tuple[str, str], Decimal] | None = None,
    ) -> None:
        for stage, total in STAGES:
            for done in range(total + 1):
                run.state, run.stage, run.done, run.total = stage, stage, done, total
                self.emit(
                    "sync.progress",
                    {
                        "run_id": run.id,
                        "configuration_id": run.configuration_id,
                        "period": run.period,
                        "state": run.state,
                        "stage": stage,
                        "done": done,
                        "total": total,
                    },
                )
                await asyncio.sleep(self.step_delay)
            if stage == "building" and self._gate is not None:
                await self._gate.wait()
        if run.state == "cancelled":
            return
        c = self.data.configurations[run.configuration_id]
        number = self.data.administrations[c["administration_id"]]["number"]
        day = date.fromisoformat(run.period if len(run.period) == 10 else run.period + "-01")
        if posted is not None:
            self._post_correction(run, c, number, day, draft, posted)
            return
        if draft is not None:
            draft["status"] = "posted"
            entry = self._store_entry(c["id"], run.period, day, draft["lines"], run.id)
        else:
            entry = self._add_entry(c["id"], run.period, day, seed=run.id, run_id=run.id)
        entry["posted_at"] = run.finished_at = self._stamp()
        run.state, run.entry_id = "posted", entry["id"]
        self._finish(run)
        note = self._notify(
            "success",
            f"Sync posted: {number} {run.period}",
            f"Entry {entry['external_id']} posted: {entry['line_count']} lines, "
            f"total {entry['total']}.",
            {"kind": "entries", "configuration_id": c["id"], "entry_id": entry["id"]},
        )
        self.emit("notification.created", note)

    def _post_correction(
        self,
        run: FakeRun,
        c: dict[str, Any],
        number: str,
        day: date,
        draft: dict[str, Any] | None,
        posted: dict[tuple[str, str], Decimal],
    ) -> None:
        """A forced re-sync posts the difference only (without a draft the PMS is unchanged)."""
        target: dict[tuple[str, str], Decimal] = dict(posted)
        if draft is not None:
            draft["status"] = "posted"
            target = {}
            for line in draft["lines"]:
                key = (line["account"], line.get("vat_code") or "")
                net = Decimal(line["debit"]) - Decimal(line["credit"])
                target[key] = target.get(key, Decimal(0)) + net
        lines = []
        for account, vat in sorted(set(target) | set(posted)):
            net = target.get((account, vat), Decimal(0)) - posted.get((account, vat), Decimal(0))
            if net:
                lines.append(
                    _line(
                        account,
                        f"Correction {run.period} {account}",
                        vat,
                        max(net, Decimal(0)),
                        max(-net, Decimal(0)),
                    )
                )
        run.finished_at = self._stamp()
        link: dict[str, Any] = {"kind": "entries", "configuration_id": c["id"], "entry_id": None}
        if not lines:
            run.state, run.stage = "posted", "no difference"
            title = f"Nothing to correct: {number} {run.period}"
            body = f"The PMS still shows what was posted for {run.period}."
        else:
            entry = self._store_entry(c["id"], run.period, day, lines, run.id)
            entry["posted_at"] = run.finished_at
            run.state, run.entry_id = "posted", entry["id"]
            link["entry_id"] = entry["id"]
            title = f"Correction posted {number} {run.period}"
            body = f"Entry {entry['external_id']}: the difference, {len(lines)} lines."
        self._finish(run)
        self.emit("notification.created", self._notify("success", title, body, link))

    def _finish(self, run: FakeRun) -> None:
        self.emit(
            "sync.finished",
            {
                "run_id": run.id,
                "configuration_id": run.configuration_id,
                "period": run.period,
                "state": run.state,
                "entry_id": run.entry_id,
                "error": run.error,
            },
        )
        self.emit("configuration.updated", self._config(run.configuration_id))

    def m_syncs_cancel(self, p: dict[str, Any]) -> dict[str, Any]:
        run = self.data.runs.get(_int(p.get("run_id")))
        if run is None:
            raise not_found("run", p.get("run_id"))
        if run.state in ACTIVE_STATES:
            run.state, run.finished_at = "cancelled", self._stamp()
            task = self._tasks.get(run.id)
            if task is not None:
                task.cancel()
            self._finish(run)
        return run.shape()

    def m_syncs_get(self, p: dict[str, Any]) -> dict[str, Any]:
        run = self.data.runs.get(_int(p.get("run_id")))
        if run is None:
            raise not_found("run", p.get("run_id"))
        return run.shape()

    def m_syncs_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        runs = sorted(self.data.runs.values(), key=lambda r: r.id, reverse=True)
        if p.get("configuration_id") is not None:
            runs = [r for r in runs if r.configuration_id == _int(p["configuration_id"])]
        if p.get("state"):
            runs = [r for r in runs if r.state == p["state"]]
        return [r.shape() for r in runs[: int(p.get("limit") or 100)]]

    # -- entries and notifications ---------------------------------------------------------
    def _bulk_entry(self, index: int) -> dict[str, Any]:
        """Bulk entry ``index`` (id ``index + 1``): three configurations round robin, daily."""
        config_id = index % 3 + 1
        day = date(2000, 1, 1) + timedelta(days=index // 3)
        number = ADMINISTRATIONS[config_id - 1][1]
        return {
            "id": index + 1,
            "configuration_id": config_id,
            "administration_number": number,
            "period": day.isoformat(),
            "reference": f"bexsync:{config_id}:{day}",
            "date": day.isoformat(),
            "provider": "sandbox",
            "external_id": f"SBX-B{index + 1:07d}",
            "total": f"{100 + index % 9000}.{index % 100:02d}",
            "line_count": 2,
            "posted_at": f"{day}T02:00:00Z",
            "run_id": None,
        }

    def _bulk_matches(self, index: int, config_id: int | None, period: str) -> bool:
        if config_id is not None and index % 3 + 1 != config_id:
            return False
        if period:
            day = date(2000, 1, 1) + timedelta(days=index // 3)
            return day.isoformat().startswith(period)
        return True

    def m_entries_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        limit = int(p.get("limit") or 100)
        offset = int(p.get("offset") or 0)
        config_id = None if p.get("configuration_id") is None else _int(p["configuration_id"])
        period = str(p.get("period") or "")
        found: list[dict[str, Any]] = []
        skipped = 0
        for entry in reversed(self.data.entries):
            if config_id is not None and entry["configuration_id"] != config_id:
                continue
            if period and not entry["period"].startswith(period):
                continue
            if skipped < offset:
                skipped += 1
                continue
            found.append({k: v for k, v in entry.items() if k != "lines"})
            if len(found) >= limit:
                return found
        index = self.bulk_entries - 1
        if config_id is None and not period:  # plain paging: skip by arithmetic
            index -= offset - skipped
            skipped = offset
        while index >= 0 and len(found) < limit:
            if self._bulk_matches(index, config_id, period):
                if skipped < offset:
                    skipped += 1
                else:
                    found.append(self._bulk_entry(index))
            index -= 1
        return found

    def m_entries_get(self, p: dict[str, Any]) -> dict[str, Any]:
        entry_id = _int(p.get("id"))
        for entry in self.data.entries:
            if entry["id"] == entry_id:
                return entry
        if 1 <= entry_id <= self.bulk_entries:
            entry = self._bulk_entry(entry_id - 1)
            total = Decimal(entry["total"])
            return {
                **entry,
                "lines": [
                    _line("1000", "Cash receipts", "", total, Decimal(0)),
                    _line("8000", "Rent turnover", "0", Decimal(0), total),
                ],
            }
        raise not_found("entry", p.get("id"))

    def m_notifications_list(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        notes = sorted(self.data.notifications.values(), key=lambda n: n["id"], reverse=True)
        return [n for n in notes if not (p.get("unread_only") and n["read"])]

    def m_notifications_mark_read(self, p: dict[str, Any]) -> dict[str, Any]:
        updated = 0
        for note in self.data.notifications.values():
            if not note["read"] and (p.get("all") or note["id"] == _int(p.get("id"))):
                note["read"] = True
                updated += 1
        return {"updated": updated}


def _int(value: Any) -> int:
    with contextlib.suppress(TypeError, ValueError):
        return int(value)
    return -1
