"""A simulator of one accounting firm's ACD i-Suite Expert API, from integrators' notes.

Served under ``/{CNX}/api`` like a firm's host: ``POST /v1/authentification`` (user + password ->
a session token expiring after inactivity, sent back in the ``UUID`` header), ``GET
/v1/dossiers``, ``/v1/compta/journal``, ``/v1/compta/comptes/generaux`` (all with
``CodeDossier``), ``POST /v1/compta/ecriture`` with its checks (journal, accounts, Jour in the
month, balance, closed months, EUR only) answering HTTP 200 with ``codeRetour`` 1 or 0 and
``listeErreurs``, 403 for a dossier that is not published, and 429 + ``Retry-After``. The entry
listing ``GET /v1/compta/ecritures`` is the adapter's documented assumption (see providers/acd.py).
No duplicate detection, as in the real API. State is in ``AcdState`` for test assertions.
"""

from __future__ import annotations

import json
import pathlib
import secrets
import time
from collections import deque
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
from providers.simulators.throttle import take_slot

CNX = "CNX1225"
JOURNALS: tuple[tuple[str, str, str], ...] = (
    ("AC", "Achats", "Achat"),
    ("VE", "Ventes", "Vente"),
    ("BQ", "Banque", "Tresorerie"),
    ("OD", "Opérations diverses", "OperationDiverse"),
    ("BEX", "Booking Experts", "OperationDiverse"),
)


def error_body(status: int, message: str, code: str = "erreur") -> dict[str, Any]:
    """ACD's answer shape, used for refusals at any HTTP status."""
    return {
        "codeRetour": 0,
        "description": "KO",
        "listeErreurs": [{"erreur": code, "description": message}],
    }


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Refused(Exception):
    """A business refusal: HTTP 200 with ``codeRetour: 0``."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class AcdState:
    """One firm's i-Suite Expert: users, sessions, dossiers and what was posted."""

    cnx: str = CNX
    users: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, float] = field(default_factory=dict)  # token -> last use
    session_ttl: float = 900.0
    dossiers: list[dict[str, Any]] = field(default_factory=list)
    unpublished: set[str] = field(default_factory=set)
    journals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    accounts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    closed_until: tuple[int, int] | None = None  # (year, month) closed up to and including
    rate_calls: int = 100
    rate_per: float = 1.0
    logins: int = 0
    refused: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    _window: deque[float] = field(default_factory=deque)

    @classmethod
    def seeded(cls, username: str, password: str, dossiers: int = 1) -> AcdState:
        state = cls(users={username: password})
        for n in range(dossiers):
            code = "BEXPARC" if n == 0 else f"DOSS{n:02d}"
            state.dossiers.append({"Code": code, "Nom": f"Camping Les Dunes {n or ''}".strip()})
            state.journals[code] = [
                {"Code": c, "Libelle": label, "Nature": nature} for c, label, nature in JOURNALS
            ]
            chart = [*CHART, ("51200000", "Banque"), ("70600000", "Prestations de services")]
            state.accounts[code] = [
                {"Code": number, "Lib": label, "Let": False, "CptInactif": False,
                 "ActivationAnalytique": False}
                for number, label in chart
            ]  # fmt: skip
            state.accounts[code].append(
                {"Code": "47100000", "Lib": "Compte d'attente (inactif)", "CptInactif": True}
            )
        return state

    def expire_sessions(self) -> None:
        """Every session times out (inactivity), as after a long pause between syncs."""
        self.sessions.clear()

    def throttled(self) -> float | None:
        wait, _, _ = take_slot(self._window, self.clock(), self.rate_calls, self.rate_per)
        return wait


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Refused([("montantInvalide", f"{where} doit être un nombre")])
    amount = Decimal(value)
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise Refused([("montantInvalide", f"{where} : positif, deux décimales au plus")])
    return amount


def _create_entry(state: AcdState, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "requeteInvalide", "le corps doit être un objet JSON")
    dossier = str(body.get("CodeDossier") or "")
    if dossier not in state.journals:
        raise Refused([("dossierInexistant", f"Le dossier {dossier} n'existe pas")])
    if str(body.get("Devise") or "EUR").upper() != "EUR":
        raise Refused([("ERROR_CURRENCY_NOT_ALLOWED", "Seul l'euro est accepté")])
    journal = str(body.get("Journal") or "")
    if journal not in {j["Code"] for j in state.journals[dossier]}:
        raise Refused([("journalInexistant", f"Le journal {journal} n'est pas partagé")])
    try:
        year, month = int(body["Annee"]), int(body["Mois"])
        date(year, month, 1)
    except (KeyError, TypeError, ValueError):
        raise Refused([("dateInvalide", "Annee et Mois sont obligatoires")]) from None
    lines = body.get("LignesEcriture")
    if not isinstance(lines, list) or not lines:
        raise Refused([("ecritureVide", "LignesEcriture doit contenir au moins une ligne")])
    accounts = {a["Code"]: a for a in state.accounts[dossier] if not a.get("CptInactif")}
    errors: list[tuple[str, str]] = []
    debit = credit = Decimal("0")
    for i, line in enumerate(lines):
        try:
            date(year, month, int(line.get("Jour")))
        except (TypeError, ValueError):
            errors.append(("dateInvalide", f"ligne {i + 1} : jour {line.get('Jour')!r} invalide"))
        account = str(line.get("Compte") or "")
        if account not in accounts:
            errors.append(("compteInexistant", f"Le compte {account} n'existe pas"))
        elif accounts[account].get("ActivationAnalytique") and not line.get("Analytiques"):
            errors.append(("analytiqueCleRepartitionInexistante", f"compte {account}"))
        debit += _decimal(line.get("Debit"), f"ligne {i + 1} Debit")
        credit += _decimal(line.get("Credit"), f"ligne {i + 1} Credit")
    if errors:
        raise Refused(errors)
    if debit != credit:
        raise Refused([("ecritureDesequilibree", f"débit {debit} ≠ crédit {credit}")])
    if state.closed_until is not None and (year, month) <= state.closed_until:
        raise Refused([("periodeCloturee", f"La période {month:02d}/{year} est clôturée")])
    entry = {
        "CodeDossier": dossier,
        "Journal": journal,
        "Annee": year,
        "Mois": month,
        "NumeroPiece": str(lines[0].get("NumeroPiece") or ""),
        "LignesEcriture": [
            {**ln, "Debit": str(ln["Debit"]), "Credit": str(ln["Credit"])} for ln in lines
        ],
    }
    state.entries.append(entry)
    return entry


