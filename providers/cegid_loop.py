"""The ``cegid_loop`` provider: Cegid Loop's public APIs (Azure API Management), async imports.

Endpoint keys of ``[providers.cegid_loop]``:
  ``api_url``  default ``https://api.cegid.com/loop-api-publiques``
App registration: ``client_secret_file`` holds the ``Ocp-Apim-Subscription-Key`` that Cegid gives
its partner (sent on every call); ``client_id`` names that subscription (not sent; it marks the
app as registered).

Login: a credentials form with the dossier code and the firm's API key (``key:secret``, made by
the firm's administrator in CegidLife and activated in LoopHub), sent as ``x-apikey``. The dossier
is the only tenant.

Writes: ``POST /importJson`` registers an import that Cegid processes asynchronously: accepting
it is not posting it. ``post_entry`` submits once, then polls the import's status with
exponential back-off (about a minute in all) until it is done (the entry is then read back from
``GET /EcritureComptable`` for its id) or failed (mapped to rejected / period_locked). Still
pending at the end of the bound: ``unavailable`` (retryable). Every attempt first looks the
reference up, both among the booked entries and among the dossier's imports, so a retry or a
recovery after a daemon restart resumes polling the first import instead of submitting a second
one. ``find_entry`` reports an import still being processed as ``PostedEntry(status="pending")``.

Checked against: Cegid's developer portal (developers.cegid.com: Loop APIs' authentication,
journals, accounts, EcritureComptable lookup and importJson envelope; shared/research/
providers-fr-nl.md section 5). Cegid does not publish the line schema of ``importJson``, the
import-status endpoints, the error list or quotas: each such assumption is marked ``GAP`` below
and kept in one place.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, Tenant, VerifyResult
from providers.context import ProviderContext
from providers.entry_checks import refuse_malformed
from providers.error_bodies import json_or_none
from providers.errors import ProviderError, auth_expired, period_locked, rejected, unavailable
from providers.http import provider_message
from providers.kit import FieldError, HttpAdapter, ledgers_from
from providers.login import CredentialField, CredentialsLogin
from providers.ratelimit import RateLimitSpec
from providers.redact import register_secret
from providers.references import month_span
from providers.settings import SettingsError
from providers.vat_labels import line_label
from providers.wire import cents

PROVIDER = "cegid_loop"
# GAP: no quota figure is published for the Loop APIs; APIM products are typically limited per
# subscription per minute. Stay well under a modest one.
RATE_LIMIT = RateLimitSpec(calls=100, per_seconds=60, concurrent=4)
PAGE_SIZE = 100  # ``take``: the lookup API returns at most 100 rows
ORIGIN = "BEXSYNC"  # ``ecritureOrigine`` of every entry we import: the mandatory lookup filter

# Polling an import: first look after POLL_FIRST seconds, doubling up to POLL_CAP, at most
# POLL_BUDGET seconds of waiting in one post_entry call.
POLL_FIRST = 0.5
POLL_CAP = 15.0
POLL_BUDGET = 60.0

# GAP: the "statuts des imports" / "historique des imports" APIs are named in Cegid's docs but
# their paths and fields were not captured. Assumed: ``POST /importJson`` answers
# ``{"idImport": ...}``; ``GET /statutImport?codeDossier=&idImport=`` and ``GET
# /historiqueImport?codeDossier=`` (newest first) answer import rows ``{idImport, statut,
# refPieces, erreurs: [{code, message}]}``. These constants and ``import_state`` /
# ``import_carries`` below are the only places that know it.
STATUS_PATH = "/statutImport"
HISTORY_PATH = "/historiqueImport"
_PENDING = {"enattente", "encours", "pending", "running", "queued", "nouveau"}
_DONE = {"termine", "terminé", "succes", "succès", "done", "ok", "integre", "intégré"}


def import_state(row: dict[str, Any]) -> str:
    """``pending``, ``done`` or ``failed`` from an import row's ``statut``."""
    statut = str(row.get("statut") or "").strip().lower().replace(" ", "")
    if statut in _PENDING:
        return "pending"
    if statut in _DONE:
        return "done"
    return "failed"


def import_carries(row: dict[str, Any], reference: str) -> bool:
    return reference in [str(r) for r in row.get("refPieces") or []]


def _rows(body: Any) -> list[dict[str, Any]]:
    """GAP: list endpoints are assumed to answer a JSON array; a ``data``/``items``/``value``
    envelope is accepted too."""
    if isinstance(body, dict):
        for key in ("data", "items", "value"):
            if isinstance(body.get(key), list):
                body = body[key]
                break
    return [row for row in body if isinstance(row, dict)] if isinstance(body, list) else []


_LOCKED = re.compile(r"(?i)(clôtur|clotur|verrouill|period(e)? (close|ferm)|exercice ferm)")
_ACCOUNT = re.compile(r"(?i)compte\s+(\S+)")


