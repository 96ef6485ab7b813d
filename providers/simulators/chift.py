"""A simulator of Chift's unified API, built from its OpenAPI file and error/idempotency docs.

What it reproduces: ``POST /token`` (clientId, clientSecret, accountId -> a bearer token with
``expires_in``), bearer checks (``ERROR_CHIFT_AUTHENTICATION_ERROR``), consumers and their
connections, paged ``{items, total, page, size}`` lists (size at most 100, FastAPI-style 422
otherwise), journals, chart of accounts, VAT codes, folders, journal entries (create with
Chift's documented 4xx codes, list by date range, read one), ``X-Chift-Client-RequestId``
replays (409 ``REQUEST_ALREADY_PROCESSED``) and the transaction lookup by request id, closed
periods (``ERROR_BOOKYEAR_CLOSED``), 429/5xx through ``providers.simulators.faults``.

One simulator serves one connector flavour (``connector``): ``chift`` (generic), ``tiime``
(accounts created from ``account_info``), ``sage100fr`` (local agent that can be down, 35
character labels, references kept to 17 characters). State is public for test assertions.
"""

from __future__ import annotations

import json
import pathlib
import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
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

INTEGRATIONS: dict[str, tuple[str, int]] = {
    "chift": ("Pennylane", 37),
    "tiime": ("Tiime", 61),
    "sage100fr": ("Sage 100", 44),
}
SAGE_LABEL = 35  # EC_Intitule
SAGE_REFERENCE = 17  # EC_RefPiece
MAX_PAGE = 100


class ChiftApiError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, detail: Any = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.detail = status, message, code, detail

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"message": self.message, "status": "error"}
        if self.code is not None:
            body["error_code"] = self.code
        if self.detail is not None:
            body["detail"] = self.detail
        return JSONResponse(body, status_code=self.status)


def chift_error_body(status: int, detail: str) -> dict[str, Any]:
    """Fault-injected errors in Chift's shape."""
    codes = {429: "ERROR_RATE_LIMIT", 500: "ERROR_UNKNOWN", 503: "ERROR_UNKNOWN"}
    return {
        "message": f"simulated fault: {detail}",
        "status": "error",
        "error_code": codes.get(status),
    }


def _validation(loc: list[Any], msg: str) -> ChiftApiError:
    return ChiftApiError(
        422, "Validation error", None, [{"loc": loc, "msg": msg, "type": "value_error"}]
    )


@dataclass
class Ledger:
    """One accounting folder's books."""

    currency: str = "EUR"
    journals: list[dict[str, Any]] = field(default_factory=list)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    vat_codes: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    lock_date: date | None = None

    @classmethod
    def seeded(cls) -> Ledger:
        ledger = cls()
        ledger.journals = [
            {"id": "BEX", "code": "BEX", "name": "Booking Experts",
             "journal_type": "miscellaneous_operation"},
            {"id": "jnl-od", "code": "OD", "name": "Opérations diverses",
             "journal_type": "miscellaneous_operation"},
            {"id": "jnl-vt", "code": "VT", "name": "Ventes", "journal_type": "customer_invoice"},
            {"id": "jnl-old", "code": "ANC", "name": "Ancien journal",
             "journal_type": "miscellaneous_operation", "blocked": True},
        ]  # fmt: skip
        ledger.accounts = {
            number: {"number": number, "name": name, "active": True} for number, name in CHART
        }
        ledger.accounts["9999"] = {"number": "9999", "name": "Closed account", "active": False}
        ledger.vat_codes = [
            {"id": "vat-0", "code": "0", "label": "TVA 0%", "rate": 0},
            {"id": "vat-l", "code": "L", "label": "TVA réduite 9%", "rate": 9},
            {"id": "vat-h", "code": "H", "label": "TVA normale 21%", "rate": 21},
            {"id": "vat-none", "code": "NONE", "label": "Sans TVA", "rate": 0},
        ]
        for vat in ledger.vat_codes:
            vat.update(type="sale", scope="nat", active=True)
        return ledger


