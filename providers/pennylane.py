"""The ``pennylane`` provider: Pennylane Company API v2, one entry = one ledger entry.

Endpoint keys of ``[providers.pennylane]``:
  ``api_url``  default ``https://app.pennylane.com/api/external/v2``

Login: the company API token (Settings > Connectivity > Developers; scopes ``journals:readonly``,
``ledger_accounts:readonly``, ``ledger_entries:all``) in a credentials form. One token reaches one
company, which is the only tenant. Partners' OAuth2 code flow is not offered yet.

Writes: ``POST /ledger_entries`` with ``journal_id``, ``ledger_account_id`` per line (account
numbers resolved to Pennylane's ids first) and debit/credit as decimal strings. Pennylane has no
idempotency key, so exactly-once rests on lookup: the entry's label carries the reference, and
``find_entry`` lists the journal's entries in the period's dates and matches the label. The POST
itself is never retried after it may have reached the server (the shared HTTP layer's rule).
Rate limit: 25 requests per 5 seconds per token (``ratelimit-*`` headers).

Checked against: Pennylane's Company API v2 documentation (pennylane.readme.io: the ledger
entry guide and reference, OAuth, scopes, rate limiting and the 2026 changes;
shared/research/providers-fr-nl.md section 1). Pennylane serves an OpenAPI file, not vendored
here, so requests are not validated against it; the locked-period answer is an assumption,
marked ``GAP``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, Tenant, VerifyResult
from providers.context import ProviderContext
from providers.entry_checks import refuse_malformed
from providers.errors import ProviderError, period_locked, rejected, unavailable
from providers.http import provider_message
from providers.kit import FieldError, HttpAdapter
from providers.login import CredentialField, CredentialsLogin
from providers.ratelimit import RateLimitSpec
from providers.redact import register_secret
from providers.references import period_dates, reference_pattern
from providers.vat_labels import line_label

PROVIDER = "pennylane"
RATE_LIMIT = RateLimitSpec(
    calls=25,
    per_seconds=5,
    remaining_header="ratelimit-remaining",
    reset_header="ratelimit-reset",
)
MAX_LINES = 1000
PAGE_LIMIT = 100  # journals and ledger entries: at most 100 per page
ACCOUNT_PAGE_LIMIT = 1000  # ledger accounts: at most 1000 per page
CENT = Decimal("0.01")

# GAP: Pennylane does not document what POST /ledger_entries answers for a date in a closed or
# frozen fiscal period. We assume the 422 ``{"error": ..., "status": 422}`` shape of its other
# refusals with a message naming the closed/frozen period; this pattern is the one place that
# recognises it.
_LOCKED_WORDS = re.compile(r"(?i)\b(closed|frozen|locked|clôturée?|figée?)\b")
_PERIOD_WORDS = re.compile(r"(?i)\b(fiscal|period|exercice|période)")


def is_locked_message(message: str) -> bool:
    return bool(_LOCKED_WORDS.search(message) and _PERIOD_WORDS.search(message))


def _error_mapper(response: httpx.Response) -> ProviderError | None:
    """Pennylane's own refusals: closed periods and 422 validation messages."""
    status = response.status_code
    if status not in (400, 422):
        return None
    message = provider_message(response)
    if is_locked_message(message):
        return period_locked(PROVIDER, f"Pennylane refused a date in a closed period: {message}")
    field = "ledger_entry" if status == 422 else "request"
    return rejected(
        PROVIDER,
        f"Pennylane rejected the request (HTTP {status}): {message or 'no reason given'}",
        (FieldError(field, message or "invalid"),),
        status=status,
    )


def _amount(value: Decimal) -> str:
    """Pennylane takes amounts as decimal strings with two places."""
    return str(value.quantize(CENT))


def entry_label(entry: JournalEntry) -> str:
    """The ledger entry's label; it always contains the reference, which is what lookup finds."""
    if reference_pattern(entry.reference).search(entry.narration):
        return entry.narration
    return f"{entry.narration} ({entry.reference})"


LOGIN = CredentialsLogin(
    (
        CredentialField(
            "api_token",
            "Pennylane company API token",
            secret=True,
            pattern=r"\S{8,}",
            hint="the token from Pennylane > Settings > Connectivity > Developers",
        ),
    )
)


