"""A simulator of MyUnisoft's partner API v1, built from the partner docs (api-partenaires).

Both secrets on every call (``X-Third-Party-Secret`` for the partner, ``Authorization: Bearer``
for the customer's API token; a firm-level token also needs ``society-id``), ``/key/info``
(activates a key), ``/society``, ``/diary``, paged ``/account?mode=2``, ``/society/exercice``,
``POST /entry?type=e`` (one entry; balance ECR1, debit xor credit ECR27, closed fiscal year ECR9,
date outside every fiscal year ECR10, unknown account, label <= 50, a partner id used twice) and
``GET /entry/id?id_origin=``. Errors as ``{"error": {"code", "message", "details"}}``; 20
requests per 10 seconds per token with ``X-Rate-Limit-*`` headers, then 429
``ERR-TOO-MANY-REQUEST`` with ``Retry-After``. ``MyUnisoftState`` holds it all for tests.
"""

from __future__ import annotations

import itertools
import json
import math
import pathlib
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from providers.chart import CHART
from providers.simulators.base import SimulatorServer
from providers.simulators.demo import DemoProvider
from providers.simulators.demo_login import write_secret_file
from providers.simulators.faults import FaultMiddleware, FaultPlan
from providers.simulators.planted import plant
from providers.simulators.responses import decimal_json
from providers.simulators.throttle import take_slot

PREFIX = "/api/v1"
CENT = Decimal("0.01")
DIARIES: tuple[tuple[str, str, str], ...] = (
    ("01", "Achats", "ACH"),
    ("02", "Ventes", "VTE"),
    ("03", "Banque", "BQ"),
    ("04", "Opérations diverses", "OD"),
    ("BEX", "Booking Experts", "OD"),
)


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """MyUnisoft's one error shape (also what the fault plan answers)."""
    default = {429: "ERR-TOO-MANY-REQUEST"}.get(status, f"ERR-HTTP-{status}")
    return {
        "error": {
            "code": code or default,
            "message": message,
            "details": {
                "requestedAt": datetime.now(UTC).strftime("%d %b %Y, %H:%M:%S"),
                "requestId": "req-" + uuid.uuid4().hex[:16],
            },
        }
    }


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Key:
    """One customer API token: society-level (``api``) or firm-level (``firm``)."""

    kind: str
    society_id: int | None
    activated: bool = False


@dataclass
class MyUnisoftState:
    partner_secret: str
    society_id: int = 3127
    society_name: str = "Camping Les Pins SAS"
    keys: dict[str, Key] = field(default_factory=dict)
    diaries: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    exercices: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    account_page_size: int = 500
    rate_calls: int = 20
    rate_per: float = 10.0
    requests: list[tuple[str, str]] = field(default_factory=list)
    posts: int = 0
    refused: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(70001))
    _windows: dict[str, deque[float]] = field(default_factory=dict)

    def next_id(self) -> int:
        return next(self._ids)

    @classmethod
    def seeded(cls, partner_secret: str) -> MyUnisoftState:
        """BEX's chart, the usual journals plus ``BEX``, fiscal year 2025 closed, 2026 and
        2027 open."""
        state = cls(partner_secret)
        for code, name, kind in DIARIES:
            state.diaries.append(
                {
                    "diary_id": state.next_id(),
                    "code": code,
                    "name": name,
                    "diary_type_code": kind,
                    "blocked": False,
                    "account": None,
                }
            )
        state.diaries.append(
            {
                "diary_id": state.next_id(),
                "code": "OLD",
                "name": "Ancien journal",
                "diary_type_code": "OD",
                "blocked": True,
                "account": None,
            }
        )
        for number, label in (*CHART, ("706000", "Prestations de services")):
            state.add_account(number, label)
        state.add_account("4999", "Compte bloqué", blocked=True)
        for year, closed in ((2025, True), (2026, False), (2027, False)):
            state.exercices.append(
                {
                    "exercice_id": state.next_id(),
                    "start_date": f"{year}-01-01",
                    "end_date": f"{year}-12-31",
                    "closed": closed,
                    "label": f"Exercice {year}",
                }
            )
        return state

    def add_account(self, number: str, label: str, blocked: bool = False) -> dict[str, Any]:
        row = {
            "row_number": len(self.accounts) + 1,
            "account_id": self.next_id(),
            "account_number": number,
            "label": label,
            "solde": 0,
            "sens": "",
            "blocked": blocked,
            "closed": False,
            "vat_param": None,
            "counterpart_account": None,
        }
        self.accounts.append(row)
        return row

    def add_key(self, kind: str = "api") -> str:
        """A new customer API token (a JWT-looking string) for this society."""
        token = ".".join(secrets.token_urlsafe(18) for _ in range(3))
        self.keys[token] = Key(kind, self.society_id if kind == "api" else None)
        return token

    def diary(self, code: str) -> dict[str, Any]:
        return next(d for d in self.diaries if d["code"] == code)

    def account(self, number: str) -> dict[str, Any]:
        return next(a for a in self.accounts if a["account_number"] == number)

    def close(self, year: int, closed: bool = True) -> None:
        for row in self.exercices:
            if row["start_date"].startswith(str(year)):
                row["closed"] = closed

    def throttle(self, token: str) -> tuple[float | None, int, float]:
        window = self._windows.setdefault(token, deque())
        return take_slot(window, time.monotonic(), self.rate_calls, self.rate_per)


