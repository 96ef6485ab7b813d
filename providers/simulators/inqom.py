"""A simulator of Inqom's accounting API ("Fred API" v1) and its IdentityServer login.

Built from the 2021 "API Accounting" reference: the password grant at
``/identity/connect/token`` (scope ``apidata`` required), dossiers visible per user (the
provisioning routes), ``accounting-periods`` with ``Locked``, ``journals``, ``accounts``
(``accountType``, ``accountNumberPrefix``), ``POST /v1/dossiers/{id}/entries`` (an array of at
most 50 entries, all created or none; 2-decimal amounts; balance per entry; a locked period or a
known ``ExternalId`` is refused) and paged ``entry-lines``. Errors use the ASP.NET shape
``{"Message", "ModelState"}`` the adapter assumes; 15 requests a second per client and user,
then 429 with ``Retry-After``. ``InqomState`` holds everything for test assertions.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from providers.chart import CHART
from providers.simulators.base import SimulatorServer
from providers.simulators.clock import SimClock
from providers.simulators.demo import DemoProvider
from providers.simulators.demo_login import write_secret_file
from providers.simulators.faults import FaultMiddleware, FaultPlan
from providers.simulators.oauth_server import (
    OAuthServerConfig,
    OAuthServerState,
    SimClient,
    create_oauth_app,
)
from providers.simulators.planted import plant
from providers.simulators.responses import decimal_json

OAUTH_PREFIX = "/identity/connect"
MAX_ENTRIES = 50
CENT = Decimal("0.01")
JOURNALS: tuple[tuple[str, str, str], ...] = (
    ("HA", "Achats", "Buy"),
    ("VT", "Ventes", "Sell"),
    ("BQ", "Banque", "Bank"),
    ("OD", "Opérations diverses", "Misc"),
    ("BEX", "Booking Experts", "Other"),
)


def error_body(status: int, message: str) -> dict[str, Any]:
    """The ASP.NET Web API error shape (also used by the fault plan)."""
    return {"Message": message}


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, model_state: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.model_state = model_state

    def body(self) -> dict[str, Any]:
        body = error_body(self.status, self.message)
        if self.model_state:
            body["ModelState"] = self.model_state
        return body


@dataclass
class Dossier:
    id: int
    name: str
    company_id: int
    journals: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    periods: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def journal(self, code: str) -> dict[str, Any]:
        return next(j for j in self.journals if j["Name"] == code)

    def lines(self) -> list[dict[str, Any]]:
        return [line for entry in self.entries for line in entry["Lines"]]


@dataclass
class InqomState:
    """Companies, their dossiers, which user sees which dossier, and the API's limits."""

    oauth: OAuthServerState
    companies: dict[int, str] = field(default_factory=dict)
    dossiers: dict[int, Dossier] = field(default_factory=dict)
    access: dict[str, set[int]] = field(default_factory=dict)  # user -> dossier ids
    rate_calls: int = 15
    rate_per: float = 1.0
    page_size: int = 100
    requests: list[tuple[str, str]] = field(default_factory=list)
    posts: int = 0  # POST /entries calls that reached the app
    refused: int = 0  # answered 429
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(30001))
    _windows: dict[str, deque[float]] = field(default_factory=dict)

    def next_id(self) -> int:
        return next(self._ids)

    def add_dossier(
        self, name: str, company: str = "Cabinet Demo", users: tuple[str, ...] = ("demo",)
    ) -> Dossier:
        """A dossier with BEX's chart, usual French journals plus ``BEX``, FY 2025 locked and
        FY 2026 and 2027 open."""
        company_id = next((k for k, v in self.companies.items() if v == company), None)
        if company_id is None:
            company_id = self.next_id()
            self.companies[company_id] = company
        dossier = Dossier(self.next_id(), name, company_id)
        for code, label, kind in JOURNALS:
            dossier.journals.append(
                {"Id": self.next_id(), "Name": code, "Description": label, "Type": kind}
            )
        for number, label in (*CHART, ("706000", "Prestations de services")):
            dossier.accounts.append(
                {
                    "Number": number,
                    "Name": label,
                    "IsImpactable": True,
                    "IsDivisible": False,
                    "ParentAccountNumber": number[:2],
                }
            )
        dossier.accounts.append(
            {
                "Number": "80",
                "Name": "Turnover (heading)",
                "IsImpactable": False,
                "IsDivisible": True,
                "ParentAccountNumber": None,
            }
        )
        previous = None
        for year, locked in ((2025, True), (2026, False), (2027, False)):
            period_id = self.next_id()
            dossier.periods.append(
                {
                    "Id": period_id,
                    "BeginDate": f"{year}-01-01T00:00:00",
                    "EndDate": f"{year}-12-31T00:00:00",
                    "Locked": locked,
                    "Name": f"Exercice {year}",
                    "PreviousAccountingPeriod": previous,
                }
            )
            previous = period_id
        self.dossiers[dossier.id] = dossier
        for user in users:
            self.access.setdefault(user, set()).add(dossier.id)
        return dossier

    def lock(self, dossier: Dossier, year: int, locked: bool = True) -> None:
        for period in dossier.periods:
            if period["BeginDate"].startswith(str(year)):
                period["Locked"] = locked

    def throttle(self, key: str) -> float | None:
        now = time.monotonic()
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - self.rate_per:
            window.popleft()
        if len(window) >= self.rate_calls:
            return max(window[0] + self.rate_per - now, 0.01)
        window.append(now)
        return None


