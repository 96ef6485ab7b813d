"""A simulator of Business Central online (API v2.0) and its Entra ID login, from Microsoft's docs.

One Starlette app serves what production spreads over two hosts:

- ``/oauth/authorize``, ``/oauth/token``, ``/oauth/devicecode``, ``/oauth/device/approve``: the
  shared authlib OAuth2 server (code + PKCE, device code, client credentials, refresh);
- ``GET /environments/v1.2``: the environments the login reaches (``aadTenantId``, ``name``);
- ``/v2.0/[{aad tenant}/]{environment}/api/v2.0/``: ``companies``, and per company
  ``accounts``, ``taxGroups``, ``generalLedgerSetup``, ``generalLedgerEntries`` (``$filter``
  ``documentNumber eq '...'``, ``$top``), ``journals`` (GET/POST, DELETE with ``If-Match``),
  ``journals({id})/journalLines`` (GET/POST, DELETE with ``If-Match``) and the bound action
  ``journals({id})/Microsoft.NAV.post`` (204; posts every line of the batch).

Behaviour from the docs: bearer tokens checked on every call (401
``Authentication_InvalidCredentials``), OData errors ``{"error": {"code", "message"}}`` with a
CorrelationId, server-driven paging (``Prefer: odata.maxpagesize`` -> ``@odata.nextLink``),
Code[10]/Code[20]/Code[35]/Text[100] length checks, table relations (unknown G/L account or VAT
group), "Allow Posting From/To" of the General Ledger Setup (plus a per-user range the API does
not show, like BC's User Setup), out-of-balance documents refused at posting, and 6,000 requests
per 5-minute window per token (429; the simulator adds ``Retry-After``, which BC's docs only
promise on 502/503). State lives in ``BCSimState`` for tests to inspect and change.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
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

OAUTH_PREFIX = "/oauth"
WINDOW = 300.0
NO_DATE = "0001-01-01"
_FILTER = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")
_PATH = re.compile(
    r"^companies\((?P<cid>[^)/]+)\)(?:/(?P<res>\w+)(?:\((?P<rid>[^)/]+)\))?"
    r"(?:/(?P<sub>[\w.]+)(?:\((?P<sid>[^)/]+)\))?)?)?$"
)
TAX_GROUPS = tuple((code, name) for code, name, _rate in VAT_CODES)


class BCError(Exception):
    """An OData error answer: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(status: int, detail: str, code: str | None = None) -> dict[str, Any]:
    """BC's error shape (also for injected faults); every message ends with a CorrelationId."""
    default = {
        401: "Authentication_InvalidCredentials",
        429: "Application_TooManyRequests",
        500: "Internal_ServerError",
        502: "Internal_BadGateway",
        503: "Internal_ServiceUnavailable",
        504: "Internal_GatewayTimeout",
    }
    return {
        "error": {
            "code": code or default.get(status, "BadRequest"),
            "message": f"{detail}  CorrelationId:  {uuid.uuid4()}.",
        }
    }


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return decimal_json(doc, status, headers, media_type="application/json; odata.metadata=minimal")


def _fail(err: BCError) -> Response:
    return _json(error_body(err.status, err.message, err.code), err.status)