def create_acd_app(state: AcdState, *, faults: FaultPlan | None = None) -> Any:
    """The ASGI app; ``faults`` goes in front when given."""

    def session(request: Request) -> None:
        token = request.headers.get("uuid", "")
        last = state.sessions.get(token)
        now = state.clock()
        if last is None or now - last > state.session_ttl:
            state.sessions.pop(token, None)
            raise ApiError(401, "sessionInvalide", "Session expirée ou invalide")
        state.sessions[token] = now

    def dossier(request: Request) -> str:
        code = request.query_params.get("CodeDossier", "")
        if code not in state.journals:
            raise ApiError(404, "dossierInexistant", f"Le dossier {code} n'existe pas")
        if code in state.unpublished:
            raise ApiError(403, "dossierNonPublie", f"Le dossier {code} n'est pas publié")
        return code

    async def body_of(request: Request) -> Any:
        try:
            return json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            raise ApiError(400, "requeteInvalide", "JSON invalide") from None

    async def dispatch(request: Request) -> Response:
        cnx = request.path_params["cnx"]
        path = "/" + request.path_params["path"]
        state.requests.append((request.method, path))
        try:
            if cnx != state.cnx:
                raise ApiError(500, "connexion", "nom du serveur SQL invalide")
            wait = state.throttled()
            if wait is not None:
                state.refused += 1
                return JSONResponse(
                    error_body(429, "Trop de requêtes", "quota"),
                    status_code=429,
                    headers={"retry-after": f"{wait:.2f}"},
                )
            return JSONResponse(await handle(request, path))
        except ApiError as exc:
            return JSONResponse(error_body(exc.status, exc.message, exc.code), exc.status)
        except Refused as exc:
            return JSONResponse(
                {
                    "codeRetour": 0,
                    "description": "KO",
                    "listeErreurs": [{"erreur": c, "description": d} for c, d in exc.errors],
                }
            )

    async def handle(request: Request, path: str) -> Any:
        method = request.method
        if method == "POST" and path == "/v1/authentification":
            body = await body_of(request)
            user = body.get("identifiant") if isinstance(body, dict) else None
            if not user or state.users.get(str(user)) != body.get("motDePasse"):
                raise ApiError(401, "authentificationInvalide", "Identifiant ou mot de passe")
            token = secrets.token_hex(16)
            state.sessions[token] = state.clock()
            state.logins += 1
            return {"token": token}
        session(request)
        if method == "GET" and path == "/v1/dossiers":
            return state.dossiers
        if method == "GET" and path == "/v1/compta/journal":
            return state.journals[dossier(request)]
        if method == "GET" and path == "/v1/compta/comptes/generaux":
            return state.accounts[dossier(request)]
        if method == "GET" and path == "/v1/compta/ecritures":
            code = dossier(request)
            q = request.query_params
            return [
                e
                for e in state.entries
                if e["CodeDossier"] == code
                and str(e["Annee"]) == q.get("Annee")
                and str(e["Mois"]) == q.get("Mois")
                and (not q.get("Journal") or e["Journal"] == q.get("Journal"))
            ]
        if method == "POST" and path == "/v1/compta/ecriture":
            body = await body_of(request)
            if isinstance(body, dict) and body.get("CodeDossier") in state.unpublished:
                raise ApiError(403, "dossierNonPublie", "Le dossier n'est pas publié")
            _create_entry(state, body)
            return {"codeRetour": 1, "description": "OK", "listeErreurs": []}
        raise ApiError(404, "ressourceInexistante", f"{method} {path} inconnu")

    app = Starlette(routes=[Route("/{cnx}/api/{path:path}", dispatch, methods=["GET", "POST"])])
    app.state.acd = state
    return faults.wrap(app) if faults is not None else app


async def demo_setup(workdir: pathlib.Path) -> DemoProvider:
    """Start a seeded firm; the demo logs in with its host, CNX, user and password."""
    password = plant("demo-acd-", 12)
    state = AcdState.seeded("comptable", password)
    server = SimulatorServer(create_acd_app(state), name="acd-simulator")
    url = await server.start()
    return DemoProvider(
        provider_id="acd",
        settings={},
        complete={
            "credentials": {
                "host": url,
                "code": CNX,
                "username": "comptable",
                "password": password,
            }
        },
        stop=[server.stop],
    )