def _decimal(value: Any, where: str, problems: dict[str, list[str]]) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        problems.setdefault(where, []).append("must be a number")
        return Decimal(0)
    amount = Decimal(value)
    if amount < 0:
        problems.setdefault(where, []).append("must not be negative")
    elif amount != amount.quantize(CENT):
        problems.setdefault(where, []).append("at most 2 decimals")
    return amount


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _validate(dossier: Dossier, index: int, raw: Any, seen: set[str]) -> dict[str, Any]:
    """One entry of a POST, checked as Inqom does; raises for the whole call (transactional)."""
    prefix = f"entries[{index}]"
    problems: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        raise ApiError(400, "The request is invalid.", {prefix: ["must be an object"]})
    journal = next((j for j in dossier.journals if j["Id"] == raw.get("JournalId")), None)
    if journal is None:
        problems[f"{prefix}.JournalId"] = [f"unknown journal {raw.get('JournalId')!r}"]
    day = _parse_date(raw.get("Date"))
    if day is None:
        problems[f"{prefix}.Date"] = ["a date YYYY-MM-DD is required"]
    lines = raw.get("Lines")
    if not isinstance(lines, list) or len(lines) < 2:
        problems[f"{prefix}.Lines"] = ["an entry needs at least two lines"]
        lines = []
    accounts = {a["Number"]: a for a in dossier.accounts}
    debit = credit = Decimal(0)
    stored_lines = []
    for i, line in enumerate(lines):
        where = f"{prefix}.Lines[{i}]"
        account = accounts.get(str(line.get("AccountNumber")))
        if account is None or not account["IsImpactable"]:
            problems.setdefault(f"{where}.AccountNumber", []).append(
                f"account {line.get('AccountNumber')!r} does not exist or is not impactable"
            )
        d = _decimal(line.get("DebitAmount"), f"{where}.DebitAmount", problems)
        c = _decimal(line.get("CreditAmount"), f"{where}.CreditAmount", problems)
        if d and c:
            problems.setdefault(where, []).append("a line has a debit or a credit, not both")
        debit += d
        credit += c
        stored_lines.append(
            {
                "AccountNumber": str(line.get("AccountNumber")),
                "Label": str(line.get("Label") or ""),
                "DebitAmount": d,
                "CreditAmount": c,
                "Currency": str(line.get("Currency") or "EUR"),
            }
        )
    if lines and debit != credit:
        problems.setdefault(f"{prefix}.Lines", []).append(
            f"the entry is not balanced (debit {debit}, credit {credit})"
        )
    if problems:
        raise ApiError(400, "The request is invalid.", problems)
    assert day is not None and journal is not None
    period = next(
        (
            p
            for p in dossier.periods
            if _parse_date(p["BeginDate"]) <= day <= _parse_date(p["EndDate"])  # type: ignore[operator]
        ),
        None,
    )
    if period is None:
        raise ApiError(
            400, "The request is invalid.", {f"{prefix}.Date": ["no accounting period covers it"]}
        )
    if period["Locked"]:
        raise ApiError(
            400,
            f"The accounting period {period['Name']} is locked: {day.isoformat()} cannot take "
            "new entries.",
        )
    external = raw.get("ExternalId")
    if external:
        known = {e["ExternalId"] for e in dossier.entries if e.get("ExternalId")}
        if external in known or external in seen:
            raise ApiError(409, f"An entry with ExternalId {external!r} already exists.")
        seen.add(str(external))
    given = raw.get("Document")
    document: dict[str, Any] = given if isinstance(given, dict) else {}
    return {
        "JournalId": journal["Id"],
        "Date": day.isoformat(),
        "Label": str(raw.get("Label") or ""),
        "Document": {"Reference": str(document.get("Reference") or "")},
        "ExternalId": str(external) if external else None,
        "Lines": stored_lines,
    }


