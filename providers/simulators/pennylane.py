"""A simulator of Pennylane's Company API v2, built from its public reference.

Bearer tokens (one company each), ``GET /me``, cursor-paginated ``/journals``,
``/ledger_accounts`` (JSON ``filter`` on ``id``/``number``/``enabled``) and ``/ledger_entries``
(filter on ``date``/``journal_id``), ``POST /ledger_entries`` with its checks (journal, accounts,
decimal-string amounts, balance, at most 1000 lines, closed fiscal periods), errors as
``{"error": message, "status": code}``, and the 25-requests-per-5-seconds limit with
``ratelimit-*`` headers and 429 + ``Retry-After``. No idempotency key, as in the real API: a
repeated POST creates a second entry. State is in ``PennylaneState`` for test assertions.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import pathlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from providers.chart import CHART
from providers.simulators.base import SimulatorServer
from providers.simulators.demo import DemoProvider
from providers.simulators.faults import FaultPlan
from providers.simulators.planted import plant
from providers.simulators.throttle import take_slot

PREFIX = "/api/external/v2"
MAX_LINES = 1000

JOURNALS: tuple[tuple[str, str], ...] = (
    ("HA", "Achats"),
    ("VT", "Ventes"),
    ("BQ", "Banque"),
    ("OD", "Opérations diverses"),
    ("BEX", "Booking Experts"),
)


def error_body(status: int, message: str) -> dict[str, Any]:
    """Pennylane's error shape for 401/403/404/422 (and our 400 and 429)."""
    return {"error": message, "status": status}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class PennylaneState:
    """One simulated Pennylane company and the tokens that reach it."""

    tokens: set[str] = field(default_factory=set)
    company: dict[str, Any] = field(
        default_factory=lambda: {"id": 424242, "name": "Camping Les Pins SAS", "reg_no": "1"}
    )
    journals: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    closed_until: date | None = None  # fiscal periods closed up to and including this day
    rate_calls: int = 25
    rate_per: float = 5.0
    requests: list[tuple[str, str]] = field(default_factory=list)
    refused: int = 0  # requests answered 429 by the rate limit
    page_cap: int | None = None  # at most this many items a page, whatever the limit asked
    clock: Callable[[], float] = time.monotonic
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(9001))
    _windows: dict[str, deque[float]] = field(default_factory=dict)

    def next_id(self) -> int:
        return next(self._ids)

    @classmethod
    def seeded(cls, token: str) -> PennylaneState:
        """A company with BEX's chart (plus a few PCG accounts) and a ``BEX`` journal."""
        state = cls(tokens={token})
        for code, label in JOURNALS:
            state.journals.append({"id": state.next_id(), "code": code, "label": label})
        chart = [*CHART, ("512000", "Banque"), ("706000", "Prestations de services")]
        for number, label in chart:
            state.accounts.append(
                {
                    "id": state.next_id(),
                    "number": number,
                    "label": label,
                    "vat_rate": "exempt",
                    "country_alpha2": "FR",
                    "enabled": True,
                }
            )
        # Pennylane warns that a number may map to several ids: a disabled twin of 8000.
        state.accounts.append(
            {
                "id": state.next_id(),
                "number": "8000",
                "label": "Ancien compte",
                "vat_rate": "exempt",
                "country_alpha2": "FR",
                "enabled": False,
            }
        )
        return state

    def journal(self, code: str) -> dict[str, Any]:
        return next(j for j in self.journals if j["code"] == code)

    def account(self, number: str) -> dict[str, Any]:
        return next(a for a in self.accounts if a["number"] == number and a["enabled"])

    def throttle(self, token: str) -> tuple[float | None, int, float]:
        """(retry_after or None, remaining, reset seconds) for one more request of ``token``."""
        window = self._windows.setdefault(token, deque())
        return take_slot(window, self.clock(), self.rate_calls, self.rate_per)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith("o:"):
            raise ValueError(cursor)
        return int(text[2:])
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid cursor") from None


