"""The ``acd`` provider: ACD Groupe's i-Suite Expert API, one entry = one ``ecriture``.

Endpoint keys of ``[providers.acd]``:
  ``api_url``  default ``{host}/{code}/api`` from the login form (each firm runs its own
               i-Suite Expert host; ``code`` is its connection reference, "CNX" by default).
               Set it only to put a proxy in front of every firm.

Login: a credentials form with the firm's i-Suite host URL and connection code (non-secret,
kept as options), the i-Suite user name and its password. The password is stored as a secret
because the session token expires after inactivity and is renewed by logging in again:
``POST /v1/authentification`` answers a token that every later call sends in the ``UUID`` header;
a 401 on any call logs in once more and repeats the call. Dossiers (``GET /v1/dossiers``) are
the tenants.

Writes: ``POST /v1/compta/ecriture`` with ``CodeDossier``, ``Journal``, ``Annee`` and ``Mois`` in
the header and ``Jour`` on each line; amounts are JSON numbers written from the Decimal's exact
text. EUR only: other currencies are refused before any request. ACD answers HTTP 200 with
``codeRetour: 0`` and ``listeErreurs`` for business errors, mapped here. There is no idempotency
key: every line carries a piece number derived from the reference (``BX{config}-{period}``), the
lookup runs before each attempt, and ``find_entry`` searches the journal's month for that piece.

Checked against: assumptions. ACD publishes no API documentation; the routes, the ``UUID``
session header and the error codes come from integrators' notes (Chift's and Chaintrust's help
pages, Dext, and the notes in GitHub marc-cnp/simple-comme-ca; shared/research/providers-fr-nl.md
section 6). Every assumption is marked ``GAP`` below.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import Any

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, Tenant, VerifyResult
from providers.context import ProviderContext
from providers.entry_checks import currency_not_in, refuse_malformed
from providers.error_bodies import json_or_none
from providers.errors import ProviderError, auth_expired, period_locked, rejected, unavailable
from providers.http import provider_message
from providers.kit import FieldError, HttpAdapter, ledgers_from
from providers.login import CredentialField, CredentialsLogin
from providers.ratelimit import RateLimitSpec
from providers.redact import register_secret
from providers.vat_labels import line_label
from providers.wire import cents, dumps_decimal

PROVIDER = "acd"
# GAP: ACD publishes no rate limit. An on-premise/hosted firm server is small: stay gentle.
RATE_LIMIT = RateLimitSpec(calls=10, per_seconds=1, concurrent=2)
CURRENCIES = ("EUR",)

_REFERENCE = re.compile(r"bexsync:(\d+):(\d{4})-(\d{2})(?:-(\d{2}))?")


def piece_number(reference: str) -> str:
    """The short piece number every line of the entry carries; lookup searches for it.

    ``bexsync:12:2026-10`` -> ``BX12-202610``; a daily period adds the day. A reference of
    another shape gets a stable hash, so lookup still works.
    """
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        return "BX" + hashlib.sha256(reference.encode()).hexdigest()[:10].upper()
    config, year, month, day = match.groups()
    return f"BX{config}-{year}{month}{day or ''}"


def period_months(reference: str, fallback: date | None = None) -> list[tuple[int, int]]:
    """The (year, month) the entry of ``reference`` is booked in."""
    match = _REFERENCE.fullmatch(reference)
    if match is not None:
        return [(int(match.group(2)), int(match.group(3)))]
    return [(fallback.year, fallback.month)] if fallback else []


def acd_errors(body: Any) -> list[tuple[str, str]]:
    """``(code, description)`` pairs of an ACD answer's ``listeErreurs``."""
    if not isinstance(body, dict):
        return []
    found = []
    for item in body.get("listeErreurs") or []:
        if isinstance(item, dict):
            found.append((str(item.get("erreur") or ""), str(item.get("description") or "")))
    return found