class PennylaneProvider(
    HttpAdapter, provider="pennylane", login=LOGIN, rate_limit=RATE_LIMIT, errors=_error_mapper
):
    """An authorised Pennylane company, reached with its API token."""

    def __init__(self, ctx: ProviderContext, **kw: Any) -> None:
        self._token = str(ctx.credentials.get("api_token") or "")
        register_secret(self._token)  # the header value is registered whole; the token alone too
        super().__init__(ctx, **kw)
        self._company: Tenant | None = None

    def headers(self) -> dict[str, str]:
        headers = {**super().headers(), "X-Use-2026-API-Changes": "true"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    # -- reading ---------------------------------------------------------------------------
    def _require_token(self) -> None:
        if not self._token:
            raise self.login_missing("API token")

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        self._require_token()
        return await self.http.get_json(path, params=params)

    async def _items(
        self, path: str, limit: int, filters: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paginated list (``items``, ``has_more``, ``next_cursor``)."""
        params: dict[str, Any] = {"limit": limit}
        if filters:
            params["filter"] = json.dumps(filters, separators=(",", ":"))
        while True:
            body = await self._get(path, params)
            for item in body.get("items") or []:
                yield item
            cursor = body.get("next_cursor")
            if not body.get("has_more") or not cursor:
                return
            params = {**params, "cursor": cursor}

    async def _me(self) -> Tenant:
        if self._company is None:
            body = await self._get("/me")
            company = body.get("company") or {}
            self._company = Tenant(str(company.get("id", "")), str(company.get("name", "")))
        return self._company

    async def verify(self) -> VerifyResult:
        self._company = None  # asks Pennylane, whatever is known already
        company = await self._me()
        journals = await self.list_ledgers(None)
        return VerifyResult(
            True,
            f"connected to Pennylane company {company.name!r} ({len(journals)} journals)",
            (company,),
        )

    async def list_tenants(self) -> list[Tenant]:
        return [await self._me()]

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        return [
            Ledger(str(j["id"]), str(j.get("code", "")), str(j.get("label", "")))
            async for j in self._items("/journals", PAGE_LIMIT)
        ]

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        """Enabled accounts by number. One number may map to several ids (Pennylane's guide
        warns of it): the lowest enabled id wins."""
        found: dict[str, Account] = {}
        async for row in self._items("/ledger_accounts", ACCOUNT_PAGE_LIMIT):
            if row.get("enabled") is False:
                continue
            number = str(row["number"])
            if number not in found or int(row["id"]) < int(found[number].id or 0):
                found[number] = Account(number, str(row.get("label", "")), str(row["id"]))
        return sorted(found.values(), key=lambda a: a.code)

    # -- writing ---------------------------------------------------------------------------
    async def _journal_id(self, ledger_id: str) -> int:
        """The journal's id from the configured ledger id, or from its code (``BEX``)."""
        return int((await self.ledger(ledger_id, None)).id)

    def _check(self, entry: JournalEntry) -> None:
        too_long = [FieldError("lines", f"Pennylane takes at most {MAX_LINES} lines per entry")]
        refuse_malformed(
            PROVIDER, "Pennylane", entry, too_long if len(entry.lines) > MAX_LINES else ()
        )

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """Create the ledger entry, unless one with this reference exists already.

        Pennylane has no idempotency key, so the lookup (date, journal, label) runs before every
        attempt: a retry after a lost answer finds the first entry instead of adding a second.
        """
        self._check(entry)
        journal_id = await self._journal_id(entry.ledger_id)
        existing = await self.find_entry(entry.reference, entry.tenant_id, str(journal_id))
        if existing is not None:
            return existing
        accounts = await self.known_accounts(entry, entry.tenant_id, what="ledger account")
        ids = {code: int(account.id or 0) for code, account in accounts.items()}
        payload = {
            "date": entry.date.isoformat(),
            "label": entry_label(entry),
            "journal_id": journal_id,
            "currency": entry.currency,
            "ledger_entry_lines": [
                {
                    "ledger_account_id": ids[line.account],
                    "debit": _amount(line.debit),
                    "credit": _amount(line.credit),
                    "label": line_label(line.description, line.vat_code),
                }
                for line in entry.lines
            ],
        }
        self._require_token()
        response = await self.http.post("/ledger_entries", json=payload)
        try:
            return PostedEntry(str(response.json()["id"]), entry.reference)
        except (ValueError, KeyError, TypeError):
            # The entry was probably created: say so, and let the next attempt look it up.
            raise unavailable(
                PROVIDER,
                "Pennylane's answer to the new ledger entry was unreadable; the entry may "
                "exist and is looked up before any retry",
            ) from None

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """Look the reference up by date (the period's days), journal and label."""
        filters: list[dict[str, Any]] = []
        if ledger_id:
            journal_id = await self.journal_or_none(self._journal_id(ledger_id))
            if journal_id is None:
                return None
            filters.append({"field": "journal_id", "operator": "eq", "value": str(journal_id)})
        span = period_dates(reference)
        if span is not None:
            filters.append({"field": "date", "operator": "gteq", "value": span[0].isoformat()})
            filters.append({"field": "date", "operator": "lteq", "value": span[1].isoformat()})
        pattern = reference_pattern(reference)
        async for row in self._items("/ledger_entries", PAGE_LIMIT, filters):
            if pattern.search(str(row.get("label") or "")):
                return PostedEntry(str(row["id"]), reference)
        return None