def _limit(request: Request, maximum: int) -> int:
    raw = request.query_params.get("limit", "20")
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "limit must be an integer") from None
    if not 1 <= value <= maximum:
        raise ApiError(400, f"limit must be between 1 and {maximum}")
    return value


def _page(
    request: Request, rows: list[dict[str, Any]], maximum: int, cap: int | None = None
) -> dict[str, Any]:
    limit = min(_limit(request, maximum), cap or maximum)
    start = _offset(request.query_params.get("cursor"))
    chunk = rows[start : start + limit]
    more = start + limit < len(rows)
    return {
        "items": chunk,
        "has_more": more,
        "next_cursor": _cursor(start + limit) if more else None,
    }


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "not_eq": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "start_with": lambda a, b: str(a).startswith(str(b)),
}


def _filters(request: Request, allowed: dict[str, set[str]]) -> list[tuple[str, str, Any]]:
    raw = request.query_params.get("filter")
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        raise ApiError(400, "filter is not valid JSON") from None
    if not isinstance(items, list):
        raise ApiError(400, "filter must be a JSON array")
    out = []
    for item in items:
        if not isinstance(item, dict) or {"field", "operator", "value"} - item.keys():
            raise ApiError(400, "each filter needs field, operator and value")
        name, op = item["field"], item["operator"]
        if name not in allowed:
            raise ApiError(400, f"filtering on {name!r} is not supported")
        if op not in allowed[name]:
            raise ApiError(400, f"operator {op!r} is not supported for {name!r}")
        out.append((name, op, item["value"]))
    return out


def _typed(name: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_typed(name, v) for v in value]
    if name in ("id", "journal_id"):
        return int(value)
    if name == "enabled":
        return value in (True, "true", "1")
    return str(value)


def _match(row: dict[str, Any], filters: list[tuple[str, str, Any]]) -> bool:
    for name, op, value in filters:
        try:
            if not _OPS[op](row[name], _typed(name, value)):
                return False
        except (TypeError, ValueError):
            raise ApiError(400, f"invalid value for {name!r}") from None
    return True


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "created_at", "updated_at", "label", "date", "journal_id")
    return {k: entry[k] for k in keys} | {"ledger_attachment_filename": None}


def _decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise ApiError(422, f"{where} must be a decimal string")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ApiError(422, f"{where} is not a number: {value!r}") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ApiError(422, f"{where} must be positive with at most 2 decimals")
    return amount


