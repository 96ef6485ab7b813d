"""A simulator of Xero's identity and Accounting APIs, built from Xero's documentation and spec.

One Starlette app serves what production spreads over three hosts:

- ``/identity/connect/authorize`` and ``/identity/connect/token``: the shared authlib OAuth2
  server (code + PKCE, rotating refresh tokens with Xero's 30-minute grace, 30-minute access
  tokens, 60-day refresh tokens);
- ``GET /Connections`` (also ``/connections``): the organisations the login reaches;
- ``/api.xro/2.0``: ``GET /Accounts``, ``/TaxRates``, ``/Organisation`` (lock dates),
  ``GET|PUT /ManualJournals`` and ``GET /ManualJournals/{id}``.

Behaviour copied from the docs: JSON only with ``Accept: application/json`` (XML otherwise),
``xero-tenant-id`` on every accounting call (403 without a connected one), scopes checked per
endpoint, MS-style dates (``/Date(ms+0000)/``) in answers, ``where``/``order``/``page`` on
manual journals, validation errors as ``ValidationException`` with ``Elements[].ValidationErrors``,
lock dates, ``Idempotency-Key`` replay, 60 calls/minute, 5 concurrent and a daily limit per
organisation (429 with ``Retry-After`` and ``X-Rate-Limit-Problem``), and the
``X-MinLimit-Remaining``/``X-DayLimit-Remaining`` headers. State is in memory, in
``XeroSimState``, for tests to inspect and change; ``demo_setup`` runs it for the demo.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from providers.chart import CHART, VAT_CODES
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
from providers.wire import dumps_decimal

API_PREFIX = "/api.xro/2.0"
OAUTH_PREFIX = "/identity/connect"
DAY = 86_400.0
READ_SETTINGS = ("accounting.settings", "accounting.settings.read")
WRITE_JOURNALS = ("accounting.transactions", "accounting.manualjournals")
READ_JOURNALS = (*WRITE_JOURNALS, "accounting.transactions.read", "accounting.manualjournals.read")


def ms_date(value: date | datetime) -> str:
    """Xero's JSON date form: milliseconds since the epoch (UTC) and the offset."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    millis = (value - datetime(1970, 1, 1, tzinfo=UTC)) // (datetime.resolution * 1000)
    return f"/Date({millis}+0000)/"


def _account_type(code: str) -> str:
    if code.startswith("1") and code < "1600":
        return "CURRENT"
    if code.startswith(("1", "2")):
        return "CURRLIAB"
    if code.startswith("8"):
        return "REVENUE"
    if code == "4300":
        return "OTHERINCOME"
    return "EXPENSE"


@dataclass
class XeroOrg:
    """One organisation ("tenant") with its chart, tax rates, lock dates and journals."""

    tenant_id: str
    name: str
    base_currency: str = "EUR"
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by AccountID
    tax_rates: dict[str, dict[str, Any]] = field(default_factory=dict)  # by TaxType
    period_lock_date: date | None = None
    end_of_year_lock_date: date | None = None
    journals: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, bytes] = field(default_factory=dict)  # key -> first success
    connected: bool = True
    minute_calls: deque[float] = field(default_factory=deque)
    day_calls: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def add_account(
        self, code: str | None, name: str, type_: str, status: str = "ACTIVE"
    ) -> dict[str, Any]:
        account_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.tenant_id}/{code or name}"))
        record = {
            "AccountID": account_id,
            "Name": name,
            "Type": type_,
            "Status": status,
            "TaxType": "NONE",
            "Class": "REVENUE" if type_ in ("REVENUE", "OTHERINCOME") else "ASSET",
            "EnablePaymentsToAccount": False,
        }
        if code is not None:
            record["Code"] = code
        if type_ == "BANK":
            record["BankAccountType"] = "BANK"
            record["CurrencyCode"] = self.base_currency
        self.accounts[account_id] = record
        return record

    def add_tax_rate(self, tax_type: str, name: str, rate: str, status: str = "ACTIVE") -> None:
        self.tax_rates[tax_type] = {
            "Name": name,
            "TaxType": tax_type,
            "Status": status,
            "ReportTaxType": "OUTPUT" if Decimal(rate) else "EXEMPTOUTPUT",
            "CanApplyToRevenue": True,
            "CanApplyToLiabilities": True,
            "DisplayTaxRate": Decimal(rate).quantize(Decimal("0.0001")),
            "EffectiveRate": Decimal(rate).quantize(Decimal("0.0001")),
            "TaxComponents": [{"Name": "VAT", "Rate": Decimal(rate), "IsCompound": False}],
        }

    def account_by_code(self, code: str) -> dict[str, Any] | None:
        return next((a for a in self.accounts.values() if a.get("Code") == code), None)

    def lock_date(self) -> date | None:
        dates = [d for d in (self.period_lock_date, self.end_of_year_lock_date) if d]
        return max(dates) if dates else None

    def posted(self, status: str | None = None) -> list[dict[str, Any]]:
        return [j for j in self.journals if status is None or j["Status"] == status]