def create_inqom_app(
    state: InqomState, oauth_app: Starlette, *, faults: FaultPlan | None = None
) -> Starlette:
    def user_of(request: Request) -> str:
        claims = state.oauth.bearer_claims(request)
        if claims is None:
            raise ApiError(401, "Authorization has been denied for this request.")
        if "apidata" not in str(claims.get("scope") or "").split():
            raise ApiError(403, "The token does not grant the apidata scope.")
        return str(claims["sub"])

    def dossier_of(request: Request, user: str) -> Dossier:
        raw = request.path_params["dossier"]
        dossier = state.dossiers.get(int(raw)) if raw.isdigit() else None
        if dossier is None:
            raise ApiError(404, f"Dossier {raw} not found.")
        if dossier.id not in state.access.get(user, set()):
            raise ApiError(403, f"The user has no rights on dossier {raw}.")
        return dossier

    async def guarded(request: Request, handler: Callable[[Request, str], Any]) -> Response:
        state.requests.append((request.method, request.url.path))
        try:
            user = user_of(request)
            wait = state.throttle(user)
            if wait is not None:
                state.refused += 1
                return decimal_json(
                    error_body(429, "Too many requests."), 429, {"Retry-After": f"{wait:.2f}"}
                )
            status, body = await handler(request, user)
            return decimal_json(body, status)
        except ApiError as exc:
            return decimal_json(exc.body(), exc.status)

    async def internal_access(request: Request, user: str) -> tuple[int, Any]:
        ids = {state.dossiers[d].company_id for d in state.access.get(user, set())}
        return 200, [{"CompanyId": c, "CompanyName": state.companies[c]} for c in sorted(ids)]

    async def folders(request: Request, user: str) -> tuple[int, Any]:
        company = request.path_params["company"]
        visible = [state.dossiers[d] for d in sorted(state.access.get(user, set()))]
        return 200, [{"Id": d.id, "Name": d.name} for d in visible if str(d.company_id) == company]

    async def periods(request: Request, user: str) -> tuple[int, Any]:
        return 200, dossier_of(request, user).periods

    async def journals(request: Request, user: str) -> tuple[int, Any]:
        return 200, dossier_of(request, user).journals

    async def accounts(request: Request, user: str) -> tuple[int, Any]:
        dossier = dossier_of(request, user)
        prefix = request.query_params.get("accountNumberPrefix", "")
        kind = request.query_params.get("accountType", "All")
        if kind not in ("All", "Impactable"):
            raise ApiError(400, "The request is invalid.", {"accountType": ["All or Impactable"]})
        rows = [
            a
            for a in dossier.accounts
            if a["Number"].startswith(prefix) and (kind == "All" or a["IsImpactable"])
        ]
        return 200, rows

    async def entries(request: Request, user: str) -> tuple[int, Any]:
        dossier = dossier_of(request, user)
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.") from None
        if not isinstance(body, list) or not body:
            raise ApiError(400, "The request is invalid.", {"entries": ["a non-empty array"]})
        if len(body) > MAX_ENTRIES:
            raise ApiError(
                400, "The request is invalid.", {"entries": [f"at most {MAX_ENTRIES} entries"]}
            )
        state.posts += 1
        seen: set[str] = set()
        validated = [_validate(dossier, i, raw, seen) for i, raw in enumerate(body)]
        created = []
        for entry in validated:  # all checked first: all or nothing
            entry["Id"] = state.next_id()
            for line in entry["Lines"]:
                line["Id"] = state.next_id()
            dossier.entries.append(entry)
            created.append(entry)
        return 200, created

    async def entry_lines(request: Request, user: str) -> tuple[int, Any]:
        dossier = dossier_of(request, user)
        params = request.query_params
        start, end = _parse_date(params.get("startDate")), _parse_date(params.get("endDate"))
        if start is None or end is None:
            raise ApiError(
                400, "The request is invalid.", {"startDate": ["startDate and endDate required"]}
            )
        try:
            page = int(params.get("pageNumber", "1"))
            journal = int(params["journalId"]) if "journalId" in params else None
        except ValueError:
            raise ApiError(400, "The request is invalid.", {"pageNumber": ["a number"]}) from None
        if page < 1:
            raise ApiError(400, "The request is invalid.", {"pageNumber": ["starts at 1"]})
        rows = []
        for entry in dossier.entries:
            day = date.fromisoformat(entry["Date"])
            if not start <= day <= end or (journal is not None and entry["JournalId"] != journal):
                continue
            for line in entry["Lines"]:
                rows.append(
                    {
                        **line,
                        "EntryId": entry["Id"],
                        "JournalId": entry["JournalId"],
                        "Date": entry["Date"],
                        "ExternalId": entry["ExternalId"],
                        "Document": entry["Document"],
                    }
                )
        size = state.page_size
        return 200, rows[(page - 1) * size : page * size]

    def route(path: str, handler: Callable[[Request, str], Any], method: str = "GET") -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler)

        return Route(path, endpoint, methods=[method])

    middleware = [Middleware(FaultMiddleware, plan=faults)] if faults is not None else []
    app = Starlette(
        routes=[
            route("/provisioning/users/internal-access", internal_access),
            route("/provisioning/companies/{company}/accounting-folders", folders),
            route("/v1/dossiers/{dossier}/accounting-periods", periods),
            route("/v1/dossiers/{dossier}/journals", journals),
            route("/v1/dossiers/{dossier}/accounts", accounts),
            route("/v1/dossiers/{dossier}/entries", entries, "POST"),
            route("/v1/dossiers/{dossier}/entry-lines", entry_lines),
            Mount(OAUTH_PREFIX, oauth_app),
        ],
        middleware=middleware,
    )
    app.state.inqom = state
    return app