@dataclass
class Consumer:
    consumerid: str
    name: str
    connections: list[dict[str, Any]]
    folders: list[dict[str, Any]] = field(default_factory=list)
    ledgers: dict[str, Ledger] = field(default_factory=dict)  # folder id ("" = default)

    def ledger(self, folder: str | None) -> Ledger:
        return self.ledgers.setdefault(folder or "", Ledger.seeded())


class ChiftSimulator:
    """In-memory Chift account with one connector flavour; ``app`` is its ASGI app."""

    def __init__(
        self,
        connector: str = "chift",
        *,
        token_ttl: int = 1800,
        clock: Callable[[], float] = time.time,
        faults: FaultPlan | None = None,
    ) -> None:
        if connector not in INTEGRATIONS:
            raise ValueError(f"unknown Chift connector flavour {connector!r}")
        self.connector = connector
        self.client_id = f"bexsync-{connector}"
        self.client_secret = plant("sim-", 18)
        self.account_id = str(uuid.uuid4())
        self.token_ttl = token_ttl
        self.clock = clock
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.consumers: dict[str, Consumer] = {}
        self.transactions: dict[tuple[str, str], dict[str, Any]] = {}
        self.in_process: set[str] = set()
        # The connector refuses Chift's stored login (expired Tiime consent, changed Sage password).
        self.connector_login_broken = False
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._ids = 0
        self.faults = faults or FaultPlan(error_body=chift_error_body)
        self._seed()
        self.app = self.faults.wrap(self._build())

    # -- seeding and test controls ----------------------------------------------------------
    def _seed(self) -> None:
        integration, integration_id = INTEGRATIONS[self.connector]
        main = self.add_consumer("Camping Les Pins", integration, integration_id)
        self.main_consumer = main.consumerid
        # A consumer this login must not offer: another connector, or an inactive connection.
        if self.connector == "chift":
            self.add_consumer("Hôtel du Lac", "Pennylane", 37, status="inactive")
        else:
            self.add_consumer("Hôtel du Lac", "Pennylane", 37)
        self.add_consumer("Boutique", "Shopify", 12, api="eCommerce")

    def add_consumer(
        self,
        name: str,
        integration: str,
        integration_id: int,
        *,
        api: str = "Accounting",
        status: str = "active",
        folders: tuple[tuple[str, str], ...] = (),
    ) -> Consumer:
        connection: dict[str, Any] = {
            "connectionid": str(uuid.uuid4()),
            "name": f"{integration} connection",
            "integration": integration,
            "integrationid": integration_id,
            "api": api,
            "status": status,
            "data": {},
        }
        if integration.startswith("Sage 100"):
            connection["agent"] = {"status": "up"}
        consumer = Consumer(
            str(uuid.uuid4()),
            name,
            [connection],
            [{"id": fid, "name": fname, "selected": True} for fid, fname in folders],
        )
        self.consumers[consumer.consumerid] = consumer
        return consumer

    def ledger(self, consumer_id: str | None = None, folder: str | None = None) -> Ledger:
        return self.consumers[consumer_id or self.main_consumer].ledger(folder)

    def expire_tokens(self) -> None:
        """Every issued token stops working (Chift's tokens last 30 minutes)."""
        self.tokens.clear()

    def set_agent(self, status: str, consumer_id: str | None = None) -> None:
        for conn in self.consumers[consumer_id or self.main_consumer].connections:
            if "agent" in conn:
                conn["agent"] = {"status": status}

    def lock_until(self, day: date | None, consumer_id: str | None = None) -> None:
        self.ledger(consumer_id).lock_date = day

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    # -- HTTP -------------------------------------------------------------------------------
    def _build(self) -> Starlette:
        routes = [
            Route("/token", self._wrap(self.token, public=True), methods=["POST"]),
            Route("/consumers", self._wrap(self.list_consumers), methods=["GET"]),
            Route("/consumers/{cid}", self._wrap(self.get_consumer), methods=["GET"]),
            Route("/consumers/{cid}/connections", self._wrap(self.connections), methods=["GET"]),
            Route(
                "/consumers/{cid}/connections/{conn}/transactions",
                self._wrap(self.transaction),
                methods=["GET"],
            ),
            Route(
                "/consumers/{cid}/accounting/{rest:path}",
                self._wrap(self.accounting),
                methods=["GET", "POST"],
            ),
        ]
        return Starlette(routes=routes)

    def _wrap(
        self, handler: Callable[..., Any], *, public: bool = False
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            self.requests.append(
                (
                    request.method,
                    request.url.path,
                    {k.lower(): v for k, v in request.headers.items()},
                )
            )
            try:
                if not public:
                    self._authorise(request)
                return await handler(request)
            except ChiftApiError as exc:
                return exc.response()

        return endpoint

    def _authorise(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        expires = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or self.clock() >= expires:
            raise ChiftApiError(
                401,
                "Error with the provided Chift token",
                "ERROR_CHIFT_AUTHENTICATION_ERROR",
            )

    async def _json(self, request: Request) -> Any:
        try:
            return json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            raise _validation(["body"], "JSON decode error") from None

    async def token(self, request: Request) -> Response:
        body = await self._json(request)
        if not isinstance(body, dict):
            raise _validation(["body"], "Input should be a valid dictionary")
        for key in ("clientId", "clientSecret", "accountId"):
            if not isinstance(body.get(key), str):
                raise _validation(["body", key], "Field required")
        if (body["clientId"], body["clientSecret"], body["accountId"]) != (
            self.client_id,
            self.client_secret,
            self.account_id,
        ):
            raise ChiftApiError(
                401,
                "The combination of clientId, clientSecret and accountId is not valid",
                "ERROR_CHIFT_AUTHENTICATION_ERROR",
            )
        self.token_requests += 1
        token = "chift-sim-" + secrets.token_urlsafe(32)
        now = self.clock()
        self.tokens[token] = now + self.token_ttl
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl,
                "expires_on": int(now + self.token_ttl),
            }
        )

    def _consumer(self, cid: str) -> Consumer:
        consumer = self.consumers.get(cid)
        if consumer is None:
            raise ChiftApiError(404, "The consumer does not exist")
        return consumer

    @staticmethod
    def _consumer_json(c: Consumer) -> dict[str, Any]:
        return {
            "consumerid": c.consumerid,
            "name": c.name,
            "email": None,
            "internal_reference": None,
            "redirect_url": None,
        }

    async def list_consumers(self, request: Request) -> Response:
        return JSONResponse([self._consumer_json(c) for c in self.consumers.values()])

    async def get_consumer(self, request: Request) -> Response:
        return JSONResponse(self._consumer_json(self._consumer(request.path_params["cid"])))

    async def connections(self, request: Request) -> Response:
        return JSONResponse(self._consumer(request.path_params["cid"]).connections)

    async def transaction(self, request: Request) -> Response:
        self._consumer(request.path_params["cid"])
        request_id = request.query_params.get("client_request_id")
        if not request_id:
            raise _validation(["query", "client_request_id"], "Field required")
        found = self.transactions.get((request.path_params["conn"], request_id))
        if found is None:
            raise ChiftApiError(404, "The specified transaction could not be found")
        return JSONResponse(found)

    # -- the accounting API ------------------------------------------------------------------
    def _accounting_connection(self, consumer: Consumer) -> dict[str, Any]:
        active = [
            c for c in consumer.connections if c["api"] == "Accounting" and c["status"] == "active"
        ]
        if not active:
            raise ChiftApiError(
                400,
                "No active connection/integration for this API are configured",
                "ERROR_NO_ACTIVE_CONNECTION",
            )
        conn = active[0]
        if self.connector_login_broken:
            raise ChiftApiError(
                401,
                f"Authentication to {conn['integration']} failed: the credentials have expired",
                "ERROR_CONNECTOR_AUTHENTICATION",
            )
        if (conn.get("agent") or {}).get("status") == "down":
            raise ChiftApiError(
                400,
                "The local agent is not reachable; it needs to be restarted",
                "ERROR_CONNECTOR_CONFIGURATION",
            )
        return conn

    def _folder(self, consumer: Consumer, request: Request) -> str | None:
        folder = request.query_params.get("folder_id")
        selected = [f["id"] for f in consumer.folders if f.get("selected", True)]
        if folder is None and len(selected) > 1:
            raise ChiftApiError(
                400,
                "folder_id is required when the multiple folders feature is enabled",
                "ERROR_CONFIGURATION_CONNECTION",
            )
        if folder is not None and consumer.folders and folder not in selected:
            raise ChiftApiError(
                400, f"The folder {folder} was not selected", "ERROR_INVALID_FOLDER"
            )
        return folder

    @staticmethod
    def _page(request: Request, items: list[dict[str, Any]]) -> Response:
        try:
            page = int(request.query_params.get("page", "1"))
            size = int(request.query_params.get("size", "50"))
        except ValueError:
            raise _validation(["query", "page"], "Input should be a valid integer") from None
        if page < 1:
            raise _validation(["query", "page"], "Input should be greater than or equal to 1")
        if not 1 <= size <= MAX_PAGE:
            raise _validation(["query", "size"], "Input should be less than or equal to 100")
        chunk = items[(page - 1) * size : page * size]
        doc = {"items": chunk, "total": len(items), "page": page, "size": size}
        return Response(_dumps(doc), media_type="application/json")

    async def accounting(self, request: Request) -> Response:
        consumer = self._consumer(request.path_params["cid"])
        rest = request.path_params["rest"]
        conn = self._accounting_connection(consumer)
        if rest == "folders" and request.method == "GET":
            if self.connector != "chift":
                raise ChiftApiError(
                    405,
                    f"The resource GET - /folders is not supported by {conn['integration']}",
                    "ERROR_RESOURCE_NOT_SUPPORTED",
                )
            folders = consumer.folders or [{"id": "main", "name": consumer.name, "selected": True}]
            return JSONResponse(folders)
        ledger = consumer.ledger(self._folder(consumer, request))
        if rest == "journals" and request.method == "GET":
            return self._page(request, ledger.journals)
        if rest == "chart-of-accounts" and request.method == "GET":
            return self._page(request, list(ledger.accounts.values()))
        if rest == "vat-codes" and request.method == "GET":
            return self._page(request, ledger.vat_codes)
        if rest == "journal-entries" and request.method == "POST":
            return await self._create_entry(request, consumer, conn, ledger)
        if rest == "journal/entries" and request.method == "GET":
            return self._list_entries(request, ledger)
        match = re.fullmatch(r"journal/entries/([^/]+)", rest)
        if match and request.method == "GET":
            for entry in ledger.entries:
                if entry["id"] == match[1]:
                    return Response(_dumps(entry), media_type="application/json")
            raise ChiftApiError(404, "The journal entry doesn't exist", "ERROR_ENTRY_NOT_FOUND")
        raise ChiftApiError(
            400, "The route that was called does not exist", "ERROR_API_RESOURCE_NOT_FOUND"
        )

    def _list_entries(self, request: Request, ledger: Ledger) -> Response:
        query = request.query_params
        if query.get("unposted_allowed") not in ("true", "false"):
            raise _validation(["query", "unposted_allowed"], "Field required")
        try:
            start = date.fromisoformat(query["date_from"]) if "date_from" in query else None
            end = date.fromisoformat(query["date_to"]) if "date_to" in query else None
        except ValueError:
            raise _validation(["query", "date_from"], "Input should be a valid date") from None
        if start is None or end is None:
            raise ChiftApiError(
                400,
                "date_from and date_to are mandatory without updated_after",
                "ERROR_INVALID_QUERY",
            )
        journal = query.get("journal_id")
        chosen = [
            e
            for e in ledger.entries
            if start <= date.fromisoformat(e["date"]) <= end
            and (journal is None or e["journal_id"] == journal)
            and (query["unposted_allowed"] == "true" or e["posted"])
        ]
        return self._page(request, chosen)

    async def _create_entry(
        self, request: Request, consumer: Consumer, conn: dict[str, Any], ledger: Ledger
    ) -> Response:
        request_id = request.headers.get("x-chift-client-requestid")
        key = (conn["connectionid"], request_id or "")
        if request_id and request_id in self.in_process:
            raise ChiftApiError(409, "The request is being processed", "REQUEST_IN_PROCESS")
        if request_id and key in self.transactions:
            raise ChiftApiError(
                409, "The request has already been processed", "REQUEST_ALREADY_PROCESSED"
            )
        route = request.url.path
        try:
            body = await self._json(request)
            entry = self._validate_and_book(body, ledger, conn)
        except ChiftApiError as exc:
            if request_id and exc.status < 500:
                self._record(key, route, exc.status, None)
            raise
        if request_id:
            self._record(key, route, 200, entry["id"])
        return Response(_dumps(entry), media_type="application/json")

    def _record(self, key: tuple[str, str], route: str, status: int, created: str | None) -> None:
        self.transactions[key] = {
            "created_on": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": "POST",
            "route": route,
            "status_code": status,
            "created_entity_id": created,
        }

    def _validate_and_book(self, body: Any, ledger: Ledger, conn: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _validation(["body"], "Input should be a valid dictionary")
        for key in ("journal_id", "number", "currency", "date", "items"):
            if key not in body:
                raise _validation(["body", key], "Field required")
        items = body["items"]
        if not isinstance(items, list) or len(items) < 2:
            raise _validation(["body", "items"], "List should have at least 2 items")
        for i, item in enumerate(items):
            for key in ("account_type", "debit", "credit"):
                if key not in item:
                    raise _validation(["body", "items", i, key], "Field required")
            for key in ("debit", "credit"):
                if not isinstance(item[key], Decimal | int) or isinstance(item[key], bool):
                    raise _validation(["body", "items", i, key], "Input should be a valid number")
        try:
            day = date.fromisoformat(body["date"])
        except (TypeError, ValueError):
            raise _validation(["body", "date"], "Input should be a valid date") from None
        if not re.fullmatch(r"[A-Z]{3}", str(body["currency"])):
            raise ChiftApiError(
                422,
                "The currency format is not correct. Please use the ISO 4217 codes.",
                "ERROR_INVALID_CURRENCY_FORMAT",
            )
        journal = next((j for j in ledger.journals if j["id"] == body["journal_id"]), None)
        if journal is None or journal.get("blocked"):
            raise ChiftApiError(
                404,
                f"The journal '{body['journal_id']}' doesn't exist in the accounting system.",
                "ERROR_JOURNAL_NOT_FOUND",
            )
        debit = credit = Decimal(0)
        for item in items:
            d, c = Decimal(item["debit"]), Decimal(item["credit"])
            if d < 0 or c < 0:
                raise ChiftApiError(
                    422, "Debit and credit cannot be negative.", "ERROR_DEBIT_CREDIT_VALUE"
                )
            if d > 0 and c > 0:
                raise ChiftApiError(
                    422, "Debit and credit cannot be both positive.", "ERROR_DEBIT_CREDIT_VALUE"
                )
            debit, credit = debit + d, credit + c
        if debit != credit:
            raise ChiftApiError(422, "The entry is not balanced.", "ERROR_ENTRY_NOT_BALANCED")
        vat_ids = {v["id"] for v in ledger.vat_codes}
        for i, item in enumerate(items):
            if item.get("tax_code") is not None and item["tax_code"] not in vat_ids:
                raise _validation(["body", "items", i, "tax_code"], "Unknown VAT code id")
            label = item.get("description") or ""
            if self.connector == "sage100fr" and len(label) > SAGE_LABEL:
                raise _validation(
                    ["body", "items", i, "description"],
                    f"Sage 100 labels hold at most {SAGE_LABEL} characters",
                )
        created: list[dict[str, Any]] = []
        for item in items:
            number = str(item.get("account") or "")
            account = ledger.accounts.get(number)
            info = item.get("account_info")
            if account is None and self.connector == "tiime" and isinstance(info, dict):
                created.append(
                    {
                        "number": number,
                        "name": str(info.get("account_name") or number),
                        "active": True,
                    }
                )
                continue
            if account is None or not account.get("active", True):
                raise ChiftApiError(
                    404,
                    f"The account number '{number}' doesn't exist in the accounting system.",
                    "ERROR_ACCOUNT_NUMBER_NOT_FOUND",
                )
        if ledger.lock_date is not None and day <= ledger.lock_date:
            raise ChiftApiError(
                400,
                f"The book year is closed for entries up to {ledger.lock_date.isoformat()}",
                "ERROR_BOOKYEAR_CLOSED",
            )
        if any(e["name"] == body["number"] for e in ledger.entries):
            raise ChiftApiError(
                409,
                "The number is already used in the accounting system.",
                "ERROR_INVOICE_NUMBER_ALREADY_USED",
            )
        for account in created:
            ledger.accounts[account["number"]] = account
        reference = body.get("reference")
        if self.connector == "sage100fr" and reference:
            reference = reference[:SAGE_REFERENCE]
        entry_id = self._next_id("je_")
        entry = {
            "id": entry_id,
            "journal_id": journal["id"],
            "journal_name": journal["name"],
            "name": body["number"],
            "reference": reference,
            "date": day.isoformat(),
            "posted": body.get("posted", True) is not False,
            "due_dates": [],
            "attachments_info": {"status": "no"},
            "items": [
                {
                    "id": f"{entry_id}-{n}",
                    "account_number": str(item.get("account")),
                    "account_name": ledger.accounts[str(item.get("account"))]["name"],
                    "description": item.get("description"),
                    "debit": Decimal(item["debit"]),
                    "credit": Decimal(item["credit"]),
                    "currency": body["currency"],
                    "tax_code": item.get("tax_code"),
                }
                for n, item in enumerate(items, 1)
            ],
        }
        ledger.entries.append(entry)
        return entry


def _dumps(value: Any) -> str:
    """JSON with Decimal amounts as numbers (the spec's ``number``), written from their digits."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


async def start_server(app: Any, name: str) -> SimulatorServer:
    """Serve ``app`` on 127.0.0.1 with TCP_NODELAY on the listening socket.

    WORKAROUND: SimulatorServer's socket is created without ``IPPROTO_TCP``, so asyncio does not
    set TCP_NODELAY on accepted connections and uvicorn's two writes per response wait for a
    delayed ACK (about 45 ms a request). Linux copies the option from the listener.
    """
    server = SimulatorServer(app, name=name)
    await server.start()
    listener = getattr(server, "_sock", None)
    if isinstance(listener, socket.socket):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server


async def start_demo(workdir: pathlib.Path, connector: str) -> DemoProvider:
    """Start a seeded simulator of ``connector``; the demo logs in with its Chift API key."""
    sim = ChiftSimulator(connector)
    server = await start_server(sim.app, f"chift-{connector}-simulator")
    url = server.url
    return DemoProvider(
        provider_id=connector,
        settings={"api_url": url},
        complete={
            "credentials": {
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "account_id": sim.account_id,
            }
        },
        stop=[server.stop],
    )


async def demo_setup(workdir: pathlib.Path) -> DemoProvider:
    return await start_demo(workdir, "chift")