# GAP: the business error codes below come from integrators' reports (compteInexistant,
# analytiqueCleRepartitionInexistante, the MySQL-unreachable message during backups); the code
# for a closed period is not documented anywhere, so any code or text naming a closed or locked
# period is taken as one. This function is the one place that classifies ACD's refusals.
_LOCKED = re.compile(r"(?i)(clotur|clôtur|verrouill|cloture|periodeFermee|exerciceFerme)")
_DOWN = re.compile(r"(?i)(momentan[ée]ment injoignable|indisponible|serveur SQL)")


def classify(errors: list[tuple[str, str]], entry: JournalEntry | None = None) -> ProviderError:
    text = "; ".join(f"{code}: {desc}" if desc else code for code, desc in errors) or "KO"
    if any(_LOCKED.search(code) or _LOCKED.search(desc) for code, desc in errors):
        return period_locked(PROVIDER, f"ACD refused a date in a closed period: {text}")
    if any(_DOWN.search(desc) or _DOWN.search(code) for code, desc in errors):
        return unavailable(PROVIDER, f"the firm's ACD server is unavailable: {text}")
    fields: list[FieldError] = []
    for code, desc in errors:
        field = "entry"
        if code == "compteInexistant" and entry is not None:
            for i, line in enumerate(entry.lines):
                if re.search(rf"(?<!\d){re.escape(line.account)}(?!\d)", desc):
                    field = f"lines[{i}].account"
                    break
        elif code.lower().startswith("journal"):
            field = "ledger_id"
        fields.append(FieldError(field, f"{code}: {desc}" if desc else code))
    return rejected(PROVIDER, f"ACD rejected the entry: {text}", tuple(fields))


def _error_mapper(response: httpx.Response) -> ProviderError | None:
    """Non-2xx answers: ACD's ``listeErreurs`` shape where present, and the 403 of a dossier
    that is not published (shared) in i-Suite Expert."""
    body = json_or_none(response)
    errors = acd_errors(body)
    status = response.status_code
    if status == 403:
        detail = "; ".join(d or c for c, d in errors) or provider_message(response)
        return auth_expired(
            PROVIDER,
            "ACD denied access (HTTP 403): check that the dossier is published in i-Suite "
            f"Expert and shared with this user{': ' + detail if detail else ''}",
            status=403,
        )
    if errors and status in (400, 409, 422):
        err = classify(errors)
        err.status = status
        return err
    return None


LOGIN = CredentialsLogin(
    (
        CredentialField(
            "host",
            "i-Suite Expert host URL of the firm",
            pattern=r"https?://[^\s/?#]+(/[^\s?#]*)?",
            hint="the firm's i-Suite Expert address, e.g. https://isuite.cabinet.fr",
        ),
        CredentialField(
            "code",
            "Connection code (CNX)",
            pattern=r"[A-Za-z0-9_.-]{1,64}",
            hint="the connection reference of the firm's i-Suite, often CNX",
        ),
        CredentialField("username", "i-Suite user name", pattern=r"\S{1,200}"),
        CredentialField("password", "i-Suite password", secret=True),
    )
)


