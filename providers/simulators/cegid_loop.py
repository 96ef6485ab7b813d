"""A simulator of Cegid Loop's public APIs behind Azure API Management.

Both keys on every call (``Ocp-Apim-Subscription-Key``, ``x-apikey: key:secret``) with APIM's
``{"statusCode", "message"}`` errors and 429 + ``Retry-After``; ``GET /journal`` and ``GET
/compte`` (``codeDossier``, ``skip``/``take``); ``GET /EcritureComptable`` whose ``filter`` must
name ``ecritureOrigine`` (or ``codeLettrage``), at most 100 rows; and the asynchronous ``POST
/importJson``: the envelope is checked at once (400 with ``errors``), the entries only when the
import is processed (journal, accounts, balance, closed periods), after ``process_after``
seconds or when a test calls ``process()``. Import status and history endpoints follow the
adapter's documented assumption (providers/cegid_loop.py). State is in ``LoopState``.
"""

from __future__ import annotations

import itertools
import pathlib
import re
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
from providers.simulators.demo_login import write_secret_file
from providers.simulators.faults import FaultPlan
from providers.simulators.planted import plant
from providers.simulators.throttle import take_slot

PREFIX = "/loop-api-publiques"
DOSSIER = "BEXPARC01"
JOURNALS: tuple[tuple[str, str, int], ...] = (
    ("ACH", "Achats", 1),
    ("OD", "Opérations diverses", 2),
    ("BQ1", "Banque", 4),
    ("VTE", "Ventes", 8),
    ("BEX", "Booking Experts", 2),
)


def error_body(status: int, message: str) -> dict[str, Any]:
    """APIM's error shape (gateway refusals and, assumed, the API's own)."""
    return {"statusCode": status, "message": message}


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


@dataclass
class LoopState:
    """One dossier at Cegid Loop, the keys that reach it, and its import queue."""

    subscription_keys: set[str] = field(default_factory=set)
    api_keys: set[str] = field(default_factory=set)
    dossier: str = DOSSIER
    journals: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    imports: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    process_after: float | None = None  # seconds; None: only process() completes imports
    closed_until: date | None = None
    rate_calls: int = 1000
    rate_per: float = 60.0
    refused: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(70001))
    _window: deque[float] = field(default_factory=deque)

    @classmethod
    def seeded(cls, subscription_key: str, api_key: str) -> LoopState:
        state = cls(subscription_keys={subscription_key}, api_keys={api_key})
        for code, label, kind in JOURNALS:
            state.journals.append(
                {"objectId": next(state._ids), "code": code, "libelle": label, "type": kind}
            )
        for number, label in [*CHART, ("512000", "Banque"), ("706000", "Prestations")]:
            state.accounts.append(
                {"objectId": next(state._ids), "numero": number, "libelle": label, "type": 1,
                 "collectif": False, "lettrable": False, "ferme": False}
            )  # fmt: skip
        state.accounts.append(
            {"objectId": next(state._ids), "numero": "471000", "libelle": "Attente", "ferme": True}
        )
        return state

    def pending(self) -> list[dict[str, Any]]:
        return [i for i in self.imports if i["statut"] in ("EnAttente", "EnCours")]

    def process(self, import_id: str | None = None) -> None:
        """Cegid's import service runs: pending imports are booked or fail."""
        for item in self.pending():
            if import_id is None or item["idImport"] == import_id:
                _run_import(self, item)

    def tick(self) -> None:
        """Process the imports whose time has come (lazily, when anyone asks)."""
        if self.process_after is None:
            return
        now = self.clock()
        for item in self.pending():
            if now - item["submitted"] >= self.process_after:
                _run_import(self, item)
            elif item["statut"] == "EnAttente":
                item["statut"] = "EnCours"

    def throttled(self) -> float | None:
        wait, _, _ = take_slot(self._window, self.clock(), self.rate_calls, self.rate_per)
        return wait