def seed_bex_org(org: XeroOrg) -> XeroOrg:
    """BEX's default chart (so demo entries post cleanly) and tax rates named by BEX's codes
    plus Xero's own ``NONE``; an archived account, a deleted rate and a code-less bank account
    show that the adapter filters them out."""
    for code, name in CHART:
        org.add_account(code, name, _account_type(code))
    org.add_account("4999", "Old suspense (archived)", "EXPENSE", status="ARCHIVED")
    org.add_account(None, "Business Bank Account", "BANK")
    for code, name, rate in sorted(VAT_CODES, key=lambda tax: tax[0] != "NONE"):  # NONE first
        org.add_tax_rate(code, name, rate)
    org.add_tax_rate("TAX001", "VAT 6% (old)", "6", status="DELETED")
    return org


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    tenant: str | None
    idempotency_key: str | None
    query: str


class XeroSimState:
    """Everything the simulator knows; tests read and change it directly."""

    def __init__(
        self,
        *,
        client_id: str = "xero-sim-client",
        client_secret: str | None = None,
        clock: SimClock | None = None,
        minute_limit: int = 60,
        day_limit: int = 5000,
        concurrent_limit: int = 5,
        scopes: tuple[str, ...] = (),
        refused_scopes: tuple[str, ...] = (),
        scope_error: str = "invalid_scope",
    ) -> None:
        """``refused_scopes``: what this app may not ask for (a Xero app created on or after
        2026-03-02 gets ``accounting.transactions`` refused). A confidential app (one with a
        secret) must authenticate at the token endpoint with HTTP Basic, as Xero documents."""
        self.clock = clock or SimClock()
        self.minute_limit = minute_limit
        self.day_limit = day_limit
        self.concurrent_limit = concurrent_limit
        self.orgs: dict[str, XeroOrg] = {}
        self.requests: list[SeenRequest] = []
        self.replays = 0
        # False: ``where`` with string methods on ManualJournals is refused (a documentation
        # gap: the adapter must still find journals by reading the pages).
        self.journal_where_methods = True
        self.latency = 0.0  # seconds each accounting call takes (concurrency tests)
        self.max_in_flight = 0
        self.oauth = OAuthServerState(
            OAuthServerConfig(
                clients=(
                    SimClient(
                        client_id,
                        client_secret,
                        scopes=scopes,
                        refused_scopes=refused_scopes,
                        scope_error=scope_error,
                        auth_methods=("client_secret_basic",) if client_secret else None,
                    ),
                ),
                access_token_ttl=1800,
                refresh_token_ttl=60 * DAY,
                rotate_refresh_tokens=True,
                refresh_grace=1800,
                clock=self.clock,
            )
        )

    def add_org(self, name: str, *, base_currency: str = "EUR", seed: bool = True) -> XeroOrg:
        org = XeroOrg(str(uuid.uuid4()), name, base_currency)
        self.orgs[org.tenant_id] = seed_bex_org(org) if seed else org
        return org

    def org(self, tenant_id: str | None = None) -> XeroOrg:
        """One organisation (the first when none is named)."""
        if tenant_id is None:
            return next(iter(self.orgs.values()))
        return self.orgs[tenant_id]

    def requests_to(self, path: str, method: str | None = None) -> list[SeenRequest]:
        return [
            r
            for r in self.requests
            if r.path.endswith(path) and (method is None or r.method == method)
        ]