def _etag() -> str:
    return f'W/"JzQ0O{uuid.uuid4().hex[:16]}Jzs="'


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class BCCompany:
    """One company: chart, VAT groups, journal batches, posted G/L entries, posting window."""

    id: str
    name: str
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by number
    tax_groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # by code
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by journal id
    gl_entries: list[dict[str, Any]] = field(default_factory=list)
    allow_posting_from: date | None = None
    allow_posting_to: date | None = None
    # BC's per-user "Allow Posting From" (User Setup): enforced, but not in generalLedgerSetup.
    user_allow_posting_from: date | None = None
    post_calls: int = 0

    def add_account(
        self, number: str, name: str, account_type: str = "Posting", blocked: bool = False
    ) -> dict[str, Any]:
        record = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.id}/account/{number}")),
            "number": number,
            "displayName": name,
            "category": "Assets" if number < "4000" else "Income",
            "subCategory": "",
            "blocked": blocked,
            "accountType": account_type,
            "directPosting": account_type == "Posting",
            "netChange": Decimal("0.00"),
            "lastModifiedDateTime": _stamp(),
        }
        self.accounts[number] = record
        return record

    def add_journal(self, code: str, name: str) -> dict[str, Any]:
        record = {
            "@odata.etag": _etag(),
            "id": str(uuid.uuid4()),
            "code": code.upper(),
            "displayName": name,
            "templateDisplayName": "GENERAL",
            "lastModifiedDateTime": _stamp(),
            "balancingAccountId": "00000000-0000-0000-0000-000000000000",
            "balancingAccountNumber": "",
        }
        self.journals[record["id"]] = record
        self.lines[record["id"]] = []
        return record

    def journal_by_code(self, code: str) -> dict[str, Any] | None:
        return next((j for j in self.journals.values() if j["code"] == code.upper()), None)

    def entries_for(self, document_number: str) -> list[dict[str, Any]]:
        return [e for e in self.gl_entries if e["documentNumber"] == document_number]

    @classmethod
    def seeded(cls, name: str, company_id: str | None = None) -> BCCompany:
        company = cls(company_id or str(uuid.uuid4()), name)
        for number, account_name in CHART:
            company.add_account(number, account_name)
        company.add_account("1999", "Total current assets", account_type="End-Total")
        company.add_account("9999", "Old suspense (blocked)", blocked=True)
        for code, title in TAX_GROUPS:
            company.tax_groups[code] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{company.id}/tax/{code}")),
                "code": code,
                "displayName": title,
                "taxType": "VAT",
                "lastModifiedDateTime": _stamp(),
            }
        company.add_journal("GENERAL", "General journal")
        company.add_journal("BEX", "Booking Experts postings")
        return company


@dataclass
class BCEnvironment:
    name: str
    aad_tenant_id: str
    type: str = "Production"
    companies: dict[str, BCCompany] = field(default_factory=dict)
    denied: bool = False  # the login's user has no access here (403 on every call)

    def add_company(self, name: str, company_id: str | None = None) -> BCCompany:
        company = BCCompany.seeded(name, company_id)
        self.companies[company.id] = company
        return company


class BCSimState:
    """Everything the simulated tenant holds, plus counters for assertions."""

    def __init__(
        self,
        oauth: OAuthServerState,
        *,
        aad_tenant_id: str | None = None,
        max_page_size: int = 20_000,
        calls_per_window: int = 6000,
    ) -> None:
        self.oauth = oauth
        self.clock = oauth.clock
        self.aad_tenant_id = aad_tenant_id or str(uuid.uuid4())
        self.environments: dict[str, BCEnvironment] = {}
        self.max_page_size = max_page_size
        self.calls_per_window = calls_per_window
        self.auto_approve_devices = False
        self.calls: dict[str, deque[float]] = {}
        self.requests: list[tuple[str, str]] = []

    def add_environment(self, name: str, type_: str = "Production") -> BCEnvironment:
        env = BCEnvironment(name, self.aad_tenant_id, type_)
        self.environments[name] = env
        return env

    def company(self, company_id: str) -> BCCompany:
        for env in self.environments.values():
            if company_id in env.companies:
                return env.companies[company_id]
        raise KeyError(company_id)

    @classmethod
    def seeded(cls, oauth: OAuthServerState, *, single: bool = False, **kw: Any) -> BCSimState:
        """A production environment with two companies and a sandbox with one (``single``:
        one environment with one company, so activation needs no choice)."""
        state = cls(oauth, **kw)
        production = state.add_environment("production")
        production.add_company("Demo Holiday Parks BV")
        if not single:
            production.add_company("Demo Camping BV")
            state.add_environment("sandbox", "Sandbox").add_company("CRONUS NL")
        return state

    def _admit(self, token: str) -> float | None:
        """None when the call may go ahead, else the seconds until the window has room."""
        now = self.clock()
        window = self.calls.setdefault(token, deque())
        while window and window[0] <= now - WINDOW:
            window.popleft()
        if len(window) >= self.calls_per_window:
            return window[0] + WINDOW - now
        window.append(now)
        return None


def oauth_config(
    clients: tuple[SimClient, ...], clock: Callable[[], float], **kw: Any
) -> OAuthServerConfig:
    """Entra-like: 1-hour access tokens, refresh tokens that rotate (the old one keeps working)."""
    return OAuthServerConfig(
        clients=clients,
        access_token_ttl=kw.pop("access_token_ttl", 3600),
        rotate_refresh_tokens=True,
        refresh_grace=kw.pop("refresh_grace", 90 * 86_400.0),
        device_interval=kw.pop("device_interval", 5),
        clock=clock,
        **kw,
    )


