"""The ``inqom`` provider: balanced entries in an Inqom dossier ("Fred API" v1).

Endpoint keys of ``[providers.inqom]``:
  ``api_url``    default ``https://api.inqom.com``
  ``token_url``  default ``https://auth.inqom.com/identity/connect/token``
  ``client_id`` and ``client_secret_file``: the API client Inqom issues to the integrator
  ``scopes`` (option): default ``"openid apidata offline_access"``

Login: OAuth2 resource-owner password grant (an Inqom user's name and password, used once and
never stored; the refresh token keeps the login alive). The user's rights decide which dossiers
(tenants) the login reaches; activation picks one.

Reads: accounting periods (``Locked``), journals (addressed by ``Id``, shown by their code
``Name``), impactable accounts (addressed by ``Number``). Writes: ``POST /v1/dossiers/{id}/entries``
with ONE entry (the call takes up to 50, all or nothing), amounts as JSON numbers with 2 decimals,
the reference in ``Document.Reference`` and the idempotency key in ``ExternalId``. Lookup reads
the period's entry lines of the journal and matches the reference.
Rate limit: 15 requests per second per client and user (sliding window, 429).

Checked against: Inqom's "API Accounting v0.1 - 04/2021" reference (a copy in GitHub
marc-cnp/simple-comme-ca) and the api.inqom.com documentation page, with the dossier listing
taken from Inqom's current clients (shared/research/providers-fr-nl.md section 3). The error
body and the locked-period answer are assumptions, marked ``GAP``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, Tenant, VerifyResult
from providers.catalog import CATALOG
from providers.context import ProviderContext
from providers.entry_checks import refuse_closed_period, refuse_malformed
from providers.error_bodies import json_or_none
from providers.errors import ProviderError, period_locked, rejected, unavailable
from providers.http import provider_message
from providers.kit import FieldError, HttpAdapter, app_secret, ledgers_from, registered_client_id
from providers.oauth import OAuthApp
from providers.oauth_login import PasswordLogin, bearer_auth
from providers.ratelimit import RateLimitSpec
from providers.references import period_dates
from providers.settings import ProviderSettings
from providers.vat_labels import line_label
from providers.wire import cents, dumps_decimal, loads_decimal

PROVIDER = "inqom"
SCOPES = ("openid", "apidata", "offline_access")
RATE_LIMIT = RateLimitSpec(calls=15, per_seconds=1)
MAX_ENTRIES_PER_CALL = 50  # documented; bexsync posts one entry per call
MAX_PAGES = 1000  # entry-line pages read by one lookup, a guard against a server that loops


# --- errors -------------------------------------------------------------------------------------

# GAP: Inqom's docs do not specify the error body ("message sometimes") nor what a POST into a
# locked accounting period answers. We assume the ASP.NET Web API shape of this .NET service,
# ``{"Message": ..., "ModelState": {"field": ["message", ...]}}``, a 400 naming the locked
# period, and a 409 for an ExternalId Inqom has already stored. This function is the one place
# that reads them; the adapter also checks ``Locked`` periods itself before posting.
_LOCKED = re.compile(r"(?i)\b(locked|closed|clôturée?|verrouillée?)\b")


def _field_errors(response: httpx.Response) -> tuple[FieldError, ...]:
    body = json_or_none(response)
    state = body.get("ModelState") if isinstance(body, dict) else None
    if not isinstance(state, dict):
        return ()
    found: list[FieldError] = []
    for name, messages in list(state.items())[:20]:
        items = messages if isinstance(messages, list) else [messages]
        found.extend(FieldError(str(name), str(m)[:300]) for m in items)
    return tuple(found)


def _error_mapper(response: httpx.Response) -> ProviderError | None:
    status = response.status_code
    if status not in (400, 409, 422):
        return None  # 401/403/404/429/5xx: the shared mapping (and its retries) applies
    message = provider_message(response) or "no reason given"
    fields = _field_errors(response)
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields) or message
    if _LOCKED.search(detail) or _LOCKED.search(message):
        return period_locked(PROVIDER, f"Inqom refused a date in a locked period: {detail}")
    if status == 409:
        return rejected(
            PROVIDER, f"Inqom already holds this entry (HTTP 409): {message}", status=409
        )
    return rejected(
        PROVIDER,
        f"Inqom rejected the request (HTTP {status}): {detail}",
        fields or (FieldError("entry", message),),
        status=status,
    )


# --- the app registration and login -------------------------------------------------------------


def app_for(settings: ProviderSettings, redirect_uri: str | None) -> OAuthApp:
    """Inqom's API client (id and secret issued by Inqom) for the password grant."""
    client_id = registered_client_id(
        PROVIDER,
        settings,
        "register with Inqom first: set client_id and client_secret_file in [providers.inqom] "
        "of bexsyncd.toml",
    )
    secret = app_secret(
        PROVIDER,
        settings,
        "Inqom needs the API client's secret: set client_secret_file in [providers.inqom]",
    )
    raw_scopes = settings.options.get("scopes")
    return OAuthApp(
        provider=PROVIDER,
        client_id=client_id,
        client_secret=secret,
        token_url=settings.url("token_url", CATALOG[PROVIDER].settings["token_url"]),
        scopes=tuple(str(raw_scopes).split()) if raw_scopes else SCOPES,
        use_pkce=False,
        grant_type="password",
    )