# --- responses in Xero's shapes ----------------------------------------------------------------


def _envelope(key: str, items: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "bexsync simulator",
        "DateTimeUTC": ms_date(datetime.now(UTC)),
        **extra,
        key: items,
    }


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Any:
    return JSONResponse(
        {"Type": None, "Title": title, "Status": status, "Detail": detail},
        status_code=status,
        headers=headers,
    )


def _validation(elements: list[dict[str, Any]]) -> Response:
    return decimal_json(
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        },
        400,
    )


def xero_error_body(status: int, detail: str) -> Any:
    """Fault-injection bodies in Xero's problem shape."""
    titles = {429: "Too Many Requests", 500: "An error occurred", 503: "Service Unavailable"}
    return {"Type": None, "Title": titles.get(status, "Error"), "Status": status, "Detail": detail}


# --- `where` and `order`, the subset bexsync and common clients use ------------------------

_STRING = r'"((?:[^"\\]|\\.)*)"'
_CLAUSE = re.compile(
    rf"^(?P<field>\w+)(?:\s*(?P<op>==|!=)\s*{_STRING}"
    rf"|\.(?P<method>Contains|StartsWith|EndsWith)\({_STRING}\))$"
)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _where(expression: str) -> list[tuple[str, str, str]]:
    clauses = []
    for part in re.split(r"\s+(?:AND|&&)\s+", expression.strip()):
        match = _CLAUSE.match(part.strip())
        if match is None:
            raise ValueError(part)
        if match.group("op"):
            clauses.append((match.group("field"), match.group("op"), _unescape(match.group(3))))
        else:
            clauses.append((match.group("field"), match.group("method"), _unescape(match.group(5))))
    return clauses


def _matches(record: dict[str, Any], clauses: list[tuple[str, str, str]]) -> bool:
    for field_name, op, value in clauses:
        actual = record.get(field_name)
        text = "" if actual is None else str(actual)
        ok = {
            "==": text == value,
            "!=": text != value,
            "Contains": value in text,
            "StartsWith": text.startswith(value),
            "EndsWith": text.endswith(value),
        }[op]
        if not ok:
            return False
    return True


# --- the app -----------------------------------------------------------------------------------


