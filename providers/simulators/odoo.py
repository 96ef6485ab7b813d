"""A simulator of Odoo's external APIs for accounting, built from Odoo's documentation.

It serves both wire APIs, switched by ``OdooState.version`` as a real server would:
- JSON-2 (``version >= 19``): ``POST /json/2/<model>/<method>`` with named arguments, ``ids`` and
  ``context``; ``Authorization: bearer <api key>``; ``X-Odoo-Database``; errors as HTTP 4xx/5xx
  with ``{name, message, arguments, context, debug}``. Before 19 the route does not exist (404
  HTML page), which is what the adapter's probe sees.
- JSON-RPC (``/jsonrpc``, served while ``jsonrpc`` is on): ``common.version``,
  ``common.authenticate`` and ``object.execute_kw``; errors with HTTP 200 and an ``error`` member.

Models: ``res.users`` (``context_get``), ``res.company`` (lock dates, currency),
``account.journal``, ``account.account``, ``account.tax`` and ``account.move`` (``search_read``,
``read``, ``create`` with ``line_ids`` commands, ``action_post``, ``unlink``), with Odoo's
balance check, lock dates (``fiscalyear_lock_date``, ``hard_lock_date``, and the pre-18
``period_lock_date``) and multi-company filtering through ``allowed_company_ids``. Money is
parsed as Decimal. State lives in ``OdooState`` for test assertions.
"""

from __future__ import annotations

import itertools
import json
import pathlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from providers.chart import CHART
from providers.simulators.base import SimulatorServer
from providers.simulators.demo import DemoProvider
from providers.simulators.faults import FaultPlan
from providers.simulators.planted import plant

CENT = Decimal("0.01")


class OdooError(Exception):
    """An Odoo exception: ``name`` is its dotted class name, as both APIs report it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def user_error(message: str) -> OdooError:
    return OdooError("odoo.exceptions.UserError", message)


def error_body(status: int, message: str) -> dict[str, Any]:
    """JSON-2's error shape (also used for injected faults)."""
    names = {429: "werkzeug.exceptions.TooManyRequests", 503: "ServiceUnavailable"}
    return {
        "name": names.get(status, "werkzeug.exceptions.InternalServerError"),
        "message": message,
        "arguments": [message],
        "context": {},
        "debug": "",
    }


JSON2_STATUS = {
    "odoo.exceptions.AccessDenied": 401,
    "odoo.exceptions.AccessError": 403,
    "odoo.exceptions.MissingError": 404,
    "odoo.exceptions.UserError": 422,
    "odoo.exceptions.ValidationError": 422,
}

# Fields each model answers, and which of them are many2one (read as [id, display name]).
FIELDS: dict[str, set[str]] = {
    "res.company": {
        "id",
        "name",
        "currency_id",
        "fiscalyear_lock_date",
        "hard_lock_date",
        "period_lock_date",
        "tax_lock_date",
        "sale_lock_date",
        "purchase_lock_date",
    },
    "account.journal": {"id", "code", "name", "type", "company_id"},
    "account.account": {"id", "code", "name", "account_type", "company_id"},
    "account.tax": {
        "id",
        "name",
        "description",
        "amount",
        "amount_type",
        "type_tax_use",
        "company_id",
    },
    "account.move": {
        "id",
        "name",
        "ref",
        "date",
        "state",
        "move_type",
        "journal_id",
        "company_id",
        "narration",
        "amount_total",
        "line_ids",
    },
}
MANY2ONE = {"journal_id", "company_id", "currency_id"}