# --- the adapter -------------------------------------------------------------------------------


class InqomProvider(
    HttpAdapter,
    provider="inqom",
    login=PasswordLogin(app_for),
    rate_limit=RATE_LIMIT,
    errors=_error_mapper,
    app_registration=True,
):
    """An Inqom user's login; each dossier it may see is a tenant."""

    def __init__(self, ctx: ProviderContext, **kw: Any) -> None:
        super().__init__(ctx, **kw)
        self._dossiers: list[Tenant] | None = None

    def auth(self) -> httpx.Auth:
        return bearer_auth(self.ctx, app_for(self.ctx.settings, None))

    # -- reading ---------------------------------------------------------------------------
    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = await self.http.get(path, params=params)
        try:
            return loads_decimal(response.content)
        except (ValueError, UnicodeDecodeError):
            raise unavailable(
                PROVIDER, f"Inqom answered {response.request.url.path} with something not JSON"
            ) from None

    async def _list_dossiers(self) -> list[Tenant]:
        """Every dossier the user may see.

        GAP: the 2021 reference has no dossier listing; Inqom's current clients use the
        provisioning routes below. We assume ``internal-access`` lists the user's companies as
        ``[{"CompanyId", "CompanyName"}]`` and ``accounting-folders`` their dossiers as
        ``[{"Id", "Name"}]``, the ``Id`` being the ``dossierId`` of the v1 routes.
        """
        dossiers: dict[str, Tenant] = {}
        companies = await self._get("/provisioning/users/internal-access")
        for company in companies if isinstance(companies, list) else []:
            company_id = company.get("CompanyId") or company.get("Id")
            if company_id is None:
                continue
            folders = await self._get(f"/provisioning/companies/{company_id}/accounting-folders")
            for folder in folders if isinstance(folders, list) else []:
                ident = str(folder.get("Id", ""))
                if ident and ident not in dossiers:
                    dossiers[ident] = Tenant(ident, str(folder.get("Name") or f"Dossier {ident}"))
        return sorted(dossiers.values(), key=lambda t: t.name)

    async def list_tenants(self) -> list[Tenant]:
        if self._dossiers is None:
            self._dossiers = await self._list_dossiers()
        return list(self._dossiers)

    async def _dossier(self, tenant_id: str | None) -> str:
        return await self.chosen_tenant(tenant_id, self.list_tenants, "dossier")

    async def verify(self) -> VerifyResult:
        self._dossiers = None
        dossiers = await self.list_tenants()
        if not dossiers:
            raise rejected(
                PROVIDER,
                "the Inqom user can see no dossier; ask the firm to grant it access to one",
            )
        chosen = self.ctx.options.get("tenant_id")
        target = chosen if chosen in {d.id for d in dossiers} else None
        if target is None and len(dossiers) == 1:
            target = dossiers[0].id
        if target is not None:
            journals = await self.list_ledgers(target)
            name = next(d.name for d in dossiers if d.id == target)
            return VerifyResult(
                True,
                f"connected to Inqom dossier {name!r} ({len(journals)} journals)",
                tuple(dossiers),
            )
        return VerifyResult(
            True, f"connected to Inqom: {len(dossiers)} dossiers, choose one", tuple(dossiers)
        )

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        dossier = await self._dossier(tenant_id)
        rows = await self._get(f"/v1/dossiers/{dossier}/journals")
        return ledgers_from(rows if isinstance(rows, list) else [], "Id", "Name", "Description")

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        dossier = await self._dossier(tenant_id)
        rows = await self._get(
            f"/v1/dossiers/{dossier}/accounts", params={"accountType": "Impactable"}
        )
        found: dict[str, Account] = {}
        for row in rows if isinstance(rows, list) else []:
            if row.get("IsImpactable") is False:
                continue  # a heading of the chart: entries cannot use it
            number = str(row.get("Number") or "")
            if number and number not in found:
                found[number] = Account(number, str(row.get("Name") or ""))
        return sorted(found.values(), key=lambda a: a.code)

    # -- writing ---------------------------------------------------------------------------
    async def _journal_id(self, dossier: str, ledger_id: str) -> int:
        """The journal's id from the configured ledger id, or from its code (``BEX``)."""
        return int((await self.ledger(ledger_id, dossier, "in this dossier")).id)

    async def _check_period(self, dossier: str, day: date) -> None:
        """A locked accounting period is refused before anything is sent."""
        rows = await self._get(f"/v1/dossiers/{dossier}/accounting-periods")
        periods = rows if isinstance(rows, list) else []
        refuse_closed_period(PROVIDER, "Inqom", day, periods, ("BeginDate", "EndDate", "Locked"))

    @staticmethod
    def payload(entry: JournalEntry, journal_id: int, key: str) -> list[dict[str, Any]]:
        """The body of ``POST /entries``: one entry, the reference where lookup finds it."""
        return [
            {
                "JournalId": journal_id,
                "Date": entry.date.isoformat(),
                "Label": entry.narration,
                "Document": {"Reference": entry.reference, "Date": entry.date.isoformat()},
                "ExternalId": key,
                "Lines": [
                    {
                        "AccountNumber": line.account,
                        "Label": line_label(line.description, line.vat_code),
                        "DebitAmount": cents(line.debit),
                        "CreditAmount": cents(line.credit),
                        "Currency": entry.currency,
                    }
                    for line in entry.lines
                ],
            }
        ]

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """Create the entry with ``ExternalId`` = the idempotency key.

        The POST is not retried by the HTTP layer once it may have reached Inqom (its dedup of
        ExternalId is not documented); the engine looks the reference up before any new try.
        """
        refuse_malformed(PROVIDER, "Inqom", entry)
        dossier = await self._dossier(entry.tenant_id)
        journal_id = await self._journal_id(dossier, entry.ledger_id)
        await self._check_period(dossier, entry.date)
        await self.known_accounts(entry, dossier, what="impactable account")
        body = dumps_decimal(self.payload(entry, journal_id, idempotency_key))
        try:
            response = await self.http.post(
                f"/v1/dossiers/{dossier}/entries",
                content=body,
                headers={"Content-Type": "application/json"},
            )
        except ProviderError as exc:
            if exc.status != 409:
                raise
            found = await self._find(dossier, entry.reference, journal_id, idempotency_key)
            if found is None:
                raise
            return found
        try:
            created = loads_decimal(response.content)
            return PostedEntry(str(created[0]["Id"]), entry.reference)
        except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError):
            raise unavailable(
                PROVIDER,
                "Inqom's answer to the new entry was unreadable; the entry may exist and is "
                "looked up before any retry",
            ) from None

    # -- lookup ----------------------------------------------------------------------------
    @staticmethod
    def _line_matches(line: Mapping[str, Any], reference: str, key: str | None) -> bool:
        """GAP: the entry-lines listing is documented only by its filters. We assume each line
        carries its entry's ``EntryId``, ``ExternalId`` and ``Document.Reference``."""
        raw = line.get("Document")
        document: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if str(document.get("Reference") or line.get("DocumentReference") or "") == reference:
            return True
        return key is not None and str(line.get("ExternalId") or "") == key

    async def _find(
        self, dossier: str, reference: str, journal_id: int | None, key: str | None = None
    ) -> PostedEntry | None:
        span = period_dates(reference)
        if span is None:
            return None
        params: dict[str, Any] = {
            "startDate": span[0].isoformat(),
            "endDate": span[1].isoformat(),
        }
        if journal_id is not None:
            params["journalId"] = journal_id
        for page in range(1, MAX_PAGES + 1):
            lines = await self._get(
                f"/v1/dossiers/{dossier}/entry-lines", params={**params, "pageNumber": page}
            )
            if not isinstance(lines, list) or not lines:
                return None
            for line in lines:
                if isinstance(line, Mapping) and self._line_matches(line, reference, key):
                    return PostedEntry(str(line["EntryId"]), reference)
        return None

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """The entry with this reference in the period's dates (and journal, when given)."""
        dossier = await self._dossier(tenant_id)
        journal_id = None
        if ledger_id:
            journal_id = await self.journal_or_none(self._journal_id(dossier, ledger_id))
            if journal_id is None:
                return None
        return await self._find(dossier, reference, journal_id)