def create_xero_app(state: XeroSimState, *, faults: FaultPlan | None = None) -> Starlette:
    """The simulator as a Starlette app; ``app.state.xero`` is ``state``."""
    oauth_app = create_oauth_app(state.oauth.config, state.oauth)

    def bearer(request: Request, scopes: tuple[str, ...]) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        claims = state.oauth.check_bearer(token.strip()) if scheme.lower() == "bearer" else None
        if claims is None:
            return _problem(
                401,
                "Unauthorized",
                "AuthenticationUnsuccessful",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        granted = set(str(claims.get("scope") or "").split())
        if scopes and not granted.intersection(scopes):
            return _problem(401, "Unauthorized", "AuthorizationUnsuccessful")
        return None

    def log(request: Request, tenant: str | None) -> None:
        state.requests.append(
            SeenRequest(
                request.method,
                request.url.path,
                tenant,
                request.headers.get("idempotency-key"),
                request.url.query,
            )
        )

    async def connections(request: Request) -> Response:
        log(request, None)
        denied = bearer(request, ())
        if denied is not None:
            return denied
        stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
        return JSONResponse(
            [
                {
                    "id": org.connection_id,
                    "authEventId": org.connection_id,
                    "tenantId": org.tenant_id,
                    "tenantType": "ORGANISATION",
                    "tenantName": org.name,
                    "createdDateUtc": stamp,
                    "updatedDateUtc": stamp,
                }
                for org in state.orgs.values()
                if org.connected
            ]
        )

    def limit(org: XeroOrg) -> Response | None:
        """Xero's per-organisation limits, checked before the call counts."""
        now = state.clock()
        while org.minute_calls and org.minute_calls[0] <= now - 60:
            org.minute_calls.popleft()
        while org.day_calls and org.day_calls[0] <= now - DAY:
            org.day_calls.popleft()
        if len(org.day_calls) >= state.day_limit:
            wait = org.day_calls[0] + DAY - now
            return _limited("day", wait)
        if len(org.minute_calls) >= state.minute_limit:
            return _limited("minute", org.minute_calls[0] + 60 - now)
        if org.in_flight >= state.concurrent_limit:
            return _limited("concurrent", 1)
        org.minute_calls.append(now)
        org.day_calls.append(now)
        return None

    def remaining(org: XeroOrg) -> dict[str, str]:
        return {
            "X-MinLimit-Remaining": str(max(state.minute_limit - len(org.minute_calls), 0)),
            "X-DayLimit-Remaining": str(max(state.day_limit - len(org.day_calls), 0)),
            "X-AppMinLimit-Remaining": "9999",
        }

    async def api(request: Request) -> Response:
        tenant = request.headers.get("xero-tenant-id")
        log(request, tenant)
        resource = request.path_params["resource"]
        scopes: tuple[str, ...] = READ_SETTINGS
        if resource.startswith("ManualJournals"):
            scopes = WRITE_JOURNALS if request.method != "GET" else READ_JOURNALS
        denied = bearer(request, scopes)
        if denied is not None:
            return denied
        org = state.orgs.get(tenant or "")
        if org is None or not org.connected:
            return _problem(403, "Forbidden", "AuthorizationUnsuccessful")
        if "json" not in request.headers.get("accept", ""):
            xml = "<Response><Status>OK</Status></Response>"
            return Response(xml, media_type="text/xml")
        limited = limit(org)
        if limited is not None:
            return limited
        org.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, org.in_flight)
        try:
            if state.latency:
                await asyncio.sleep(state.latency)
            response = await dispatch(request, org, resource)
        finally:
            org.in_flight -= 1
        response.headers.update(remaining(org))
        return response

    async def dispatch(request: Request, org: XeroOrg, resource: str) -> Response:
        method = request.method
        if resource == "Accounts" and method == "GET":
            return listing(request, "Accounts", list(org.accounts.values()))
        if resource == "TaxRates" and method == "GET":
            return listing(request, "TaxRates", list(org.tax_rates.values()))
        if resource == "Organisation" and method == "GET":
            return decimal_json(_envelope("Organisations", [organisation(org)]))
        if resource == "ManualJournals" and method == "GET":
            return journals_listing(request, org)
        if resource == "ManualJournals" and method == "PUT":
            return await create_journals(request, org)
        if resource.startswith("ManualJournals/") and method == "GET":
            wanted = resource.split("/", 1)[1]
            found = [j for j in org.journals if j["ManualJournalID"] == wanted]
            if not found:
                return _problem(404, "NotFound", "The resource you're looking for cannot be found")
            return decimal_json(_envelope("ManualJournals", [render_journal(found[0])]))
        return _problem(404, "NotFound", "The resource you're looking for cannot be found")

    def listing(request: Request, key: str, records: list[dict[str, Any]]) -> Response:
        where = request.query_params.get("where")
        try:
            clauses = _where(where) if where else []
        except ValueError as exc:
            return _query_error(str(exc))
        return decimal_json(_envelope(key, [r for r in records if _matches(r, clauses)]))

    def organisation(org: XeroOrg) -> dict[str, Any]:
        record: dict[str, Any] = {
            "OrganisationID": org.tenant_id,
            "Name": org.name,
            "LegalName": org.name,
            "BaseCurrency": org.base_currency,
            "CountryCode": "NL",
            "Version": "GLOBAL",
            "OrganisationType": "COMPANY",
            "OrganisationStatus": "ACTIVE",
            "IsDemoCompany": False,
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 12,
            "Timezone": "WESTERNEUROPEANSTANDARDTIME",
        }
        # "shown only if set" (Xero docs)
        if org.period_lock_date:
            record["PeriodLockDate"] = ms_date(org.period_lock_date)
        if org.end_of_year_lock_date:
            record["EndOfYearLockDate"] = ms_date(org.end_of_year_lock_date)
        return record

    def journals_listing(request: Request, org: XeroOrg) -> Response:
        params = request.query_params
        try:
            clauses = _where(params["where"]) if params.get("where") else []
        except ValueError as exc:
            return _query_error(str(exc))
        if not state.journal_where_methods and any(op[0].isupper() for _, op, _ in clauses):
            return _query_error("string methods are not supported here")
        found = [j for j in org.journals if _matches(flat(j), clauses)]
        order = params.get("order", "").split()
        if order:
            found.sort(key=lambda j: str(flat(j).get(order[0], "")), reverse=order[-1] == "DESC")
        extra: dict[str, Any] = {}
        if "page" in params:
            try:
                page = max(int(params["page"]), 1)
                size = min(max(int(params.get("pageSize", 100)), 1), 1000)
            except ValueError:
                return _query_error("page and pageSize must be whole numbers")
            total = len(found)
            found = found[(page - 1) * size : page * size]
            extra["pagination"] = {
                "page": page,
                "pageSize": size,
                "pageCount": max(math.ceil(total / size), 1),
                "itemCount": total,
            }
        return decimal_json(
            _envelope("ManualJournals", [render_journal(j) for j in found], **extra)
        )

    async def create_journals(request: Request, org: XeroOrg) -> Response:
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        if key is not None and key in org.idempotency:
            # GAP (Xero does not document replays): the first success is returned again.
            state.replays += 1
            return Response(org.idempotency[key], media_type="application/json")
        try:
            body = json.loads(raw, parse_float=Decimal)
        except ValueError:
            return _problem(400, "BadRequest", "The request body is not valid JSON")
        items = body.get("ManualJournals") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return _validation([{"ValidationErrors": [{"Message": "No manual journals given"}]}])
        built, elements = [], []
        for item in items:
            journal, errors = validate_journal(org, item if isinstance(item, dict) else {})
            built.append(journal)
            elements.append(
                {
                    **(item if isinstance(item, dict) else {}),
                    "ValidationErrors": [{"Message": m} for m in errors],
                }
            )
        if any(e["ValidationErrors"] for e in elements):
            return _validation([e for e in elements if e["ValidationErrors"]])
        org.journals.extend(built)
        doc = _envelope("ManualJournals", [render_journal(j) for j in built])
        encoded = dumps_decimal(doc)
        if key is not None:
            org.idempotency[key] = encoded
        return Response(encoded, media_type="application/json")

    def validate_journal(org: XeroOrg, item: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        errors: list[str] = []
        narration = item.get("Narration")
        if not isinstance(narration, str) or not narration.strip():
            errors.append("Narration must be supplied")
        try:
            when = date.fromisoformat(str(item.get("Date")))
        except ValueError:
            when = None
            errors.append("A valid Date (YYYY-MM-DD) must be supplied")
        status = item.get("Status", "DRAFT")
        if status not in ("DRAFT", "POSTED"):
            errors.append(f"Status {status!r} cannot be used when creating a manual journal")
        amount_types = item.get("LineAmountTypes", "NoTax")
        if amount_types not in ("NoTax", "Exclusive", "Inclusive"):
            errors.append(f"LineAmountTypes {amount_types!r} is not valid")
        lines = item.get("JournalLines")
        if not isinstance(lines, list) or len(lines) < 2:
            errors.append("A manual journal must have at least two journal lines")
            lines = lines if isinstance(lines, list) else []
        built_lines: list[dict[str, Any]] = []
        total_debit = total_credit = Decimal("0")
        for line in lines:
            line = line if isinstance(line, dict) else {}
            amount = line.get("LineAmount")
            if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
                errors.append("LineAmount must be a number")
                amount = Decimal("0")
            try:
                amount = Decimal(amount).quantize(Decimal("0.01"))
            except InvalidOperation:
                errors.append("LineAmount is not a valid amount")
                amount = Decimal("0")
            if amount > 0:
                total_debit += amount
            else:
                total_credit += amount
            code = str(line.get("AccountCode") or "")
            account = org.account_by_code(code)
            if account is None or account.get("Status") != "ACTIVE":
                errors.append(f"Account code '{code}' is not a valid code for this document.")
            tax_type = line.get("TaxType")
            if tax_type is not None:
                rate = org.tax_rates.get(str(tax_type))
                if rate is None or rate["Status"] != "ACTIVE":
                    errors.append(
                        f"The TaxType code '{tax_type}' does not exist or cannot be used for "
                        "this type of transaction."
                    )
            built_lines.append(
                {
                    "LineAmount": amount,
                    "AccountCode": code,
                    "AccountID": account["AccountID"] if account else None,
                    "Description": str(line.get("Description") or ""),
                    "TaxType": str(tax_type or "NONE"),
                    "TaxAmount": Decimal("0.00"),
                    "Tracking": [],
                    "IsBlank": amount == 0,
                }
            )
        if total_debit + total_credit != 0:
            errors.append(
                f"The total debits ({total_debit:.2f}) must equal total credits "
                f"({total_credit:.2f})"
            )
        locked = org.lock_date()
        if when is not None and locked is not None and when <= locked:
            which = (
                "end of year lock date"
                if org.end_of_year_lock_date and when <= org.end_of_year_lock_date
                else "period lock date"
            )
            errors.append(
                f"The document date cannot be before the {which}, currently set at "
                f"{locked.strftime('%d-%b-%Y')}"
            )
        journal = {
            "ManualJournalID": str(uuid.uuid4()),
            "Narration": str(narration or ""),
            "Date": when,
            "Status": status,
            "LineAmountTypes": amount_types,
            "ShowOnCashBasisReports": bool(item.get("ShowOnCashBasisReports", True)),
            "HasAttachments": False,
            "UpdatedDateUTC": datetime.fromtimestamp(state.clock(), UTC),
            "JournalLines": built_lines,
        }
        if item.get("Url"):
            journal["Url"] = str(item["Url"])
        return journal, errors

    def flat(journal: dict[str, Any]) -> dict[str, Any]:
        """The journal's fields as ``where`` and ``order`` compare them."""
        return {
            **journal,
            "Date": journal["Date"].isoformat() if journal.get("Date") else "",
        }

    def render_journal(journal: dict[str, Any]) -> dict[str, Any]:
        out = dict(journal)
        out["Date"] = ms_date(journal["Date"])
        out["UpdatedDateUTC"] = ms_date(journal["UpdatedDateUTC"])
        out["JournalLines"] = [
            {k: v for k, v in line.items() if v is not None} for line in journal["JournalLines"]
        ]
        return out

    middleware = [Middleware(FaultMiddleware, plan=faults)] if faults is not None else []
    app = Starlette(
        routes=[
            Route("/Connections", connections, methods=["GET"]),
            Route("/connections", connections, methods=["GET"]),
            Route(API_PREFIX + "/{resource:path}", api, methods=["GET", "PUT", "POST"]),
            Mount(OAUTH_PREFIX, oauth_app),
        ],
        middleware=middleware,
    )
    app.state.xero = state
    return app


def _limited(problem: str, wait: float) -> Response:
    return _problem(
        429,
        "Too Many Requests",
        f"Rate limit exceeded ({problem})",
        {"Retry-After": str(max(math.ceil(wait), 1)), "X-Rate-Limit-Problem": problem},
    )


def _query_error(detail: str) -> Response:
    return decimal_json(
        {
            "ErrorNumber": 16,
            "Type": "QueryParseException",
            "Message": f"The where clause could not be understood: {detail}",
        },
        400,
    )


def settings_for(base_url: str, client_id: str, secret_file: str | None = None) -> dict[str, Any]:
    """The ``[providers.xero]`` table that points bexsync at a running simulator."""
    table: dict[str, Any] = {
        "client_id": client_id,
        "api_url": base_url + API_PREFIX,
        "identity_url": base_url,
        "authorize_url": base_url + OAUTH_PREFIX + "/authorize",
        "token_url": base_url + OAUTH_PREFIX + "/token",
    }
    if secret_file is not None:
        table["client_secret_file"] = secret_file
    return table


browser_login = consent_player("Xero")


async def demo_setup(workdir: Path) -> DemoProvider:
    """Start the simulator with one seeded organisation and a registered (secret) app."""
    secret = plant("xero-demo-")
    secret_file = write_secret_file(workdir / "xero-client-secret", secret)
    state = XeroSimState(client_id="bexsync-demo", client_secret=secret)
    state.add_org("Demo Holiday Parks (Xero)")
    server = SimulatorServer(create_xero_app(state), name="xero-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="xero",
        settings=settings_for(url, "bexsync-demo", secret_file),
        complete=None,
        browser_login=browser_login,
        stop=[server.stop],
    )
