"""One provider's world for the fault matrix: PMS and provider simulators, a real daemon, a
configuration, and the knobs a scenario turns (fault plans, tokens, locks).

The daemon runs in this event loop (``DaemonApp``, exactly what ``bexsyncd`` runs) and is driven
through its JSON-RPC socket; the simulators are real HTTP servers on 127.0.0.1 that outlive a
daemon restart, so what reached "the provider" can be counted afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bexsync_tui.client import Client
from daemon.app import DaemonApp
from daemon.config import parse_config
from providers import http as provider_http
from providers.ratelimit import LimiterRegistry, RateLimitSpec
from providers.references import reference_pattern
from providers.sandbox import LEDGER_FILE, SandboxLedger
from providers.simulators import cegid_loop, pennylane, xero
from providers.simulators.base import SimulatorServer
from providers.simulators.bex import BexDataset, bex_error_body, create_bex_app
from providers.simulators.demo_login import follow_consent, write_secret_file
from providers.simulators.faults import FaultPlan

PROVIDERS = ("sandbox", "xero", "pennylane", "cegid_loop")
PMS_KEY_PREFIX = "pms-rig-"
DATASET_SEED = 20261127
PAGE_SIZE = 10  # a day spans several PMS pages, so "between pages" and "mid-sync" exist
QUOTA_FACTOR = 50
HTTP_TIMEOUT = 1.5  # seconds; production's 30 s would make every timeout scenario slow
TXN_PATH = "/journal_transactions"


@contextlib.contextmanager
def short_http_timeouts(seconds: float = HTTP_TIMEOUT, quota: int = QUOTA_FACTOR) -> Iterator[None]:
    """Test-side patches while the matrix runs (production code is unchanged): every HTTP
    client times out after ``seconds`` instead of 30, and the providers' own request quotas
    are ``quota`` times larger, so a hundred scenarios are not paced at 60 calls a minute.
    Throttling itself is what the 429 storm exercises."""
    original_init = provider_http.HttpClient.__init__
    original_limiter = LimiterRegistry.limiter

    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["timeout"] = min(float(kwargs.get("timeout", 30)), seconds)
        original_init(self, *args, **kwargs)

    def limiter(self: LimiterRegistry, key: str, spec: RateLimitSpec) -> Any:
        bigger = dataclasses.replace(
            spec,
            calls=spec.calls * quota,
            concurrent=spec.concurrent,
            daily=spec.daily * quota if spec.daily else spec.daily,
            burst=(spec.burst[0] * quota, spec.burst[1]) if spec.burst else spec.burst,
        )
        return original_limiter(self, key, bigger)

    provider_http.HttpClient.__init__ = patched  # type: ignore[method-assign]
    LimiterRegistry.limiter = limiter  # type: ignore[method-assign]
    try:
        yield
    finally:
        provider_http.HttpClient.__init__ = original_init  # type: ignore[method-assign]
        LimiterRegistry.limiter = original_limiter  # type: ignore[method-assign]


class Rig:
    """Simulators + daemon + one active daily, manual configuration for ``provider_id``."""

    def __init__(self, provider_id: str, workdir: Path, *, today: date | None = None) -> None:
        self.provider_id = provider_id
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.socket_path = workdir / "bexsyncd.sock"
        self.today = today or date.today()
        self.dataset = BexDataset(DATASET_SEED, self.today)
        self.pms_plan = FaultPlan(error_body=bex_error_body)
        self.provider_plan: FaultPlan | None = None
        self.pms_key = PMS_KEY_PREFIX + secrets.token_hex(8)
        self.servers: list[SimulatorServer] = []
        self.sim: Any = None  # the provider simulator's state object
        self.settings: dict[str, Any] = {}
        self.login: dict[str, Any] | None = None  # authorisations.complete params
        self.app: DaemonApp | None = None
        self.client: Client | None = None
        self.auth_id = 0
        self.config: dict[str, Any] = {}
        self.admin_id = ""
        self._next_day: date | None = None
        self._provider_secret = ""

    # -- set-up --------------------------------------------------------------------------
    async def start(self) -> Rig:
        self.workdir.mkdir(parents=True, exist_ok=True)
        pms = create_bex_app(
            self.dataset, api_key=self.pms_key, faults=self.pms_plan, rate_limit=None
        )
        self.pms_state = pms.state.bex
        self.pms_url = await self._serve(pms, "bex")
        await self._start_provider()
        await self.start_daemon()
        await self._configure()
        return self

    async def _serve(self, app: Any, name: str) -> str:
        server = SimulatorServer(app, name=f"{name}-simulator")
        self.servers.append(server)
        return await server.start()

    async def _start_provider(self) -> None:
        pid = self.provider_id
        if pid == "sandbox":
            return
        if pid == "xero":
            secret = "xero-rig-" + secrets.token_hex(8)
            path = write_secret_file(self.workdir / "xero-secret", secret)
            self.sim = xero.XeroSimState(
                client_id="bexsync-rig", client_secret=secret, minute_limit=100_000
            )
            self.sim.add_org("Rig Holiday Parks (Xero)")
            self.provider_plan = FaultPlan(error_body=xero.xero_error_body)
            url = await self._serve(xero.create_xero_app(self.sim, faults=self.provider_plan), pid)
            self.settings = xero.settings_for(url, "bexsync-rig", path)
            self.api_path = xero.API_PREFIX
        elif pid == "pennylane":
            self._provider_secret = "pl-rig-" + secrets.token_hex(12)
            self.sim = pennylane.PennylaneState.seeded(self._provider_secret)
            self.sim.rate_calls = 100_000
            self.provider_plan = FaultPlan(error_body=pennylane.error_body)
            app = pennylane.create_pennylane_app(self.sim, faults=self.provider_plan)
            url = await self._serve(app, pid)
            self.settings = {"api_url": url + pennylane.PREFIX}
            self.login = {"credentials": {"api_token": self._provider_secret}}
            self.api_path = pennylane.PREFIX
        elif pid == "cegid_loop":
            subscription = "loop-sub-" + secrets.token_hex(8)
            self._provider_secret = "loop-key:" + secrets.token_hex(8)
            path = write_secret_file(self.workdir / "loop-subscription", subscription)
            self.sim = cegid_loop.LoopState.seeded(subscription, self._provider_secret)
            self.sim.process_after = 0.2
            self.provider_plan = FaultPlan(error_body=cegid_loop.error_body)
            url = await self._serve(
                cegid_loop.create_loop_app(self.sim, faults=self.provider_plan), pid
            )
            self.settings = {
                "api_url": url + cegid_loop.PREFIX,
                "client_id": "bexsync-rig",
                "client_secret_file": path,
            }
            self.login = {
                "credentials": {"dossier": cegid_loop.DOSSIER, "api_key": self._provider_secret}
            }
            self.api_path = cegid_loop.PREFIX
        else:
            raise ValueError(f"no rig for provider {pid!r}")

    def daemon_config(self) -> dict[str, Any]:
        providers = {self.provider_id: self.settings} if self.settings else {}
        return {"pms": {"page_size": PAGE_SIZE}, "providers": providers}

    async def start_daemon(self) -> None:
        self.app = DaemonApp(
            state_dir=self.state_dir,
            socket_path=self.socket_path,
            config=parse_config(self.daemon_config()),
        )
        await self.app.open()
        await self.app.start()
        self.client = Client()
        await self.client.connect(str(self.socket_path))

    async def stop_daemon(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.aclose()
        if self.app is not None:
            await self.app.stop()
        self.app = self.client = None

    async def restart_daemon(self) -> None:
        await self.stop_daemon()
        await self.start_daemon()

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        assert self.client is not None
        return await self.client.call(method, params or {})

    async def _configure(self) -> None:
        await self.call("pms.connect", {"base_url": self.pms_url, "api_key": self.pms_key})
        for admin in await self.call("administrations.list"):
            await self.call("administrations.set_access", {"id": admin["id"], "access": True})
        created = await self.call(
            "authorisations.create",
            {"name": f"{self.provider_id} rig", "provider": self.provider_id},
        )
        self.auth_id = created["authorisation"]["id"]
        await self.log_in(created["next_step"])
        active = await self.call("authorisations.activate", {"id": self.auth_id})
        assert active["status"] == "active", active
        options = await self.call("configurations.options", {"authorisation_id": self.auth_id})
        ledger = next(
            (x for x in options["ledgers"] if "BEX" in (x["id"], x["code"])), options["ledgers"][0]
        )
        admin = next(a for a in options["administrations"] if a["number"] == "102")
        self.admin_id = admin["id"]
        start = self.today - timedelta(days=120)
        self.config = await self.call(
            "configurations.create",
            {
                "authorisation_id": self.auth_id,
                "administration_id": admin["id"],
                "frequency": "daily",
                "ledger_id": ledger["id"],
                "start_date": start.isoformat(),
                "delay_days": 0,
                "automatic": False,
                "tenant_id": active.get("tenant_id"),
                "activate": True,
                **({"no_vat_code": "NONE"} if self.provider_id == "sandbox" else {}),
            },
        )
        self._next_day = start

    async def log_in(self, step: dict[str, Any] | None = None) -> None:
        """The provider's own login step, as a user completes it."""
        if self.provider_id == "sandbox":
            return
        if step is None:
            step = (await self.call("authorisations.login", {"id": self.auth_id}))["next_step"]
        if self.login is not None:
            params = {"id": self.auth_id, **self.login}
        else:
            assert step["kind"] == "open_url", step
            params = {"id": self.auth_id, "redirect_url": await follow_consent(step["url"], "X")}
        await self.call("authorisations.complete", params)

    async def close(self) -> None:
        await self.stop_daemon()
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):
                await server.stop()

    async def __aenter__(self) -> Rig:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- periods -------------------------------------------------------------------------
    def next_period(self) -> str:
        """A fresh day with transactions that no earlier scenario touched."""
        assert self._next_day is not None
        day = self._next_day
        while self.dataset.count(self.admin_id, day, day) <= PAGE_SIZE:
            day += timedelta(days=1)
        if day >= self.today - timedelta(days=2):
            raise RuntimeError("the rig ran out of due days; use fewer iterations per rig")
        self._next_day = day + timedelta(days=1)
        return day.isoformat()

    def reference(self, period: str) -> str:
        return f"bexsync:{self.config['id']}:{period}"

    # -- what reached the provider -------------------------------------------------------
    def count_at_provider(self, reference: str) -> int:
        """Entries carrying ``reference`` in the provider's books (deleted ones excluded)."""
        pid = self.provider_id
        if pid == "sandbox":
            with contextlib.closing(sqlite3.connect(self.state_dir / LEDGER_FILE)) as conn:
                return int(
                    conn.execute(
                        "SELECT count(*) FROM journal_entries WHERE reference = ?", (reference,)
                    ).fetchone()[0]
                )
        if pid == "xero":
            pattern = reference_pattern(reference)
            return sum(
                1
                for j in self.sim.org().journals
                if j.get("Status") not in ("DELETED", "VOIDED")
                and pattern.search(str(j.get("Narration") or ""))
            )
        if pid == "pennylane":
            pattern = reference_pattern(reference)
            return sum(1 for e in self.sim.entries if pattern.search(str(e.get("label") or "")))
        if pid == "cegid_loop":
            return sum(1 for e in self.sim.entries if e.get("refPiece") == reference)
        raise ValueError(pid)

    # -- knobs ---------------------------------------------------------------------------
    def network_plan(self) -> tuple[FaultPlan, str]:
        """Where network faults go: the provider's API, or the PMS for the local sandbox."""
        if self.provider_plan is not None:
            return self.provider_plan, self.api_path
        return self.pms_plan, "/v3/"

    def post_path(self) -> str | None:
        return {"xero": "/ManualJournals", "pennylane": "/ledger_entries",
                "cegid_loop": "/importJson"}.get(self.provider_id)  # fmt: skip

    def revoke(self) -> None:
        """The provider (or, for the sandbox, the PMS) stops accepting our credentials."""
        pid = self.provider_id
        if pid == "sandbox":
            self.pms_state.api_key = "revoked-" + secrets.token_hex(8)
        elif pid == "xero":
            self.sim.oauth.revoke_all()
        elif pid == "pennylane":
            self.sim.tokens.clear()
        elif pid == "cegid_loop":
            self.sim.api_keys.clear()

    async def restore_credentials(self) -> None:
        """A new login (Xero) or the key handed back, then re-activation, as a user would."""
        pid = self.provider_id
        if pid == "sandbox":
            self.pms_state.api_key = self.pms_key
            await self.call("pms.connect", {"base_url": self.pms_url, "api_key": self.pms_key})
            return
        if pid == "pennylane":
            self.sim.tokens.add(self._provider_secret)
        elif pid == "cegid_loop":
            self.sim.api_keys.add(self._provider_secret)
        auth = await self.call("authorisations.get", {"id": self.auth_id})
        if auth["status"] != "active":
            with contextlib.suppress(Exception):
                await self.call("authorisations.activate", {"id": self.auth_id})
            auth = await self.call("authorisations.get", {"id": self.auth_id})
        if auth["status"] != "active":
            await self.log_in()
            await self.call("authorisations.activate", {"id": self.auth_id})
        cfg = await self.call("configurations.get", {"id": self.config["id"]})
        if not cfg["active"]:
            await self.call("configurations.activate", {"id": self.config["id"]})

    def lock(self, period: str | None) -> None:
        """Close the provider's books up to ``period`` (None reopens them)."""
        day = date.fromisoformat(period) if period else None
        pid = self.provider_id
        if pid == "sandbox":
            SandboxLedger(self.state_dir / LEDGER_FILE).lock_until(period)
        elif pid == "xero":
            self.sim.org().period_lock_date = day
        else:
            self.sim.closed_until = day


def first_record_repeated(doc: Any) -> Any:
    """Offset paging while a back-dated line is inserted before this page: the page starts with
    a line already seen and the last one slides to the next page."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if isinstance(data, list) and data:
        doc["data"] = [data[0], *data[:-1]]
        meta = doc.get("meta", {}).get("pagination")
        if isinstance(meta, dict) and isinstance(meta.get("total_records"), int):
            meta["total_records"] += 1
    return doc


_WS = re.compile(r"\s+")


def one_line(text: str | None, limit: int = 110) -> str:
    text = _WS.sub(" ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