def classify(errors: list[dict[str, Any]], entry: JournalEntry | None) -> ProviderError:
    """A failed import's errors in the taxonomy (closed period, unknown accounts, the rest)."""
    texts = [
        f"{e.get('code')}: {e.get('message')}" if e.get("code") else str(e.get("message") or "")
        for e in errors
    ]
    summary = "; ".join(t for t in texts if t) or "no reason given"
    if any(_LOCKED.search(t) for t in texts):
        return period_locked(PROVIDER, f"Cegid Loop refused a date in a closed period: {summary}")
    fields: list[FieldError] = []
    for text in texts:
        where = "entry"
        match = _ACCOUNT.search(text)
        if match and entry is not None:
            for i, line in enumerate(entry.lines):
                if line.account == match.group(1).strip(".,;:'\""):
                    where = f"lines[{i}].account"
                    break
        fields.append(FieldError(where, text))
    return rejected(PROVIDER, f"Cegid Loop refused the import: {summary}", tuple(fields))


def _error_mapper(response: httpx.Response) -> ProviderError | None:
    """Synchronous 400/422 refusals of a request, with their field errors when given."""
    status = response.status_code
    if status not in (400, 422):
        return None
    message = provider_message(response)
    fields: list[FieldError] = []
    body = json_or_none(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, dict):
        for key, msgs in errors.items():
            msgs = msgs if isinstance(msgs, list) else [msgs]
            fields.append(FieldError(str(key), ", ".join(str(m) for m in msgs)))
    return rejected(
        PROVIDER,
        f"Cegid Loop rejected the request (HTTP {status}): {message or 'no reason given'}",
        tuple(fields) or (FieldError("request", message or "invalid"),),
        status=status,
    )


def _amount(value: Decimal) -> str:
    return str(cents(value))


LOGIN = CredentialsLogin(
    (
        CredentialField(
            "dossier",
            "Cegid Loop dossier code",
            pattern=r"[A-Za-z0-9_.-]{1,64}",
            hint="the code of the dossier (client company) in Cegid Loop",
        ),
        CredentialField(
            "api_key",
            "Cegid Loop API key (key:secret)",
            secret=True,
            pattern=r"[^:\s]+:\S+",
            hint="the APIKey made in CegidLife and activated in LoopHub, as key:secret",
        ),
    )
)