def create_app(
    client_id: str,
    client_secret: str,
    users: dict[str, str],
    *,
    clock: Callable[[], float] | None = None,
    access_token_ttl: int = 3600,
    faults: FaultPlan | None = None,
) -> Starlette:
    """The API plus its IdentityServer (``app.state.inqom``; dossiers added by the caller)."""
    config = OAuthServerConfig(
        clients=(SimClient(client_id, client_secret),),
        users=users,
        consent_user=None,
        access_token_ttl=access_token_ttl,
        clock=clock or SimClock(),
    )
    oauth_app = create_oauth_app(config)
    state = InqomState(oauth_app.state.oauth)
    return create_inqom_app(state, oauth_app, faults=faults)


def settings_for(base_url: str, client_id: str, secret_file: str) -> dict[str, Any]:
    """The ``[providers.inqom]`` table that points bexsync at a running simulator."""
    return {
        "client_id": client_id,
        "client_secret_file": secret_file,
        "api_url": base_url,
        "token_url": base_url + OAUTH_PREFIX + "/token",
    }


async def demo_setup(workdir: pathlib.Path) -> DemoProvider:
    """One company with one dossier the demo user sees (activation needs no choice)."""
    secret = plant("inqom-demo-")
    password = plant("demo-", 8)
    secret_file = write_secret_file(workdir / "inqom-client-secret", secret)
    app = create_app("bexsync-demo", secret, {"demo@bexsync.example": password})
    app.state.inqom.add_dossier("Camping Les Pins SAS", users=("demo@bexsync.example",))
    server = SimulatorServer(app, name="inqom-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="inqom",
        settings=settings_for(url, "bexsync-demo", secret_file),
        complete={"credentials": {"username": "demo@bexsync.example", "password": password}},
        stop=[server.stop],
    )