@dataclass
class OdooState:
    """One simulated Odoo server with one database."""

    version: int = 19
    jsonrpc: bool = True  # the legacy endpoint (removed in Odoo 22)
    database: str = "bexsync"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # login -> user
    companies: list[dict[str, Any]] = field(default_factory=list)
    journals: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    taxes: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (api, model, method)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self._ids)

    @classmethod
    def seeded(
        cls, login: str, api_key: str, *, version: int = 19, database: str = "bexsync"
    ) -> OdooState:
        """A company in EUR with BEX's chart, taxes named like BEX's codes and a BEX journal."""
        state = cls(version=version, database=database)
        company = state.add_company("Vakantiepark De Duinen B.V.")
        state.users[login] = {
            "id": 2,
            "login": login,
            "api_key": api_key,
            "company_ids": [company["id"]],
        }
        for code, name, kind in (
            ("MISC", "Miscellaneous Operations", "general"),
            ("INV", "Customer Invoices", "sale"),
            ("BNK1", "Bank", "bank"),
            ("BEX", "Booking Experts", "general"),
        ):
            state.journals.append(
                {
                    "id": state.next_id(),
                    "code": code,
                    "name": name,
                    "type": kind,
                    "company_id": company["id"],
                }
            )
        for code, name in CHART:
            state.add_account(code, name, company["id"])
        for name, description, amount in (("0", "0%", "0"), ("L", "9%", "9"), ("H", "21%", "21")):
            for use in ("sale", "purchase"):
                state.taxes.append(
                    {
                        "id": state.next_id(),
                        "name": name,
                        "description": f"{description} {'S' if use == 'sale' else 'P'}",
                        "amount": Decimal(amount),
                        "amount_type": "percent",
                        "type_tax_use": use,
                        "company_id": company["id"],
                    }
                )
        return state

    def add_company(self, name: str, currency: str = "EUR") -> dict[str, Any]:
        company = {
            "id": self.next_id(),
            "name": name,
            "currency": currency,
            "fiscalyear_lock_date": None,
            "hard_lock_date": None,
            "period_lock_date": None,
            "tax_lock_date": None,
            "sale_lock_date": None,
            "purchase_lock_date": None,
        }
        self.companies.append(company)
        return company

    def add_account(self, code: str, name: str, company_id: int) -> dict[str, Any]:
        account = {
            "id": self.next_id(),
            "code": code,
            "name": name,
            "account_type": "asset_current" if code < "4000" else "income",
            "company_id": company_id,
        }
        self.accounts.append(account)
        return account

    def journal(self, code: str) -> dict[str, Any]:
        return next(j for j in self.journals if j["code"] == code)

    def company(self, ident: int | None = None) -> dict[str, Any]:
        if ident is None:
            return self.companies[0]
        return next(c for c in self.companies if c["id"] == ident)

    def account_code(self, ident: int) -> str:
        return str(next(a["code"] for a in self.accounts if a["id"] == ident))

    def uid_for_key(self, key: str) -> dict[str, Any] | None:
        return next((u for u in self.users.values() if u["api_key"] == key), None)


# -- the ORM subset --------------------------------------------------------------------------