class CegidLoopProvider(
    HttpAdapter,
    provider="cegid_loop",
    login=LOGIN,
    rate_limit=RATE_LIMIT,
    errors=_error_mapper,
    app_registration=True,
):
    """One Cegid Loop dossier, reached with the partner's subscription and the firm's API key."""

    def __init__(
        self,
        ctx: ProviderContext,
        *,
        poll_first: float = POLL_FIRST,
        poll_cap: float = POLL_CAP,
        poll_budget: float = POLL_BUDGET,
        **kw: Any,
    ) -> None:
        self._api_key = str(ctx.credentials.get("api_key") or "")
        self._dossier = str(ctx.options.get("dossier") or ctx.options.get("tenant_id") or "")
        self._settings_problem = ""
        try:
            subscription = ctx.settings.client_secret()
        except SettingsError as exc:
            subscription, self._settings_problem = None, str(exc)
        self._subscription = subscription or ""
        register_secret(self._api_key)
        self._poll = (poll_first, poll_cap, poll_budget)
        super().__init__(ctx, **kw)

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self._subscription:
            headers["Ocp-Apim-Subscription-Key"] = self._subscription
        if self._api_key:
            headers["x-apikey"] = self._api_key
        return headers

    # -- reading ----------------------------------------------------------------------------
    def _require_keys(self) -> None:
        if not self._subscription:
            raise auth_expired(
                PROVIDER,
                self._settings_problem
                or "no Cegid Loop subscription key: set client_secret_file in "
                "[providers.cegid_loop] of the config file",
            )
        if not self._api_key:
            raise self.login_missing("API key")
        if not self._dossier:
            raise self.login_missing("dossier code")

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        self._require_keys()
        return await self.http.get_json(path, params={"codeDossier": self._dossier, **params})

    async def _all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every row of a ``skip``/``take`` paginated list."""
        rows: list[dict[str, Any]] = []
        skip = 0
        while True:
            page = _rows(await self._get(path, {**(params or {}), "skip": skip, "take": PAGE_SIZE}))
            rows.extend(page)
            if len(page) < PAGE_SIZE:
                return rows
            skip += PAGE_SIZE

    async def verify(self) -> VerifyResult:
        journals = await self.fresh_ledgers(None)
        return VerifyResult(
            True,
            f"connected to Cegid Loop dossier {self._dossier} ({len(journals)} journals)",
            tuple(await self.list_tenants()),
        )

    async def list_tenants(self) -> list[Tenant]:
        return [Tenant(self._dossier, f"Dossier {self._dossier}")] if self._dossier else []

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        return ledgers_from(await self._all("/journal"), "code", "code", "libelle")

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        return sorted(
            (
                Account(str(c["numero"]), str(c.get("libelle") or ""), str(c.get("objectId", "")))
                for c in await self._all("/compte")
                if c.get("numero") and not c.get("ferme")
            ),
            key=lambda a: a.code,
        )

    # -- lookup -----------------------------------------------------------------------------
    async def _booked(self, reference: str, journal: str | None) -> PostedEntry | None:
        """The entry with this reference among the booked entries, if Cegid has it."""
        # GAP: the filter syntax is assumed OData-like; ``ecritureOrigine`` is mandatory.
        clauses = [f"ecritureOrigine eq '{ORIGIN}'", f"refPiece eq '{_quote(reference)}'"]
        if journal:
            clauses.append(f"journalCode eq '{_quote(journal)}'")
        rows = _rows(await self._get("/EcritureComptable", {"filter": " and ".join(clauses)}))
        for row in rows:
            if str(row.get("refPiece")) == reference and row.get("objectId") is not None:
                return PostedEntry(str(row["objectId"]), reference)
        return None

    async def _latest_import(
        self, reference: str, states: tuple[str, ...] = ("pending", "done")
    ) -> dict[str, Any] | None:
        """The newest import carrying this reference, if it is in one of ``states``.

        A failed import posted nothing: it neither blocks a new import nor counts as found.
        """
        for row in _rows(await self._get(HISTORY_PATH, {})):
            if import_carries(row, reference):
                return row if import_state(row) in states else None
        return None

    async def _journal_code(self, ledger_id: str) -> str:
        return (await self.ledger(ledger_id, None, f"in dossier {self._dossier}")).id

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """Booked: ``posted``. Submitted and still processing: ``pending`` (its import id)."""
        journal = None
        if ledger_id:
            journal = await self.journal_or_none(self._journal_code(ledger_id))
            if journal is None:
                return None
        booked = await self._booked(reference, journal)
        if booked is not None:
            return booked
        # A processed import is only "found" once its entry is readable in that journal.
        row = await self._latest_import(reference, ("pending",))
        if row is None:
            return None
        return PostedEntry(f"import:{row['idImport']}", reference, status="pending")

    # -- writing ----------------------------------------------------------------------------
    def _check(self, entry: JournalEntry) -> None:
        refuse_malformed(PROVIDER, "Cegid Loop", entry)

    def _import_body(self, entry: JournalEntry, journal: str) -> dict[str, Any]:
        # GAP: Cegid does not publish the ``ecritures`` item schema. The field names follow the
        # documented lookup filters (journalCode, datePiece, refPiece, ecritureOrigine,
        # compteNumero); amounts are decimal strings. ``codeIbs`` is taken to be the dossier code.
        first, last = month_span(entry.date)
        lines = []
        for line in entry.lines:
            label = line_label(line.description, line.vat_code, tag="TVA")
            lines.append(
                {
                    "compteNumero": line.account,
                    "libelle": label,
                    "debit": _amount(line.debit),
                    "credit": _amount(line.credit),
                }
            )
        return {
            "codeIbs": self._dossier,
            "data": {
                "contexte": {"from": first.isoformat(), "to": last.isoformat()},
                "options": {"creerComptes": False},
                "ecritures": [
                    {
                        "journalCode": journal,
                        "datePiece": entry.date.isoformat(),
                        "refPiece": entry.reference,
                        "ecritureOrigine": ORIGIN,
                        "libelle": entry.narration,
                        "devise": entry.currency,
                        "lignes": lines,
                    }
                ],
            },
        }

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """Submit the import once, then wait for Cegid to process it.

        A booked entry with this reference is returned as it is; an import of it still being
        processed is waited for, never submitted again.
        """
        self._check(entry)
        journal = await self._journal_code(entry.ledger_id)
        booked = await self._booked(entry.reference, journal)
        if booked is not None:
            return booked
        await self.known_accounts(entry, None, what="open account")
        running = await self._latest_import(entry.reference)
        if running is not None:
            import_id = str(running["idImport"])
        else:
            import_id = await self._submit(entry, journal)
        return await self._wait(import_id, entry, journal)

    async def _submit(self, entry: JournalEntry, journal: str) -> str:
        self._require_keys()
        response = await self.http.post("/importJson", json=self._import_body(entry, journal))
        try:
            body = response.json()
            return str(body["idImport"])
        except (ValueError, KeyError, TypeError):
            raise unavailable(
                PROVIDER,
                "Cegid Loop accepted the import but its answer was unreadable; the import is "
                "looked up before any retry",
            ) from None

    async def _wait(self, import_id: str, entry: JournalEntry, journal: str) -> PostedEntry:
        """Poll the import with exponential back-off until done or failed, within the bound."""
        first, cap, budget = self._poll
        delay, waited = first, 0.0
        while True:
            row = _rows([await self._get(STATUS_PATH, {"idImport": import_id})])
            state = import_state(row[0]) if row else "pending"
            if state == "failed":
                raise classify(list(row[0].get("erreurs") or []), entry)
            if state == "done":
                booked = await self._booked(entry.reference, journal)
                if booked is not None:
                    return booked
                # processed but not yet readable: keep waiting like a pending import
            if waited + delay > budget:
                raise unavailable(
                    PROVIDER,
                    f"Cegid Loop is still processing import {import_id} after {waited:.0f} s; "
                    "it is checked again later and never submitted twice",
                    retry_after=cap,
                )
            await self.sleep(delay)
            waited += delay
            delay = min(delay * 2, cap)


def _quote(value: str) -> str:
    return value.replace("'", "''")