def _create_entry(state: PennylaneState, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    for key in ("date", "label", "journal_id", "ledger_entry_lines"):
        if key not in body:
            raise ApiError(400, f"param is missing or the value is empty: {key}")
    try:
        day = date.fromisoformat(str(body["date"]))
    except ValueError:
        raise ApiError(422, f"date is not a valid date: {body['date']!r}") from None
    journal = next((j for j in state.journals if j["id"] == body["journal_id"]), None)
    if journal is None:
        raise ApiError(404, f"Journal {body['journal_id']} not found")
    lines = body["ledger_entry_lines"]
    if not isinstance(lines, list) or not lines:
        raise ApiError(422, "ledger_entry_lines must contain at least one line")
    if len(lines) > MAX_LINES:
        raise ApiError(422, f"a ledger entry takes at most {MAX_LINES} lines")
    accounts = {a["id"]: a for a in state.accounts}
    debit = credit = Decimal("0")
    stored = []
    for i, line in enumerate(lines):
        account = accounts.get(line.get("ledger_account_id"))
        if account is None:
            raise ApiError(422, f"Ledger account {line.get('ledger_account_id')} not found")
        d = _decimal(line.get("debit"), f"ledger_entry_lines[{i}].debit")
        c = _decimal(line.get("credit"), f"ledger_entry_lines[{i}].credit")
        if d and c:
            raise ApiError(422, f"ledger_entry_lines[{i}] has both a debit and a credit")
        debit += d
        credit += c
        stored.append(
            {
                "id": state.next_id(),
                "debit": f"{d:.2f}",
                "credit": f"{c:.2f}",
                "ledger_account_id": account["id"],
                "label": str(line.get("label") or ""),
            }
        )
    if debit != credit:
        raise ApiError(422, f"Ledger entry lines are not balanced (debit {debit}, credit {credit})")
    if state.closed_until is not None and day <= state.closed_until:
        raise ApiError(
            422,
            f"The fiscal period containing {day.isoformat()} is closed; entries cannot be "
            "added to it",
        )
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    entry = {
        "id": state.next_id(),
        "created_at": now,
        "updated_at": now,
        "label": str(body["label"]),
        "date": day.isoformat(),
        "journal_id": journal["id"],
        "currency": str(body.get("currency") or "EUR"),
        "ledger_attachment_id": None,
        "ledger_entry_lines": stored,
    }
    state.entries.append(entry)
    return entry


def create_pennylane_app(
    state: PennylaneState, *, faults: FaultPlan | None = None
) -> Starlette | Any:
    """The ASGI app; ``faults`` (built with ``error_body``) goes in front when given."""

    def authorised(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token not in state.tokens:
            raise ApiError(401, "Access token is missing or invalid")
        return token

    async def dispatch(request: Request) -> Response:
        state.requests.append((request.method, request.url.path))
        try:
            token = authorised(request)
            retry_after, remaining, reset = state.throttle(token)
            headers = {
                "ratelimit-limit": str(state.rate_calls),
                "ratelimit-remaining": str(remaining),
                "ratelimit-reset": str(math.ceil(reset)),
            }
            if retry_after is not None:
                state.refused += 1
                headers["retry-after"] = f"{retry_after:.2f}"
                return _json(429, error_body(429, "Too many requests"), headers)
            status, body = await handle(request)
            return _json(status, body, headers)
        except ApiError as exc:
            return _json(exc.status, error_body(exc.status, exc.message))

    async def handle(request: Request) -> tuple[int, Any]:
        path = request.url.path.removeprefix(PREFIX)
        if request.method == "GET" and path == "/me":
            user = {"id": 1, "first_name": "Api", "last_name": "User", "email": "a@b.fr"}
            return 200, {"user": user | {"locale": "fr"}, "company": state.company}
        if request.method == "GET" and path == "/journals":
            return 200, _page(request, state.journals, 100, state.page_cap)
        if request.method == "GET" and path == "/ledger_accounts":
            allowed = {
                "id": {"eq", "in"},
                "number": {"eq", "in", "start_with"},
                "enabled": {"eq"},
            }
            filters = _filters(request, allowed)
            rows = [a for a in state.accounts if _match(a, filters)]
            return 200, _page(request, rows, 1000, state.page_cap)
        if request.method == "GET" and path == "/ledger_entries":
            ops = {"lt", "lteq", "gt", "gteq", "eq", "not_eq"}
            allowed = {"date": ops, "journal_id": ops | {"in", "not_in"}}
            filters = _filters(request, allowed)
            rows = [_summary(e) for e in state.entries if _match(e, filters)]
            return 200, _page(request, rows, 100, state.page_cap)
        if request.method == "GET" and path.startswith("/ledger_entries/"):
            ident = path.rsplit("/", 1)[-1]
            for entry in state.entries:
                if str(entry["id"]) == ident:
                    return 200, entry
            raise ApiError(404, f"Ledger entry {ident} not found")
        if request.method == "POST" and path == "/ledger_entries":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "the body is not valid JSON") from None
            return 201, _create_entry(state, body)
        raise ApiError(404, "The resource was not found")

    routes = [Route(PREFIX + "/{path:path}", dispatch, methods=["GET", "POST"])]
    app = Starlette(routes=routes)
    app.state.pennylane = state
    return faults.wrap(app) if faults is not None else app


async def demo_setup(workdir: pathlib.Path) -> DemoProvider:
    """Start a seeded simulator; the demo logs in with its company API token."""
    token = plant("demo-pennylane-")
    state = PennylaneState.seeded(token)
    server = SimulatorServer(create_pennylane_app(state), name="pennylane-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="pennylane",
        settings={"api_url": url + PREFIX},
        complete={"credentials": {"api_token": token}},
        stop=[server.stop],
    )