# --- request helpers --------------------------------------------------------------------------


def _filter(request: Request) -> tuple[str, str] | None:
    raw = request.query_params.get("$filter")
    if raw is None:
        return None
    match = _FILTER.match(raw)
    if not match:
        raise BCError(400, "BadRequest_InvalidFilter", f"The filter '{raw}' is not supported.")
    return match.group(1), match.group(2).replace("''", "'")


def _page(request: Request, state: BCSimState, items: list[dict[str, Any]]) -> Response:
    """Server-driven paging: ``Prefer: odata.maxpagesize`` and ``$top``/``$skiptoken``."""
    match = _filter(request)
    if match is not None:
        name, value = match
        items = [i for i in items if str(i.get(name, "")) == value]
    top = request.query_params.get("$top")
    if top is not None:
        items = items[: int(top)]
    prefer = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
    size = min(int(prefer.group(1)) if prefer else 20_000, state.max_page_size)
    offset = int(request.query_params.get("$skiptoken", "0"))
    body: dict[str, Any] = {"value": items[offset : offset + size]}
    if offset + size < len(items):
        body["@odata.nextLink"] = str(
            request.url.include_query_params(**{"$skiptoken": str(offset + size)})
        )
    return _json(body)


async def _body(request: Request) -> dict[str, Any]:
    try:
        doc = json.loads(await request.body(), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise BCError(
            400, "BadRequest_InvalidRequestBody", "The request body is not JSON."
        ) from None
    if not isinstance(doc, dict):
        raise BCError(400, "BadRequest_InvalidRequestBody", "The request body must be an object.")
    return doc


def _length(value: Any, limit: int) -> str:
    text = "" if value is None else str(value)
    if len(text) > limit:
        raise BCError(
            400,
            "Application_StringExceededLength",
            f"The length of the string is {len(text)}, but it must be less than or equal to "
            f"{limit} characters. Value: {text}",
        )
    return text


def _require_etag(request: Request) -> None:
    if not request.headers.get("if-match"):
        raise BCError(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please "
            "provide a valid token in the client request.",
        )


# --- the app ----------------------------------------------------------------------------------


def create_bc_app(
    state: BCSimState, oauth_app: Starlette, *, faults: FaultPlan | None = None
) -> Starlette:
    """The simulator; ``app.state.bc`` is ``state``."""

    def authorised(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or state.oauth.check_bearer(token.strip()) is None:
            raise BCError(
                401,
                "Authentication_InvalidCredentials",
                "The server has rejected the client credentials.",
            )
        wait = state._admit(token.strip())
        if wait is not None:
            raise _TooMany(wait)
        return token.strip()

    async def guarded(
        request: Request, handler: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        state.requests.append((request.method, request.url.path))
        try:
            authorised(request)
            return await handler(request)
        except _TooMany as limit:
            return _json(
                error_body(429, "Too many requests reached. Retry the request later."),
                429,
                {"Retry-After": str(max(int(limit.wait) + 1, 1))},
            )
        except BCError as err:
            headers = None
            if err.status == 401:
                headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            response = _fail(err)
            if headers:
                response.headers.update(headers)
            return response

    async def environments(request: Request) -> Response:
        async def handle(request: Request) -> Response:
            return _json(
                {
                    "value": [
                        {
                            "aadTenantId": env.aad_tenant_id,
                            "applicationFamily": "BusinessCentral",
                            "type": env.type,
                            "name": env.name,
                            "countryCode": "NL",
                            "webServiceUrl": f"{request.base_url}v2.0/{env.name}/api",
                        }
                        for env in state.environments.values()
                    ]
                }
            )

        return await guarded(request, handle)

    async def api(request: Request) -> Response:
        return await guarded(request, route_api)

    async def route_api(request: Request) -> Response:
        rest = request.path_params["rest"]
        prefix, sep, tail = rest.partition("/api/v2.0")
        if not sep:
            raise BCError(404, "BadRequest_NotFound", "No HTTP resource was found.")
        parts = [p for p in prefix.split("/") if p]
        if len(parts) == 2:
            aad, env_name = parts
        elif len(parts) == 1:
            aad, env_name = None, parts[0]
        else:
            raise BCError(404, "BadRequest_NotFound", "No HTTP resource was found.")
        env = state.environments.get(env_name)
        if env is None or (aad is not None and aad != env.aad_tenant_id):
            raise BCError(
                404, "BadRequest_EnvironmentNotFound", f"Environment '{env_name}' not found."
            )
        if env.denied:
            raise BCError(
                403,
                "Authorization_InsufficientPermissions",
                f"You do not have access to environment '{env_name}'.",
            )
        tail = tail.strip("/")
        if tail == "companies":
            if request.method != "GET":
                raise BCError(405, "BadRequest_MethodNotAllowed", "Method not allowed.")
            return _page(
                request,
                state,
                [
                    {"id": c.id, "name": c.name, "displayName": c.name}
                    for c in env.companies.values()
                ],
            )
        match = _PATH.match(tail)
        if match is None:
            raise BCError(404, "BadRequest_NotFound", "No HTTP resource was found.")
        company = env.companies.get(match["cid"])
        if company is None:
            raise BCError(
                404,
                "Internal_CompanyNotFound",
                f"Cannot open the company with the ID '{match['cid']}'.",
            )
        return await company_resource(request, company, match)

    async def company_resource(
        request: Request, company: BCCompany, match: re.Match[str]
    ) -> Response:
        res, rid, sub, sid = match["res"], match["rid"], match["sub"], match["sid"]
        method = request.method
        if res == "accounts" and method == "GET" and rid is None:
            return _page(request, state, list(company.accounts.values()))
        if res == "taxGroups" and method == "GET" and rid is None:
            return _page(request, state, list(company.tax_groups.values()))
        if res == "generalLedgerSetup" and method == "GET":
            return _json(
                {
                    "value": [
                        {
                            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, company.id + "/glsetup")),
                            "allowPostingFrom": (
                                company.allow_posting_from.isoformat()
                                if company.allow_posting_from
                                else NO_DATE
                            ),
                            "allowPostingTo": (
                                company.allow_posting_to.isoformat()
                                if company.allow_posting_to
                                else NO_DATE
                            ),
                            "localCurrencyCode": "EUR",
                        }
                    ]
                }
            )
        if res == "generalLedgerEntries" and method == "GET" and rid is None:
            return _page(request, state, company.gl_entries)
        if res == "journals":
            return await journals(request, company, rid, sub, sid)
        raise BCError(404, "BadRequest_NotFound", "No HTTP resource was found.")

    async def journals(
        request: Request, company: BCCompany, rid: str | None, sub: str | None, sid: str | None
    ) -> Response:
        method = request.method
        if rid is None:
            if method == "GET":
                return _page(request, state, list(company.journals.values()))
            if method == "POST":
                doc = await _body(request)
                code = _length(doc.get("code"), 10).upper()
                if not code:
                    raise BCError(400, "BadRequest_InvalidRequestBody", "Code must have a value.")
                if company.journal_by_code(code) is not None:
                    raise BCError(
                        400,
                        "Internal_EntityWithSameKeyExists",
                        "The record already exists. Identification fields and values: "
                        f"Journal Template Name='GENERAL',Name='{code}'",
                    )
                record = company.add_journal(code, _length(doc.get("displayName"), 100))
                return _json(record, 201)
            raise BCError(405, "BadRequest_MethodNotAllowed", "Method not allowed.")
        journal = company.journals.get(rid)
        if journal is None:
            raise BCError(
                404,
                "Internal_RecordNotFound",
                f"The Gen. Journal Batch does not exist. Identification fields and values: "
                f"SystemId='{rid}'",
            )
        if sub is None:
            if method == "GET":
                return _json(journal)
            if method == "DELETE":
                _require_etag(request)
                del company.journals[rid]
                company.lines.pop(rid, None)
                return Response(status_code=204)
            raise BCError(405, "BadRequest_MethodNotAllowed", "Method not allowed.")
        if sub == "Microsoft.NAV.post" and method == "POST":
            return post_batch(company, journal)
        if sub == "journalLines":
            return await journal_lines(request, company, journal, sid)
        raise BCError(404, "BadRequest_NotFound", "No HTTP resource was found.")

    async def journal_lines(
        request: Request, company: BCCompany, journal: dict[str, Any], sid: str | None
    ) -> Response:
        lines = company.lines[journal["id"]]
        if sid is None and request.method == "GET":
            return _page(request, state, lines)
        if sid is None and request.method == "POST":
            line = build_line(company, journal, lines, await _body(request))
            lines.append(line)
            return _json(line, 201)
        if sid is not None and request.method == "DELETE":
            _require_etag(request)
            kept = [line for line in lines if line["id"] != sid]
            if len(kept) == len(lines):
                raise BCError(
                    404, "Internal_RecordNotFound", "The Gen. Journal Line does not exist."
                )
            company.lines[journal["id"]] = kept
            return Response(status_code=204)
        raise BCError(405, "BadRequest_MethodNotAllowed", "Method not allowed.")

    def build_line(
        company: BCCompany,
        journal: dict[str, Any],
        lines: list[dict[str, Any]],
        doc: dict[str, Any],
    ) -> dict[str, Any]:
        account_type = doc.get("accountType", "G/L Account")
        if account_type != "G/L Account":
            raise BCError(
                400,
                "BadRequest_InvalidRequestBody",
                f"Account Type '{account_type}' is not supported by this simulator.",
            )
        number = _length(doc.get("accountNumber"), 20)
        account = company.accounts.get(number)
        if account is None:
            raise BCError(
                400,
                "Internal_InvalidTableRelation",
                f"The field Account No. of table Gen. Journal Line contains a value ({number}) "
                "that cannot be found in the related table (G/L Account).",
            )
        if account["accountType"] != "Posting":
            raise BCError(
                400,
                "Application_TestFieldError",
                f"Account Type must be equal to 'Posting'  in G/L Account: No.={number}. "
                f"Current value is '{account['accountType']}'.",
            )
        if account["blocked"]:
            raise BCError(
                400,
                "Application_TestFieldError",
                f"Blocked must be equal to 'No'  in G/L Account: No.={number}. Current value "
                "is 'Yes'.",
            )
        tax = doc.get("taxCode")
        if tax and tax not in company.tax_groups:
            raise BCError(
                400,
                "Internal_InvalidTableRelation",
                f"The field VAT Prod. Posting Group of table Gen. Journal Line contains a value "
                f"({tax}) that cannot be found in the related table (VAT Product Posting Group).",
            )
        try:
            amount = Decimal(str(doc.get("amount", "0")))
            posting = date.fromisoformat(str(doc.get("postingDate")))
        except (InvalidOperation, ValueError):
            raise BCError(
                400, "BadRequest_InvalidRequestBody", "Invalid amount or posting date."
            ) from None
        number_no = len(lines) + 1
        return {
            "@odata.etag": _etag(),
            "id": str(uuid.uuid4()),
            "journalId": journal["id"],
            "journalDisplayName": journal["code"],
            "lineNumber": int(doc.get("lineNumber") or 10000 * number_no),
            "accountType": "G/L Account",
            "accountId": account["id"],
            "accountNumber": number,
            "postingDate": posting.isoformat(),
            "documentNumber": _length(doc.get("documentNumber"), 20),
            "externalDocumentNumber": _length(doc.get("externalDocumentNumber"), 35),
            "amount": amount,
            "description": _length(doc.get("description"), 100),
            "comment": _length(doc.get("comment"), 250),
            "taxCode": tax or "",
            "lastModifiedDateTime": _stamp(),
        }

    def post_batch(company: BCCompany, journal: dict[str, Any]) -> Response:
        company.post_calls += 1
        lines = company.lines[journal["id"]]
        if not lines:
            raise BCError(400, "Application_DialogException", "There is nothing to post.")
        start = company.allow_posting_from
        end = company.allow_posting_to
        user_start = company.user_allow_posting_from
        for line in lines:
            day = date.fromisoformat(line["postingDate"])
            if (start and day < start) or (end and day > end) or (user_start and day < user_start):
                raise BCError(
                    400,
                    "Application_DialogException",
                    "Posting Date is not within your range of allowed posting dates in Gen. "
                    f"Journal Line Journal Template Name='GENERAL',Journal Batch Name="
                    f"'{journal['code']}',Line No.='{line['lineNumber']}'.",
                )
        totals: dict[str, Decimal] = {}
        for line in lines:
            totals[line["documentNumber"]] = (
                totals.get(line["documentNumber"], Decimal("0")) + line["amount"]
            )
        for number, total in totals.items():
            if total != 0:
                raise BCError(
                    400,
                    "Application_DialogException",
                    f"Document No. {number} is out of balance by {total:.2f}. Please check that "
                    "Posting Date, Document Type, Document No. and Amount are correct for each "
                    "line.",
                )
        for line in sorted(lines, key=lambda item: item["lineNumber"]):
            amount: Decimal = line["amount"]
            company.gl_entries.append(
                {
                    "id": str(uuid.uuid4()),
                    "entryNumber": len(company.gl_entries) + 1,
                    "postingDate": line["postingDate"],
                    "documentNumber": line["documentNumber"],
                    "documentType": "",
                    "accountId": line["accountId"],
                    "accountNumber": line["accountNumber"],
                    "description": line["description"],
                    "debitAmount": amount if amount > 0 else Decimal("0.00"),
                    "creditAmount": -amount if amount < 0 else Decimal("0.00"),
                    "journalBatchName": journal["code"],
                    "externalDocumentNumber": line["externalDocumentNumber"],
                    "taxCode": line["taxCode"],
                    "lastModifiedDateTime": _stamp(),
                }
            )
        company.lines[journal["id"]] = []
        return Response(status_code=204)

    middleware = [Middleware(FaultMiddleware, plan=faults)] if faults is not None else []
    app = Starlette(
        routes=[
            Route("/environments/v1.2", environments, methods=["GET"]),
            Route("/v2.0/{rest:path}", api, methods=["GET", "POST", "DELETE", "PATCH"]),
            Mount(OAUTH_PREFIX, _AutoApprove(oauth_app, state)),
        ],
        middleware=middleware,
    )
    app.state.bc = state
    return app


class _TooMany(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__("rate limited")
        self.wait = wait


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class _AutoApprove:
    """For the demo: approve every device code as soon as it is issued (``auto_approve_devices``),
    so that completing the login needs no browser."""

    def __init__(self, app: Any, state: BCSimState) -> None:
        self.app = app
        self.state = state

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if not (
            self.state.auto_approve_devices
            and scope.get("type") == "http"
            and str(scope.get("path", "")).endswith("/devicecode")
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        try:
            user_code = json.loads(b"".join(chunks)).get("user_code")
        except ValueError:
            return
        if user_code:
            self.state.oauth.approve_device(str(user_code), "demo", True)


def create_app(
    state: BCSimState | None = None,
    *,
    clients: tuple[SimClient, ...] = (),
    clock: Callable[[], float] | None = None,
    faults: FaultPlan | None = None,
    single: bool = False,
    **oauth_kw: Any,
) -> Starlette:
    """The simulator with its own OAuth server (``app.state.bc.oauth``)."""
    if state is None:
        oauth_app = create_oauth_app(oauth_config(clients, clock or SimClock(), **oauth_kw))
        state = BCSimState.seeded(oauth_app.state.oauth, single=single)
    else:
        oauth_app = create_oauth_app(state.oauth.config, state.oauth)
    return create_bc_app(state, oauth_app, faults=faults)


def settings_for(base_url: str, client_id: str, secret_file: str | None = None) -> dict[str, Any]:
    """The ``[providers.business_central]`` table that points bexsync at a running simulator."""
    table: dict[str, Any] = {
        "client_id": client_id,
        "api_url": base_url,
        "authorize_url": base_url + OAUTH_PREFIX + "/authorize",
        "token_url": base_url + OAUTH_PREFIX + "/token",
        "device_url": base_url + OAUTH_PREFIX + "/devicecode",
    }
    if secret_file is not None:
        table["client_secret_file"] = secret_file
    return table


browser_login = consent_player("Entra")


async def demo_setup(workdir: Path) -> DemoProvider:
    """Start the simulator (one environment, one company: activation needs no choice) with a
    registered app whose device codes are approved at once: ``authorisations.complete`` with no
    params logs in."""
    secret = plant("bc-demo-")
    secret_file = write_secret_file(workdir / "business_central-client-secret", secret)
    app = create_app(clients=(SimClient("bexsync-demo", secret),), single=True)
    state: BCSimState = app.state.bc
    state.auto_approve_devices = True
    server = SimulatorServer(app, name="business-central-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="business_central",
        settings=settings_for(url, "bexsync-demo", secret_file),
        complete={},
        browser_login=None,
        stop=[server.stop],
    )