class AcdProvider(
    HttpAdapter, provider="acd", login=LOGIN, rate_limit=RATE_LIMIT, errors=_error_mapper
):
    """An authorised i-Suite Expert user at one accounting firm."""

    def __init__(self, ctx: ProviderContext, **kw: Any) -> None:
        self._host = str(ctx.options.get("host") or "").rstrip("/")
        self._username = str(ctx.options.get("username") or "")
        self._password = str(ctx.credentials.get("password") or "")
        register_secret(self._password)
        super().__init__(ctx, **kw)
        self._token: str | None = None
        self._logins = 0
        self._dossiers: list[Tenant] | None = None

    def api_url(self) -> str:
        """Each firm runs its own host: ``{host}/{code}/api`` unless ``api_url`` overrides it."""
        code = str(self.ctx.options.get("code") or "CNX")
        default = f"{self._host}/{code}/api" if self._host else "https://invalid.invalid/api"
        return str(self.ctx.settings.url("api_url", default))

    # -- session ----------------------------------------------------------------------------
    async def _login(self) -> str:
        if not self._username or not self._password:
            raise auth_expired(PROVIDER, "no ACD user name or password is stored: log in again")
        try:
            response = await self.http.post(
                "/v1/authentification",
                content=dumps_decimal(
                    {"identifiant": self._username, "motDePasse": self._password}
                ),
                headers={"Content-Type": "application/json"},
                retry_unsafe=True,  # a login creates nothing; repeating it is harmless
            )
        except ProviderError as exc:
            if exc.status == 401:
                raise auth_expired(
                    PROVIDER,
                    "ACD refused the i-Suite user name or password; log in again",
                    status=401,
                ) from None
            raise
        token = self._token_from(response)
        register_secret(token)
        self._token = token
        self._logins += 1
        return token

    @staticmethod
    def _token_from(response: httpx.Response) -> str:
        # GAP: integrators disagree on the field holding the session token (``token`` or
        # ``UUID``); both are accepted, and a bare JSON string too.
        try:
            body = response.json()
        except ValueError:
            body = None
        token = None
        if isinstance(body, str):
            token = body
        elif isinstance(body, dict):
            token = next((body[k] for k in ("token", "UUID", "uuid", "Token") if body.get(k)), None)
        if not isinstance(token, str) or not token:
            raise unavailable(PROVIDER, "ACD's login answer held no session token")
        return token

    async def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request with the session token; an expired session is renewed once."""
        for attempt in (1, 2):
            token = self._token or await self._login()
            headers = {"UUID": token, **kw.pop("headers", {})}
            try:
                return await self.http.request(method, path, headers=headers, **kw)
            except ProviderError as exc:
                if exc.kind == "auth_expired" and exc.status == 401 and attempt == 1:
                    self._token = None  # 401 = not processed: safe to send again
                    kw["headers"] = {k: v for k, v in headers.items() if k != "UUID"}
                    continue
                raise
        raise AssertionError("unreachable")

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._call("GET", path, params=params)
        try:
            return response.json()
        except ValueError:
            raise unavailable(
                PROVIDER, f"ACD answered {path} with something that is not JSON"
            ) from None

    @staticmethod
    def _rows(body: Any) -> list[dict[str, Any]]:
        if isinstance(body, dict):
            body = body.get("data", body.get("liste", []))
        return [row for row in body if isinstance(row, dict)] if isinstance(body, list) else []

    # -- reading ----------------------------------------------------------------------------
    async def verify(self) -> VerifyResult:
        self._token = None
        await self._login()
        dossiers = await self.list_tenants()
        return VerifyResult(
            True,
            f"logged in to i-Suite Expert at {self._host or self.http.base_url} as "
            f"{self._username} ({len(dossiers)} dossier(s))",
            tuple(dossiers),
        )

    async def list_tenants(self) -> list[Tenant]:
        if self._dossiers is None:
            rows = self._rows(await self._get("/v1/dossiers"))
            self._dossiers = [
                Tenant(str(r.get("Code") or r.get("code")), str(r.get("Nom") or r.get("Libelle")
                       or r.get("nom") or r.get("Code") or ""))
                for r in rows
                if r.get("Code") or r.get("code")
            ]  # fmt: skip
        return list(self._dossiers)

    async def _dossier(self, tenant_id: str | None) -> str:
        return await self.chosen_tenant(tenant_id, self.list_tenants, "dossier")

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        dossier = await self._dossier(tenant_id)
        rows = self._rows(await self._get("/v1/compta/journal", {"CodeDossier": dossier}))
        return ledgers_from(rows, "Code", "Code", "Libelle")

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        dossier = await self._dossier(tenant_id)
        rows = self._rows(await self._get("/v1/compta/comptes/generaux", {"CodeDossier": dossier}))
        return sorted(
            (
                Account(str(r["Code"]), str(r.get("Lib") or r.get("Libelle") or ""))
                for r in rows
                if r.get("Code") and not r.get("CptInactif")
            ),
            key=lambda a: a.code,
        )

    # -- writing ----------------------------------------------------------------------------
    def _check(self, entry: JournalEntry) -> None:
        currency = currency_not_in(entry, CURRENCIES, "ACD")
        refuse_malformed(PROVIDER, "ACD", entry, extra=currency)

    async def _journal_code(self, dossier: str, ledger_id: str) -> str:
        where = f"enabled for the API in dossier {dossier} (tick it in i-Suite's sharing settings)"
        return (await self.ledger(ledger_id, dossier, where)).id

    @staticmethod
    def _external_id(dossier: str, journal: str, year: int, month: int, piece: str) -> str:
        return f"{dossier}/{journal}/{year:04d}-{month:02d}/{piece}"

    def _payload(self, entry: JournalEntry, dossier: str, journal: str) -> dict[str, Any]:
        piece = piece_number(entry.reference)
        lines = []
        for i, line in enumerate(entry.lines):
            label = line_label(line.description, line.vat_code, tag="TVA")
            if i == 0:
                label = f"{entry.narration} ({entry.reference})"
            lines.append(
                {
                    "Jour": entry.date.day,
                    "NumeroPiece": piece,
                    "Compte": line.account,
                    "Libelle": label,
                    "Debit": cents(line.debit),
                    "Credit": cents(line.credit),
                }
            )
        return {
            "CodeDossier": dossier,
            "Journal": journal,
            "Annee": entry.date.year,
            "Mois": entry.date.month,
            "LignesEcriture": lines,
        }

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """Create the ``ecriture`` unless its piece is already in the journal's month.

        ACD has no idempotency key: the lookup runs before every attempt, and the POST is
        never repeated once it may have reached the server.
        """
        self._check(entry)
        dossier = await self._dossier(entry.tenant_id)
        journal = await self._journal_code(dossier, entry.ledger_id)
        existing = await self._find(entry.reference, dossier, journal, entry.date)
        if existing is not None:
            return existing
        await self.known_accounts(entry, dossier, what="active account")
        response = await self._call(
            "POST",
            "/v1/compta/ecriture",
            content=dumps_decimal(self._payload(entry, dossier, journal)),
            headers={"Content-Type": "application/json"},
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "codeRetour" not in body:
            raise unavailable(
                PROVIDER,
                "ACD's answer to the new entry was unreadable; the entry may exist and is "
                "looked up before any retry",
            )
        if str(body.get("codeRetour")) != "1":
            raise classify(acd_errors(body), entry)
        piece = piece_number(entry.reference)
        return PostedEntry(
            self._external_id(dossier, journal, entry.date.year, entry.date.month, piece),
            entry.reference,
        )

    async def _find(
        self, reference: str, dossier: str, journal: str | None, day: date | None = None
    ) -> PostedEntry | None:
        piece = piece_number(reference)
        for year, month in period_months(reference, day):
            # GAP: integrators document no read-back of entries. We assume a listing of a
            # journal's entries for one month, ``GET /v1/compta/ecritures`` with the same
            # header fields as the write (CodeDossier, Journal, Annee, Mois).
            params: dict[str, Any] = {"CodeDossier": dossier, "Annee": year, "Mois": month}
            if journal:
                params["Journal"] = journal
            for row in self._rows(await self._get("/v1/compta/ecritures", params)):
                lines = row.get("LignesEcriture") or []
                pieces = {str(row.get("NumeroPiece") or "")}
                pieces |= {str(ln.get("NumeroPiece") or "") for ln in lines if isinstance(ln, dict)}
                if piece in pieces:
                    found_journal = str(row.get("Journal") or journal or "")
                    ext = self._external_id(dossier, found_journal, year, month, piece)
                    return PostedEntry(ext, reference)
        return None

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """Search the period's month (in the configured journal) for the entry's piece."""
        dossier = await self._dossier(tenant_id)
        journal = None
        if ledger_id:
            journal = await self.journal_or_none(self._journal_code(dossier, ledger_id))
            if journal is None:
                return None
        return await self._find(reference, dossier, journal)