def _amount(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ApiError(400, "ERR-INVALID-BODY", f"{where} must be a number")
    amount = Decimal(value)
    if amount < 0 or amount != amount.quantize(CENT):
        raise ApiError(400, "ERR-INVALID-BODY", f"{where} must be positive with 2 decimals")
    return amount


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ApiError(400, "ERR-INVALID-BODY", f"{where} must be a date AAAA-MM-JJ") from None


def _create_entry(state: MyUnisoftState, society_id: int, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "ERR-INVALID-BODY", "the body must be a JSON object")
    for key in ("entry_list", "date_piece", "etablissement_id", "diary_id"):
        if key not in body:
            raise ApiError(400, "ERR-INVALID-BODY", f"must have required property '{key}'")
    if body["etablissement_id"] != society_id:
        raise ApiError(400, "ERR-INVALID-BODY", "etablissement_id is not this society")
    day = _date(body["date_piece"], "date_piece")
    diary = next((d for d in state.diaries if d["diary_id"] == body["diary_id"]), None)
    if diary is None:
        raise ApiError(400, "ECR3", f"Le journal {body['diary_id']} n'existe pas")
    if diary["blocked"]:
        raise ApiError(400, "ECR4", f"Le journal {diary['code']} est bloqué")
    origin = body.get("entry_origin_partner_id")
    if origin and any(e["entry_origin_partner_id"] == origin for e in state.entries):
        raise ApiError(409, "ENTRY-ORIGIN-ALREADY-EXISTS", f"id partenaire {origin} déjà utilisé")
    lines = body["entry_list"]
    if not isinstance(lines, list) or not lines:
        raise ApiError(400, "ERR-INVALID-BODY", "entry_list must NOT have fewer than 1 items")
    accounts = {a["account_id"]: a for a in state.accounts}
    debit = credit = Decimal(0)
    stored = []
    for i, line in enumerate(lines):
        where = f"entry_list[{i}]"
        account = accounts.get(line.get("account_id"))
        if account is None:
            raise ApiError(
                400, "COMPTE1", f"{where}: le compte {line.get('account_id')} n'existe pas"
            )
        if account["blocked"]:
            raise ApiError(
                400, "COMPTE9", f"{where}: le compte {account['account_number']} est bloqué"
            )
        label = line.get("label")
        if not isinstance(label, str) or len(label) > 50:
            raise ApiError(400, "ERR-INVALID-BODY", f"{where}.label must be at most 50 characters")
        deadline = _date(line.get("deadline"), f"{where}.deadline")
        if deadline < day:
            raise ApiError(400, "ECR20", f"{where}: l'échéance précède la date de pièce")
        d = _amount(line.get("debit", 0), f"{where}.debit")
        c = _amount(line.get("credit", 0), f"{where}.credit")
        if d and c:
            raise ApiError(400, "ECR27", f"{where}: une ligne est soit au débit soit au crédit")
        debit += d
        credit += c
        stored.append(
            {
                "entry_line_id": state.next_id(),
                "account_id": account["account_id"],
                "label": label,
                "debit": d,
                "credit": c,
                "deadline": deadline.isoformat(),
            }
        )
    if debit != credit:
        raise ApiError(
            400, "ECR1", f"L'écriture n'est pas équilibrée (débit {debit}, crédit {credit})"
        )
    exercice = next(
        (
            x
            for x in state.exercices
            if date.fromisoformat(x["start_date"]) <= day <= date.fromisoformat(x["end_date"])
        ),
        None,
    )
    if exercice is None:
        raise ApiError(400, "ECR10", f"La date {day.isoformat()} n'appartient à aucun exercice")
    if exercice["closed"]:
        raise ApiError(400, "ECR9", f"L'exercice {exercice['label']} est clôturé")
    entry = {
        "id_entry": state.next_id(),
        "type": "ENTRIES",
        "date_piece": day.isoformat(),
        "diary_id": diary["diary_id"],
        "entry_origin_partner_id": origin,
        "comment": (body.get("comment") or {}).get("content"),
        "entry_list": stored,
    }
    state.entries.append(entry)
    return entry


def create_myunisoft_app(state: MyUnisoftState, *, faults: FaultPlan | None = None) -> Starlette:
    def authorise(request: Request) -> tuple[str, int]:
        secret = request.headers.get("x-third-party-secret")
        if secret is None:
            raise ApiError(401, "ERR-SECRET-HEADER-NOT-SET", "X-Third-Party-Secret is not set")
        if secret != state.partner_secret:
            raise ApiError(401, "ERR-INVALID-SECRET", "Invalid third-party secret")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = state.keys.get(token) if scheme.lower() == "bearer" else None
        if key is None:
            raise ApiError(
                401,
                "ERR-API-TOKEN-NOT-FOUND",
                "Unable to found the token in the DB. The token has certainly expired or been "
                "revoked.",
            )
        society = key.society_id
        if key.kind == "firm" and request.url.path == PREFIX + "/key/info":
            return token, 0  # describing the key itself needs no dossier
        if key.kind == "firm":
            header = request.headers.get("society-id", "")
            if not header.isdigit() or int(header) != state.society_id:
                raise ApiError(403, "ERR-FORBIDDEN-ROUTE", "society-id header missing or unknown")
            society = int(header)
        assert society is not None
        return token, society

    async def dispatch(request: Request) -> Response:
        state.requests.append((request.method, request.url.path))
        try:
            token, society = authorise(request)
            wait, remaining, reset = state.throttle(token)
            headers = {
                "X-Rate-Limit-Total": str(state.rate_calls),
                "X-Rate-Limit-Remaining": str(remaining),
                "X-Rate-Limit-Reset": str(math.ceil(reset)),
                "request-id": "req-" + uuid.uuid4().hex[:16],
            }
            if wait is not None:
                state.refused += 1
                headers["Retry-After"] = f"{wait:.2f}"
                return decimal_json(error_body(429, "Too many requests"), 429, headers)
            status, body = await handle(request, token, society)
            return decimal_json(body, status, headers)
        except ApiError as exc:
            return decimal_json(error_body(exc.status, exc.message, exc.code), exc.status)

    async def handle(request: Request, token: str, society: int) -> tuple[int, Any]:
        path = request.url.path.removeprefix(PREFIX)
        method = request.method
        query = request.query_params
        if method == "GET" and path == "/key/info":
            key = state.keys[token]
            key.activated = True
            routes = [{"path": PREFIX + p, "method": "get"} for p in ("/diary", "/account")]
            if query.get("mode") != "extended":
                return 200, routes
            return 200, {
                "target": {
                    "type": key.kind,
                    "schemaId": 80,
                    "thirdPartyId": 101,
                    "societyId": key.society_id,
                },
                "version": {"current": 1, "latest": 1, "beta": False},
                "canBeActivated": True,
                "isActivated": True,
                "routes": routes,
            }
        if method == "GET" and path == "/society":
            return 200, {"society_id": society, "name": state.society_name, "siret": "1"}
        if method == "GET" and path == "/diary":
            return 200, state.diaries
        if method == "GET" and path == "/account":
            if query.get("mode") == "1":
                rows = [
                    {k: a[k] for k in ("account_id", "account_number", "label")}
                    for a in state.accounts
                ]
                return 200, rows
            size = state.account_page_size
            page = int(query.get("page", "1")) if query.get("page", "1").isdigit() else 0
            if page < 1:
                raise ApiError(400, "ERR-INVALID-QUERY", "page must be a positive integer")
            pages = max(1, math.ceil(len(state.accounts) / size))
            return 200, {
                "rows_number": len(state.accounts),
                "pages_number": pages,
                "account_array": state.accounts[(page - 1) * size : page * size],
            }
        if method == "GET" and path == "/society/exercice":
            return 200, state.exercices
        if method == "GET" and path == "/entry/id":
            origin = query.get("id_origin")
            for entry in state.entries:
                if origin and entry["entry_origin_partner_id"] == origin:
                    return 200, {"id_entry": entry["id_entry"], "type": entry["type"]}
            raise ApiError(404, "ERR-ENTRY-NOT-FOUND", f"no entry with id_origin {origin}")
        if method == "POST" and path == "/entry":
            if query.get("type") != "e":
                raise ApiError(400, "ERR-INVALID-QUERY", "type must be e")
            try:
                body = json.loads(await request.body(), parse_float=Decimal)
            except ValueError:
                raise ApiError(400, "ERR-INVALID-BODY", "the body is not valid JSON") from None
            state.posts += 1
            entry = _create_entry(state, society, body)
            return 201, {"id_entry": entry["id_entry"], "type": entry["type"]}
        raise ApiError(404, "ERR-ROUTE-NOT-FOUND", f"{method} {path} does not exist")

    middleware = [Middleware(FaultMiddleware, plan=faults)] if faults is not None else []
    app = Starlette(
        routes=[Route(PREFIX + "/{rest:path}", dispatch, methods=["GET", "POST"])],
        middleware=middleware,
    )
    app.state.myunisoft = state
    return app


def settings_for(base_url: str, secret_file: str) -> dict[str, Any]:
    """The ``[providers.myunisoft]`` table that points bexsync at a running simulator."""
    return {
        "client_id": "bexsync",
        "client_secret_file": secret_file,
        "api_url": base_url + PREFIX,
    }


async def demo_setup(workdir: pathlib.Path) -> DemoProvider:
    """A seeded dossier, the partner secret in a file, and a society-level token to log in."""
    partner = plant("bexsync-", 18)
    secret_file = write_secret_file(workdir / "myunisoft-partner-secret", partner)
    state = MyUnisoftState.seeded(partner)
    token = state.add_key("api")
    server = SimulatorServer(create_myunisoft_app(state), name="myunisoft-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="myunisoft",
        settings=settings_for(url, secret_file),
        complete={"credentials": {"jwt": token}},
        stop=[server.stop],
    )