class Env:
    """One call's view of the database: the user, the companies it may see."""

    def __init__(self, state: OdooState, user: dict[str, Any], context: Any) -> None:
        self.state = state
        self.user = user
        allowed = user["company_ids"]
        if isinstance(context, dict) and context.get("allowed_company_ids"):
            wanted = context["allowed_company_ids"]
            if not isinstance(wanted, list) or any(c not in allowed for c in wanted):
                raise OdooError(
                    "odoo.exceptions.AccessError", "Access to unauthorized or invalid companies."
                )
            allowed = wanted
        self.company_ids: list[int] = list(allowed)

    @property
    def company(self) -> dict[str, Any]:
        return self.state.company(self.company_ids[0])

    def table(self, model: str) -> list[dict[str, Any]]:
        state = self.state
        tables = {
            "res.company": [c for c in state.companies if c["id"] in self.user["company_ids"]],
            "account.journal": state.journals,
            "account.account": state.accounts,
            "account.tax": state.taxes,
            "account.move": state.moves,
        }
        if model not in tables:
            raise OdooError("builtins.KeyError", f"Object {model} doesn't exist")
        rows = tables[model]
        if model == "res.company":
            return rows
        return [r for r in rows if r["company_id"] in self.company_ids]

    def value(self, model: str, row: dict[str, Any], name: str) -> Any:
        if name not in FIELDS[model]:
            raise OdooError("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
        if model == "res.company" and name == "currency_id":
            return [1 if row["currency"] == "EUR" else 2, row["currency"]]
        value = row.get(name)
        if name == "journal_id":
            journal = next(j for j in self.state.journals if j["id"] == value)
            return [value, journal["name"]]
        if name == "company_id":
            return [value, self.state.company(value)["name"]]
        if name == "line_ids":
            return [line["id"] for line in row["lines"]]
        if isinstance(value, Decimal):
            return float(value)  # Odoo answers floats
        return value if value is not None else False

    def read(self, model: str, rows: list[dict[str, Any]], fields: list[str] | None) -> list[Any]:
        names = fields or sorted(FIELDS[model])
        return [{"id": r["id"]} | {n: self.value(model, r, n) for n in names} for r in rows]


def _matches(row: dict[str, Any], domain: Any, model: str, env: Env) -> bool:
    if not isinstance(domain, list):
        raise OdooError("builtins.ValueError", f"Invalid domain {domain!r}")
    for leaf in domain:
        if leaf == "&":
            continue
        if not isinstance(leaf, list) or len(leaf) != 3:
            raise OdooError("builtins.ValueError", f"Invalid leaf {leaf!r}")
        name, op, wanted = leaf
        if name not in FIELDS[model]:
            raise OdooError("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
        value = row.get(name)
        ok = {
            "=": lambda v, w: v == w,
            "!=": lambda v, w: v != w,
            "in": lambda v, w: v in w,
            "not in": lambda v, w: v not in w,
            "<=": lambda v, w: v is not None and v <= w,
            ">=": lambda v, w: v is not None and v >= w,
            "ilike": lambda v, w: str(w).lower() in str(v or "").lower(),
        }.get(op)
        if ok is None:
            raise OdooError("builtins.ValueError", f"Invalid operator {op!r}")
        if not ok(value, wanted):
            return False
    return True


def _lock_date(company: dict[str, Any], version: int) -> date | None:
    keys = ["fiscalyear_lock_date"]
    keys += ["hard_lock_date"] if version >= 18 else ["period_lock_date"]
    dates = [date.fromisoformat(company[k]) for k in keys if company.get(k)]
    return max(dates) if dates else None


def _amount(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise OdooError("builtins.ValueError", f"{where}: wrong value {value!r}")
    amount = Decimal(value)
    if amount < 0:
        raise user_error(f"{where}: a debit or credit cannot be negative")
    return amount


def _check_move(env: Env, move: dict[str, Any]) -> None:
    debit = sum((line["debit"] for line in move["lines"]), Decimal("0"))
    credit = sum((line["credit"] for line in move["lines"]), Decimal("0"))
    if (debit - credit).quantize(CENT) != 0:
        raise user_error(
            f"The entry is not balanced. The total of debits equals {debit} and the total of "
            f"credits equals {credit}."
        )
    lock = _lock_date(env.state.company(move["company_id"]), env.state.version)
    if lock is not None and date.fromisoformat(move["date"]) <= lock:
        raise user_error(
            "You cannot add/modify entries prior to and inclusive of the lock date "
            f"{lock.isoformat()}."
        )


def _create_moves(env: Env, vals_list: Any) -> list[int]:
    if isinstance(vals_list, dict):
        vals_list = [vals_list]
    if not isinstance(vals_list, list):
        raise OdooError("builtins.TypeError", "create() takes a list of values")
    created = []
    for vals in vals_list:
        journal = next(
            (j for j in env.table("account.journal") if j["id"] == vals.get("journal_id")), None
        )
        if journal is None:
            raise user_error(f"Invalid journal {vals.get('journal_id')!r}")
        if vals.get("move_type", "entry") != "entry":
            raise user_error("only journal entries are simulated")
        try:
            day = date.fromisoformat(str(vals.get("date")))
        except ValueError:
            raise OdooError("builtins.ValueError", f"Invalid date {vals.get('date')!r}") from None
        accounts = {a["id"]: a for a in env.table("account.account")}
        lines = []
        for i, command in enumerate(vals.get("line_ids") or []):
            if not (isinstance(command, list) and len(command) == 3 and command[0] == 0):
                raise OdooError("builtins.ValueError", f"line_ids[{i}]: expected [0, 0, {{...}}]")
            line = command[2]
            if line.get("account_id") not in accounts:
                raise OdooError(
                    "odoo.exceptions.MissingError",
                    "Record does not exist or has been deleted. "
                    f"(Record: account.account({line.get('account_id')},))",
                )
            lines.append(
                {
                    "id": env.state.next_id(),
                    "account_id": line["account_id"],
                    "name": str(line.get("name") or ""),
                    "debit": _amount(line.get("debit", 0), f"line_ids[{i}].debit"),
                    "credit": _amount(line.get("credit", 0), f"line_ids[{i}].credit"),
                }
            )
        move = {
            "id": env.state.next_id(),
            "name": "/",
            "ref": vals.get("ref") or False,
            "date": day.isoformat(),
            "state": "draft",
            "move_type": "entry",
            "journal_id": journal["id"],
            "company_id": journal["company_id"],
            "narration": vals.get("narration") or False,
            "lines": lines,
        }
        move["amount_total"] = sum((ln["debit"] for ln in lines), Decimal("0"))
        _check_move(env, move)  # Odoo checks balance and lock dates on create already
        created.append(move)
    env.state.moves.extend(created)
    return [m["id"] for m in created]


def _records(env: Env, model: str, ids: Any) -> list[dict[str, Any]]:
    if not isinstance(ids, list):
        raise OdooError("builtins.TypeError", "ids must be a list")
    rows = {r["id"]: r for r in env.table(model)}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise OdooError(
            "odoo.exceptions.MissingError",
            f"Record does not exist or has been deleted. (Record: {model}({missing[0]},))",
        )
    return [rows[i] for i in ids]


def _post(env: Env, moves: list[dict[str, Any]]) -> None:
    for move in moves:
        if move["state"] != "draft":
            raise user_error("The entry is already posted.")
        _check_move(env, move)
    for move in moves:
        journal = next(j for j in env.state.journals if j["id"] == move["journal_id"])
        company = env.state.company(move["company_id"])
        journal_lock = company.get(f"{journal['type']}_lock_date")
        if env.state.version >= 18 and journal_lock and move["date"] <= journal_lock:
            # Odoo 18+: a sale/purchase lock postpones the accounting date, it does not refuse.
            move["date"] = (date.fromisoformat(journal_lock) + timedelta(days=1)).isoformat()
        year = move["date"][:4]
        count = sum(1 for m in env.state.moves if m["name"].startswith(f"{journal['code']}/"))
        move["name"] = f"{journal['code']}/{year}/{count + 1:04d}"
        move["state"] = "posted"


def execute(
    env: Env, model: str, method: str, ids: list[int] | None, kwargs: dict[str, Any]
) -> Any:
    """One ORM call, the same for both APIs once arguments are sorted out."""
    if model == "res.users" and method == "context_get":
        return {"lang": "en_US", "tz": "Europe/Amsterdam", "uid": env.user["id"]}
    if model not in FIELDS:
        raise OdooError("builtins.KeyError", f"Object {model} doesn't exist")
    if method == "search_read":
        domain = kwargs.get("domain") or []
        rows = [r for r in env.table(model) if _matches(r, domain, model, env)]
        order = str(kwargs.get("order") or "id").split()[0]
        rows.sort(key=lambda r: str(r.get(order)) if order != "id" else r["id"])
        offset = int(kwargs.get("offset") or 0)
        limit = kwargs.get("limit")
        rows = rows[offset : offset + int(limit)] if limit else rows[offset:]
        return env.read(model, rows, kwargs.get("fields"))
    if method == "read":
        return env.read(model, _records(env, model, ids), kwargs.get("fields"))
    if model == "account.move" and method == "create":
        return _create_moves(env, kwargs.get("vals_list"))
    if model == "account.move" and method == "action_post":
        _post(env, _records(env, model, ids))
        return False
    if model == "account.move" and method == "unlink":
        moves = _records(env, model, ids)
        if any(m["state"] == "posted" or m["name"] != "/" for m in moves):
            raise user_error("You cannot delete an entry which has been posted once.")
        env.state.moves[:] = [m for m in env.state.moves if m not in moves]
        return True
    raise OdooError("builtins.AttributeError", f"The method '{method}' does not exist on {model}")


# -- the two wire APIs -----------------------------------------------------------------------


def _loads(raw: bytes) -> Any:
    return json.loads(raw, parse_float=Decimal)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_NOT_FOUND_PAGE = "<!DOCTYPE html><html><body><h1>404: Page not found</h1></body></html>"


def create_odoo_app(state: OdooState, *, faults: FaultPlan | None = None) -> Starlette | Any:
    """The ASGI app; ``faults`` (built with ``error_body``) goes in front when given."""

    async def json2(request: Request) -> Response:
        model, method = request.path_params["model"], request.path_params["method"]
        if state.version < 19:
            return HTMLResponse(_NOT_FOUND_PAGE, status_code=404)
        state.calls.append(("json2", model, method))
        try:
            db = request.headers.get("x-odoo-database")
            if db is not None and db != state.database:
                body = error_body(404, f"database {db!r} not found")
                body["name"] = "werkzeug.exceptions.NotFound"
                return JSONResponse(body, status_code=404)
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            user = state.uid_for_key(key) if scheme.lower() == "bearer" else None
            if user is None:
                raise OdooError("odoo.exceptions.AccessDenied", "Access Denied")
            try:
                body = _loads(await request.body() or b"{}")
            except ValueError:
                raise OdooError("werkzeug.exceptions.BadRequest", "invalid JSON body") from None
            if not isinstance(body, dict):
                raise OdooError("werkzeug.exceptions.BadRequest", "the body must be an object")
            env = Env(state, user, body.pop("context", None))
            ids = body.pop("ids", None)
            result = execute(env, model, method, ids, body)
            return JSONResponse(_plain(result))
        except OdooError as exc:
            status = JSON2_STATUS.get(exc.name, 500)
            body = error_body(status, exc.message) | {"name": exc.name}
            return JSONResponse(body, status_code=status)

    async def jsonrpc(request: Request) -> Response:
        if not state.jsonrpc:
            return HTMLResponse(_NOT_FOUND_PAGE, status_code=404)
        try:
            payload = _loads(await request.body())
        except ValueError:
            error = _rpc_error(OdooError("werkzeug.exceptions.BadRequest", "Invalid JSON data"))
            return JSONResponse({"jsonrpc": "2.0", "id": None, "error": error})
        rid = payload.get("id")
        params = payload.get("params") or {}
        service, method = params.get("service"), params.get("method")
        args = params.get("args") or []
        try:
            result = _dispatch_rpc(state, service, method, args)
        except OdooError as exc:
            return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": _rpc_error(exc)})
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": _plain(result)})

    routes = [
        Route("/json/2/{model}/{method}", json2, methods=["POST"]),
        Route("/jsonrpc", jsonrpc, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.odoo = state
    return faults.wrap(app) if faults is not None else app


def _rpc_error(exc: OdooError) -> dict[str, Any]:
    return {
        "code": 200,
        "message": "Odoo Server Error",
        "data": {
            "name": exc.name,
            "message": exc.message,
            "arguments": [exc.message],
            "context": {},
            "debug": f"Traceback (most recent call last):\n{exc.name}: {exc.message}",
        },
    }


def _dispatch_rpc(state: OdooState, service: Any, method: Any, args: list[Any]) -> Any:
    if service == "common" and method == "version":
        return {
            "server_version": f"{state.version}.0",
            "server_version_info": [state.version, 0, 0, "final", 0, ""],
            "server_serie": f"{state.version}.0",
            "protocol_version": 1,
        }
    if service == "common" and method in ("authenticate", "login"):
        db, login, key = args[0], args[1], args[2]
        state.calls.append(("jsonrpc", "common", method))
        if db != state.database:
            raise OdooError(
                "psycopg2.OperationalError",
                f'connection failed: FATAL:  database "{db}" does not exist',
            )
        user = state.users.get(login)
        return user["id"] if user is not None and user["api_key"] == key else False
    if service == "object" and method == "execute_kw":
        if len(args) < 6:
            raise OdooError("builtins.TypeError", "execute_kw() missing arguments")
        db, uid, key, model, name = args[:5]
        positional = list(args[5])
        kwargs = dict(args[6]) if len(args) > 6 else {}
        state.calls.append(("jsonrpc", model, name))
        user = state.uid_for_key(key)
        if db != state.database or user is None or user["id"] != uid:
            raise OdooError("odoo.exceptions.AccessDenied", "Access Denied")
        env = Env(state, user, kwargs.pop("context", None))
        ids = None
        if name in ("read", "action_post", "unlink", "write"):
            ids = positional.pop(0) if positional else None
        if name == "create":
            if not positional:
                raise OdooError("builtins.TypeError", "create() missing 1 required argument")
            kwargs["vals_list"] = positional.pop(0)
        if name == "search_read" and positional:
            kwargs["domain"] = positional.pop(0)
        return execute(env, model, name, ids, kwargs)
    raise OdooError("builtins.KeyError", f"unknown service or method {service}.{method}")


async def demo_setup(workdir: pathlib.Path) -> DemoProvider:
    """Start a seeded Odoo 19 simulator; the demo logs in with the form's values."""
    login, key = "bexsync-bot@example.com", plant("", 20)
    state = OdooState.seeded(login, key)
    server = SimulatorServer(create_odoo_app(state), name="odoo-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="odoo",
        settings={"api_url": url},
        complete={
            "credentials": {
                "url": url,
                "database": state.database,
                "username": login,
                "api_key": key,
            }
        },
        stop=[server.stop],
    )
