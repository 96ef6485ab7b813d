"""A simulator of the Minox REST API 1 and its OAuth2 login, from Minox's public material.

Routes (production: ``https://app.minox.nl``):

- ``/oauth/authorize``, ``/oauth/token``: the shared authlib OAuth2 server (code, refresh);
- ``POST /api/1/inspect`` (and ``GET /api/1/inspect/{token}``), with the app's basic auth: the
  tenants the token reaches (``linked_tenants``);
- ``GET /api/1/tenant/{t}/administration`` and per administration ``journal``,
  ``ledger_account``, ``vat``, ``year/{year}/transaction_lines``;
- ``PUT|GET|DELETE /api/1/tenant/{t}/administration/{a}/transaction_line_batch/{uuid}``: a PUT
  creates (201) or replaces (200) the batch with that client-chosen uuid.

Where Minox's docs are silent the simulator follows the common Laravel shapes its answers show
(``{"message"}``, validation ``{"message", "errors": {field: [..]}}`` with 422): unknown or
blocked accounts, unknown journals, unbalanced batches and closed periods ("Periode 3 van
boekjaar 2026 is afgesloten.") are refused. Scopes are checked per call, tenants per user, and
every answer carries ``x-rate-limit-limit/-remaining/-reset`` (reset in epoch milliseconds);
over the limit (20 per 60 s per token by default) it answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
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
from providers.simulators.demo_login import consent_player, write_secret_file
from providers.simulators.faults import FaultMiddleware, FaultPlan
from providers.simulators.oauth_server import (
    OAuthServerConfig,
    OAuthServerState,
    SimClient,
    create_oauth_app,
)
from providers.simulators.planted import plant
from providers.simulators.responses import decimal_json

API_PREFIX = "/api/1"
OAUTH_PREFIX = "/oauth"
READ = {
    "administration": "administration:read",
    "journal": "journal:read",
    "ledger_account": "ledger_account:read",
    "vat": "vat:read",
    "transaction_lines": "transaction:read",
}


class MinoxError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def error_body(status: int, detail: str) -> dict[str, Any]:
    """Minox's (Laravel's) error shape, also for injected faults."""
    return {"message": detail}


@dataclass
class MinoxAdministration:
    id: int
    name: str
    number_of_periods: int = 12
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    vat: list[dict[str, Any]] = field(default_factory=list)
    batches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    closed_periods: set[tuple[int, int]] = field(default_factory=set)  # (fiscal year, period)
    closed_years: set[int] = field(default_factory=set)
    put_calls: int = 0
    _line_ids: int = 0
    _entry_numbers: int = 0

    def add_account(self, number: str, description: str, blocked: bool = False) -> None:
        self.accounts[number] = {
            "id": int(number),
            "description": description,
            "blocked": {"active": blocked, "reason": "no longer used" if blocked else ""},
            "vat": {"id": 0},
            "debit_credit_suggestion": "debet",
        }

    def lines_of_year(self, year: int) -> list[dict[str, Any]]:
        return [
            line
            for lines in self.batches.values()
            for line in lines
            if line["period"]["fiscal_year"] == year
        ]

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "number_of_periods": self.number_of_periods,
            "chamber_of_commerce": "12345678",
            "currency": {"id": "EUR"},
        }

    @classmethod
    def seeded(cls, admin_id: int, name: str) -> MinoxAdministration:
        admin = cls(admin_id, name)
        for number, description in CHART:
            admin.add_account(number, description)
        admin.add_account("9999", "Oude tussenrekening", blocked=True)
        for code, description, kind in (
            ("MEM", "Memoriaal", "general"),
            ("BEX", "Booking Experts", "general"),
            ("VRK", "Verkoopboek", "sales"),
        ):
            admin.journals[code] = {"id": code, "description": description, "type": kind}
        admin.vat = [
            {"id": 1, "description": "BTW 0%", "percentage": Decimal("0")},
            {"id": 2, "description": "BTW laag 9%", "percentage": Decimal("9")},
            {"id": 3, "description": "BTW hoog 21%", "percentage": Decimal("21")},
            {"id": 4, "description": "Geen BTW", "percentage": Decimal("0")},
        ]
        return admin


@dataclass
class MinoxTenant:
    id: int
    name: str
    administrations: dict[int, MinoxAdministration] = field(default_factory=dict)


class MinoxSimState:
    """The simulated Minox: tenants, which users reach them, rate-limit windows, counters."""

    def __init__(
        self,
        oauth: OAuthServerState,
        client_id: str,
        client_secret: str,
        *,
        calls_per_window: int = 20,
        window: float = 60.0,
        retry_after: float = 120.0,
    ) -> None:
        self.oauth = oauth
        self.clock = oauth.clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenants: dict[int, MinoxTenant] = {}
        self.user_tenants: dict[str, list[int]] = {}  # absent user: every tenant
        self.calls_per_window = calls_per_window
        self.window = window
        self.retry_after = retry_after
        self.calls: dict[str, deque[float]] = {}
        self.requests: list[tuple[str, str]] = []

    def add_tenant(self, tenant_id: int, name: str) -> MinoxTenant:
        tenant = MinoxTenant(tenant_id, name)
        self.tenants[tenant_id] = tenant
        return tenant

    def administration(self, tenant_id: int, admin_id: int) -> MinoxAdministration:
        return self.tenants[tenant_id].administrations[admin_id]

    @classmethod
    def seeded(
        cls,
        oauth: OAuthServerState,
        client_id: str,
        client_secret: str,
        *,
        single: bool = False,
        **kw: Any,
    ) -> MinoxSimState:
        """Tenant 100200 with two administrations, tenant 100300 (an accountant's client) with
        one (``single``: one tenant with one administration, so activation needs no choice)."""
        state = cls(oauth, client_id, client_secret, **kw)
        group = state.add_tenant(100200, "Demo Holiday Parks Groep")
        group.administrations[1] = MinoxAdministration.seeded(1, "Demo Holiday Parks BV")
        if not single:
            group.administrations[2] = MinoxAdministration.seeded(2, "Demo Camping BV")
            other = state.add_tenant(100300, "Strandpark De Duinen")
            other.administrations[7] = MinoxAdministration.seeded(7, "Strandpark De Duinen BV")
        return state

    def _admit(self, token: str) -> tuple[float | None, dict[str, str]]:
        now = self.clock()
        window = self.calls.setdefault(token, deque())
        while window and window[0] <= now - self.window:
            window.popleft()
        reset = (window[0] + self.window) if window else now + self.window
        if len(window) >= self.calls_per_window:
            return self.retry_after, self._headers(0, reset)
        window.append(now)
        return None, self._headers(self.calls_per_window - len(window), reset)

    def _headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(self.calls_per_window),
            "x-rate-limit-remaining": str(max(remaining, 0)),
            "x-rate-limit-reset": str(int(reset * 1000)),
        }


def _validate(
    admin: MinoxAdministration, doc: Any
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Check a batch; returns the parsed lines and Laravel-style field errors."""
    errors: dict[str, list[str]] = {}
    if not isinstance(doc, list) or not doc:
        return [], {"lines": ["The batch must contain at least one line."]}
    parsed: list[dict[str, Any]] = []
    for i, line in enumerate(doc):
        if not isinstance(line, dict):
            errors[str(i)] = ["A line must be an object."]
            continue
        account = str((line.get("account") or {}).get("id", ""))
        record = admin.accounts.get(account)
        if record is None:
            errors[f"{i}.account.id"] = [f"Grootboekrekening {account} bestaat niet."]
        elif record["blocked"]["active"]:
            errors[f"{i}.account.id"] = [f"Grootboekrekening {account} is geblokkeerd."]
        journal = str((line.get("journal") or {}).get("id", ""))
        if journal not in admin.journals:
            errors[f"{i}.journal.id"] = [f"Dagboek {journal} bestaat niet."]
        try:
            debit = Decimal(str(line.get("debit", 0)))
            credit = Decimal(str(line.get("credit", 0)))
            doc_date = date.fromisoformat(str(line.get("document_date")))
        except (InvalidOperation, ValueError):
            errors[f"{i}"] = ["debit, credit and document_date must be valid."]
            continue
        if debit < 0 or credit < 0:
            errors[f"{i}.debit"] = ["Bedragen mogen niet negatief zijn."]
        period = line.get("period") or {}
        try:
            number, year = int(period["id"]), int(period["fiscal_year"])
        except (KeyError, TypeError, ValueError):
            errors[f"{i}.period"] = ["Periode en boekjaar zijn verplicht."]
            continue
        if not 1 <= number <= admin.number_of_periods + 1:
            errors[f"{i}.period.id"] = [f"Periode {number} bestaat niet."]
        if year in admin.closed_years or (year, number) in admin.closed_periods:
            raise MinoxError(422, f"Periode {number} van boekjaar {year} is afgesloten.")
        parsed.append(
            {
                "account": {"id": account, "scheme": "MINOX", "type": "ledger_account"},
                "journal": {"id": journal},
                "period": {"id": number, "fiscal_year": year},
                "document_date": doc_date.isoformat(),
                "description": str(line.get("description") or "")[:255],
                "debit": debit,
                "credit": credit,
                "currency": line.get("currency") or {"id": "EUR"},
            }
        )
    if not errors:
        debit = sum((p["debit"] for p in parsed), Decimal("0"))
        credit = sum((p["credit"] for p in parsed), Decimal("0"))
        if debit != credit:
            errors["lines"] = [f"De boeking is niet in balans ({debit} debet, {credit} credit)."]
    return parsed, errors


def create_minox_app(
    state: MinoxSimState, oauth_app: Starlette, *, faults: FaultPlan | None = None
) -> Starlette:
    """The simulator; ``app.state.minox`` is ``state``."""

    def basic_ok(request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, state.client_id) and hmac.compare_digest(
            password, state.client_secret
        )

    def inspect_answer(token: str | None) -> Response:
        claims = state.oauth.check_bearer(token)
        if claims is None:
            return decimal_json({"active": False, "linked_tenants": []})
        allowed = state.user_tenants.get(claims["sub"], list(state.tenants))
        return decimal_json(
            {
                "active": True,
                "client_id": claims["client_id"],
                "scopes": claims["scope"].split(),
                "linked_tenants": [
                    {"tenant_id": t, "name": state.tenants[t].name}
                    for t in allowed
                    if t in state.tenants
                ],
            }
        )

    async def inspect(request: Request) -> Response:
        state.requests.append((request.method, request.url.path))
        if not basic_ok(request):
            return decimal_json({"message": "Client authentication failed"}, 401)
        if request.method == "GET":
            return inspect_answer(request.path_params.get("token"))
        try:
            doc = json.loads(await request.body())
        except ValueError:
            return decimal_json({"message": "The given data was invalid."}, 422)
        return inspect_answer(doc.get("token") if isinstance(doc, dict) else None)

    async def api(request: Request) -> Response:
        state.requests.append((request.method, request.url.path))
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        claims = state.oauth.check_bearer(token.strip()) if scheme.lower() == "bearer" else None
        if claims is None:
            return decimal_json({"message": "Unauthenticated."}, 401)
        wait, headers = state._admit(token.strip())
        if wait is not None:
            return decimal_json(
                {"message": "Too Many Attempts."},
                429,
                {**headers, "Retry-After": f"{wait:g}"},
            )
        try:
            response = await route(request, claims)
        except MinoxError as err:
            body: dict[str, Any] = {"message": err.message}
            if err.errors:
                body["errors"] = err.errors
            response = decimal_json(body, err.status)
        response.headers.update(headers)
        return response

    async def route(request: Request, claims: dict[str, Any]) -> Response:
        parts = request.path_params["rest"].strip("/").split("/")
        scopes = set(str(claims.get("scope") or "").split())
        if len(parts) < 3 or parts[0] != "tenant" or parts[2] != "administration":
            raise MinoxError(404, "Not found.")
        try:
            tenant_id = int(parts[1])
        except ValueError:
            raise MinoxError(404, "Not found.") from None
        allowed = state.user_tenants.get(claims["sub"], list(state.tenants))
        tenant = state.tenants.get(tenant_id)
        if tenant is None or tenant_id not in allowed:
            raise MinoxError(403, "This action is unauthorized.")
        if len(parts) == 3:
            need(scopes, READ["administration"])
            return decimal_json(
                {"collection": [a.render() for a in tenant.administrations.values()]}
            )
        try:
            admin = tenant.administrations[int(parts[3])]
        except (ValueError, KeyError):
            raise MinoxError(404, "Administration not found.") from None
        rest = parts[4:]
        if rest in (["journal"], ["ledger_account"], ["vat"]) and request.method == "GET":
            need(scopes, READ[rest[0]])
            items: list[Any] = {
                "journal": lambda: list(admin.journals.values()),
                "ledger_account": lambda: list(admin.accounts.values()),
                "vat": lambda: admin.vat,
            }[rest[0]]()
            return decimal_json({"collection": items})
        if len(rest) == 3 and rest[0] == "year" and rest[2] == "transaction_lines":
            need(scopes, READ["transaction_lines"])
            try:
                year = int(rest[1])
            except ValueError:
                raise MinoxError(404, "Not found.") from None
            return decimal_json({"collection": admin.lines_of_year(year)})
        if len(rest) == 2 and rest[0] == "transaction_line_batch":
            return await batch(request, scopes, admin, rest[1])
        raise MinoxError(404, "Not found.")

    def need(scopes: set[str], scope: str) -> None:
        if scope not in scopes:
            raise MinoxError(403, f"Invalid scope(s) provided: {scope} is required.")

    async def batch(
        request: Request, scopes: set[str], admin: MinoxAdministration, raw_id: str
    ) -> Response:
        try:
            batch_id = str(uuid.UUID(raw_id))
        except ValueError:
            raise MinoxError(404, "Not found.") from None
        if request.method == "GET":
            need(scopes, "transaction:read")
            if batch_id not in admin.batches:
                raise MinoxError(404, "Transaction line batch not found.")
            return decimal_json(admin.batches[batch_id])
        need(scopes, "transaction:write")
        if request.method == "DELETE":
            if admin.batches.pop(batch_id, None) is None:
                raise MinoxError(404, "Transaction line batch not found.")
            return Response(status_code=204)
        admin.put_calls += 1
        try:
            doc = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            raise MinoxError(400, "The request body is not valid JSON.") from None
        parsed, errors = _validate(admin, doc)
        if errors:
            raise MinoxError(422, "The given data was invalid.", errors)
        existing = admin.batches.get(batch_id)
        if existing:
            entry_number = existing[0]["entry_number"]
        else:
            admin._entry_numbers += 1
            entry_number = admin._entry_numbers
        stored = []
        for line in parsed:
            admin._line_ids += 1
            stored.append(
                {
                    "id": admin._line_ids,
                    "entry_number": entry_number,
                    "transaction_line_batch": {"id": batch_id},
                    **line,
                }
            )
        admin.batches[batch_id] = stored
        return decimal_json(stored, 200 if existing else 201)

    middleware = [Middleware(FaultMiddleware, plan=faults)] if faults is not None else []
    app = Starlette(
        routes=[
            Route(API_PREFIX + "/inspect", inspect, methods=["POST"]),
            Route(API_PREFIX + "/inspect/{token}", inspect, methods=["GET"]),
            Route(API_PREFIX + "/{rest:path}", api, methods=["GET", "PUT", "DELETE"]),
            Mount(OAUTH_PREFIX, oauth_app),
        ],
        middleware=middleware,
    )
    app.state.minox = state
    return app


def create_app(
    client_id: str,
    client_secret: str,
    *,
    clock: Callable[[], float] | None = None,
    faults: FaultPlan | None = None,
    access_token_ttl: int = 3600,
    **state_kw: Any,
) -> Starlette:
    """The simulator with its own OAuth server and seeded tenants (``app.state.minox``)."""
    config = OAuthServerConfig(
        clients=(SimClient(client_id, client_secret),),
        access_token_ttl=access_token_ttl,
        clock=clock or SimClock(),
    )
    oauth_app = create_oauth_app(config)
    state = MinoxSimState.seeded(oauth_app.state.oauth, client_id, client_secret, **state_kw)
    return create_minox_app(state, oauth_app, faults=faults)


def settings_for(base_url: str, client_id: str, secret_file: str) -> dict[str, Any]:
    """The ``[providers.minox]`` table that points bexsync at a running simulator."""
    return {
        "client_id": client_id,
        "client_secret_file": secret_file,
        "api_url": base_url + API_PREFIX,
        "authorize_url": base_url + OAUTH_PREFIX + "/authorize",
        "token_url": base_url + OAUTH_PREFIX + "/token",
    }


browser_login = consent_player("Minox")


async def demo_setup(workdir: Path) -> DemoProvider:
    """Start the simulator (one tenant, one administration: activation needs no choice) with a
    registered app; ``browser_login`` plays the main user's consent."""
    secret = plant("minox-demo-")
    secret_file = write_secret_file(workdir / "minox-client-secret", secret)
    app = create_app("bexsync-demo", secret, single=True)
    server = SimulatorServer(app, name="minox-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="minox",
        settings=settings_for(url, "bexsync-demo", secret_file),
        complete=None,
        browser_login=browser_login,
        stop=[server.stop],
    )