def _run_import(state: LoopState, item: dict[str, Any]) -> None:
    errors: list[dict[str, str]] = []
    journals = {j["code"] for j in state.journals}
    accounts = {a["numero"]: a for a in state.accounts}
    booked = []
    for n, ecriture in enumerate(item["ecritures"]):
        where = f"ecriture {n + 1}"
        if ecriture.get("journalCode") not in journals:
            errors.append({"code": "JOURNAL", "message": f"{where} : journal inconnu"})
        try:
            day = date.fromisoformat(str(ecriture.get("datePiece")))
        except ValueError:
            errors.append({"code": "DATE", "message": f"{where} : datePiece invalide"})
            continue
        debit = credit = Decimal("0")
        for line in ecriture.get("lignes") or []:
            account = accounts.get(str(line.get("compteNumero")))
            if account is None or account.get("ferme"):
                number = line.get("compteNumero")
                errors.append({"code": "COMPTE", "message": f"compte {number} inexistant"})
            debit += Decimal(line["debit"])
            credit += Decimal(line["credit"])
        if debit != credit:
            errors.append({"code": "EQUILIBRE", "message": f"{where} : écriture déséquilibrée"})
        if state.closed_until is not None and day <= state.closed_until:
            errors.append(
                {"code": "PERIODE", "message": f"{where} : la période du {day} est clôturée"}
            )
        booked.append((ecriture, day))
    if errors:
        item.update(statut="Erreur", erreurs=errors)
        return
    for ecriture, day in booked:
        state.entries.append(
            {
                "objectId": next(state._ids),
                "journalCode": ecriture["journalCode"],
                "datePiece": day.isoformat(),
                "refPiece": str(ecriture.get("refPiece") or ""),
                "ecritureOrigine": str(ecriture.get("ecritureOrigine") or ""),
                "libelle": str(ecriture.get("libelle") or ""),
                "type": 7,  # brouillard: imported, not yet validated
                "lignes": ecriture.get("lignes") or [],
                "idImport": item["idImport"],
            }
        )
    item.update(statut="Termine", erreurs=[])


def _check_envelope(body: Any) -> list[dict[str, Any]]:
    """The synchronous part of ``POST /importJson``: the request's shape and amounts."""
    errors: dict[str, list[str]] = {}
    if not isinstance(body, dict) or not body.get("codeIbs"):
        raise ApiError(400, "codeIbs is required", {"codeIbs": ["required"]})
    data = body.get("data")
    ecritures = data.get("ecritures") if isinstance(data, dict) else None
    if not isinstance(ecritures, list) or not ecritures:
        raise ApiError(400, "data.ecritures is required", {"data.ecritures": ["required"]})
    for n, ecriture in enumerate(ecritures):
        lines = ecriture.get("lignes") if isinstance(ecriture, dict) else None
        if not isinstance(lines, list) or not lines:
            errors[f"ecritures[{n}].lignes"] = ["at least one line"]
            continue
        for i, line in enumerate(lines):
            for side in ("debit", "credit"):
                value = line.get(side)
                try:
                    amount = Decimal(value) if isinstance(value, str) else None
                except InvalidOperation:
                    amount = None
                if amount is None or amount < 0 or amount != amount.quantize(Decimal("0.01")):
                    errors[f"ecritures[{n}].lignes[{i}].{side}"] = ["a decimal string, 2 places"]
    if errors:
        raise ApiError(400, "The request is invalid", errors)
    return ecritures


_CLAUSE = re.compile(r"\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*")


def _filter(raw: str) -> dict[str, str]:
    out = {}
    for part in re.split(r"\s+and\s+", raw.strip()) if raw.strip() else []:
        match = _CLAUSE.fullmatch(part)
        if match is None:
            raise ApiError(400, f"unsupported filter clause: {part!r}")
        out[match.group(1)] = match.group(2).replace("''", "'")
    return out


def _page(request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        skip = int(request.query_params.get("skip", "0"))
        take = int(request.query_params.get("take", "100"))
    except ValueError:
        raise ApiError(400, "skip and take must be integers") from None
    if not 1 <= take <= 100 or skip < 0:
        raise ApiError(400, "take must be between 1 and 100")
    return rows[skip : skip + take]


def _public(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("idImport", "statut", "dateDemande", "refPieces", "erreurs")
    return {k: item[k] for k in keys}


def create_loop_app(state: LoopState, *, faults: FaultPlan | None = None) -> Any:
    """The ASGI app; ``faults`` (built with ``error_body``) goes in front when given."""

    async def dispatch(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        state.requests.append((request.method, path))
        try:
            if request.headers.get("ocp-apim-subscription-key") not in state.subscription_keys:
                raise ApiError(
                    401,
                    "Access denied due to invalid subscription key. Make sure to provide a "
                    "valid key for an active subscription.",
                )
            if request.headers.get("x-apikey") not in state.api_keys:
                raise ApiError(401, "Invalid or inactive API key")
            wait = state.throttled()
            if wait is not None:
                state.refused += 1
                message = f"Rate limit is exceeded. Try again in {int(wait) + 1} seconds."
                return JSONResponse(
                    error_body(429, message), 429, headers={"retry-after": f"{wait:.2f}"}
                )
            state.tick()
            status, body = await handle(request, path)
            return JSONResponse(body, status)
        except ApiError as exc:
            body = error_body(exc.status, exc.message)
            if exc.errors:
                body["errors"] = exc.errors
            return JSONResponse(body, exc.status)

    def dossier(request: Request) -> None:
        code = request.query_params.get("codeDossier")
        if code != state.dossier:
            raise ApiError(404, f"Dossier {code} not found")

    async def handle(request: Request, path: str) -> tuple[int, Any]:
        method = request.method
        if method == "POST" and path == "/importJson":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "The body is not valid JSON") from None
            ecritures = _check_envelope(body)
            if body["codeIbs"] != state.dossier:
                raise ApiError(404, f"Dossier {body['codeIbs']} not found")
            item = {
                "idImport": f"imp-{next(state._ids)}",
                "statut": "EnAttente",
                "dateDemande": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "refPieces": [str(e.get("refPiece") or "") for e in ecritures],
                "erreurs": [],
                "ecritures": ecritures,
                "submitted": state.clock(),
            }
            state.imports.append(item)
            return 202, {"idImport": item["idImport"]}
        dossier(request)
        if method == "GET" and path == "/journal":
            return 200, _page(request, state.journals)
        if method == "GET" and path == "/compte":
            return 200, _page(request, state.accounts)
        if method == "GET" and path == "/EcritureComptable":
            wanted = _filter(request.query_params.get("filter", ""))
            if not {"ecritureOrigine", "codeLettrage"} & wanted.keys():
                raise ApiError(400, "filter on ecritureOrigine or codeLettrage is mandatory")
            rows = [e for e in state.entries if all(str(e.get(k)) == v for k, v in wanted.items())]
            return 200, rows[:100]
        if method == "GET" and path == "/statutImport":
            ident = request.query_params.get("idImport")
            for item in state.imports:
                if item["idImport"] == ident:
                    return 200, _public(item)
            raise ApiError(404, f"Import {ident} not found")
        if method == "GET" and path == "/historiqueImport":
            return 200, [_public(i) for i in reversed(state.imports)]
        raise ApiError(404, "Resource not found")

    app = Starlette(routes=[Route(PREFIX + "/{path:path}", dispatch, methods=["GET", "POST"])])
    app.state.loop = state
    return faults.wrap(app) if faults is not None else app


async def demo_setup(workdir: pathlib.Path) -> DemoProvider:
    """Start a seeded dossier whose imports complete shortly after they are submitted."""
    subscription = plant("demo-apim-")
    api_key = plant("demo-loop-key:")
    secret_file = write_secret_file(workdir / "cegid_loop-subscription-key", subscription)
    state = LoopState.seeded(subscription, api_key)
    state.process_after = 0.3
    server = SimulatorServer(create_loop_app(state), name="cegid-loop-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="cegid_loop",
        settings={
            "api_url": url + PREFIX,
            "client_id": "bexsync-demo-subscription",
            "client_secret_file": secret_file,
        },
        complete={"credentials": {"dossier": DOSSIER, "api_key": api_key}},
        stop=[server.stop],
    )
