"""The ``minox`` provider: Minox (NL) REST API 1, one entry = one transaction line batch.

Endpoint keys of ``[providers.minox]``:
  ``api_url``        default ``https://app.minox.nl/api/1``
  ``authorize_url``  default ``https://app.minox.nl/oauth/authorize``
  ``token_url``      default ``https://app.minox.nl/oauth/token``
Other keys: ``client_id`` and ``client_secret_file`` (from Minox's open-API programme; required).

Login: OAuth2 authorization code (+ PKCE, harmless where unused) by the subscription's main user.
``POST /inspect`` (the app's basic auth, the access token in the body) says which tenants
(Minox customer numbers) the token reaches; each tenant has administrations. A bexsync tenant is
``{tenant}/{administration}``.

Writes: ``PUT /tenant/{t}/administration/{a}/transaction_line_batch/{uuid}`` with the batch uuid
= uuid5 of the run's idempotency key: the same key always addresses the same batch and a second
PUT replaces it, never adds one (capability "key"). The batch is read back with GET to confirm
it holds what was sent. Lines carry the reference in their description, which is how
``find_entry`` recognises them among the year's ``transaction_lines``. Amounts are JSON numbers
written exactly from ``Decimal``. VAT: Minox advises integrations not to send VAT codes (the
ledger accounts carry them) and BEX posts VAT on its own lines, so the BEX codes are accepted and
named in the line description only.

Checked against: assumptions from third parties. Minox's REST docs were not available in a
form we could read; the routes, batch body and rate-limit headers come from the onetoweb/minox
PHP client, Apideck's and Chift's connector notes (shared/research/providers-fr-nl.md section
8). Each assumption is marked ``GAP``.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncGenerator, Generator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, Tenant, VerifyResult
from providers.catalog import CATALOG
from providers.context import ProviderContext
from providers.entry_checks import refuse_malformed
from providers.error_bodies import json_or_none
from providers.errors import ProviderError, period_locked, rejected, unavailable
from providers.http import provider_message
from providers.kit import FieldError, HttpAdapter, app_secret, registered_client_id
from providers.oauth import BearerAuth, OAuthApp
from providers.oauth_login import OAuthCodeLogin, bearer_auth
from providers.ratelimit import RateLimitSpec
from providers.redact import register_secret
from providers.references import reference_pattern
from providers.settings import ProviderSettings
from providers.vat_labels import label_tax_codes, line_label
from providers.wire import dumps_decimal

PROVIDER = "minox"
SCOPES = (
    "administration:read",
    "journal:read",
    "ledger_account:read",
    "transaction:read",
    "transaction:write",
)
# GAP: Minox publishes no rate limit. Its client library reads x-rate-limit-limit/-remaining/
# -reset (reset in epoch milliseconds, which the shared limiter cannot read, so only
# "remaining" is used); Apideck saw 20 requests per window and then a 120-second Retry-After.
# The 60-second window is our assumption.
RATE_LIMIT = RateLimitSpec(calls=20, per_seconds=60, remaining_header="x-rate-limit-remaining")
# The uuid5 namespace of batch ids: fixed forever, or replays would address new batches.
BATCH_NAMESPACE = uuid.UUID("6f1d2a4e-8c3b-5e7f-9a10-b2c4d6e8f0a1")
# GAP: Minox does not document a length for a line's description; 255 is assumed.
DESCRIPTION_MAX = 255
TAX_CODES = label_tax_codes("line description")
_TENANT = re.compile(r"^(\d{1,18})/(\d{1,18})$")
_LOCKED_WORDS = re.compile(r"(?i)\b(afgesloten|gesloten|geblokkeerd|closed|locked|blocked)\b")
_PERIOD_WORDS = re.compile(r"(?i)(periode|period|boekjaar|fiscal year)")


def batch_uuid(idempotency_key: str) -> uuid.UUID:
    """The batch id for a run: deterministic, so a replay replaces instead of duplicating."""
    return uuid.uuid5(BATCH_NAMESPACE, idempotency_key)


def period_of(day: date, administration: Mapping[str, Any]) -> dict[str, int]:
    """The Minox period of a date.

    GAP: Minox's docs do not say whether ``period`` may be left out or how an administration's
    fiscal years are described; we assume calendar fiscal years split into
    ``number_of_periods`` equal parts (12: months, 4: quarters; 13 uses months and keeps
    period 13 for closing entries). This function is the one place that assumption lives.
    """
    periods = int(administration.get("number_of_periods") or 12)
    if periods in (12, 13) or periods <= 0 or 12 % periods:
        number = day.month
    else:
        number = (day.month - 1) // (12 // periods) + 1
    return {"id": number, "fiscal_year": day.year}


def _period_year(reference: str) -> int | None:
    period = reference.split(":")[2] if reference.count(":") >= 2 else ""
    try:
        return int(period[:4]) if re.match(r"^\d{4}-\d{2}", period) else None
    except ValueError:
        return None


def _error_mapper(response: httpx.Response) -> ProviderError | None:
    """Minox refusals. GAP: the error body is not documented; we read the common
    ``{"message", "errors": {field: [messages]}}`` shape and recognise closed periods or fiscal
    years (Dutch or English words) in the text."""
    status = response.status_code
    if status == 401 and response.request.url.path.rstrip("/").endswith("/inspect"):
        return rejected(
            PROVIDER,
            "Minox refused this app's client id or secret; check client_id and "
            "client_secret_file in [providers.minox] of bexsyncd.toml",
            (FieldError("client_secret_file", "refused by Minox"),),
            status=status,
        )
    if status not in (400, 404, 409, 422):
        return None
    message = provider_message(response)
    if _LOCKED_WORDS.search(message) and _PERIOD_WORDS.search(message):
        return period_locked(PROVIDER, f"Minox refused a closed period: {message}")
    fields: list[FieldError] = []
    body = json_or_none(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, dict):
        for key, value in list(errors.items())[:20]:
            texts = value if isinstance(value, list) else [value]
            fields.append(FieldError(str(key), "; ".join(str(t) for t in texts)))
    if not fields:
        fields.append(FieldError("batch", message or "invalid"))
    return rejected(
        PROVIDER,
        f"Minox rejected the request (HTTP {status}): {message or 'no reason given'}",
        tuple(fields),
        status=status,
    )


def app_for(settings: ProviderSettings, redirect_uri: str | None) -> OAuthApp:
    """Minox's OAuth app: a confidential client (client id and secret from Minox)."""
    client_id = registered_client_id(
        PROVIDER,
        settings,
        "register a Minox app first: set client_id and client_secret_file in [providers.minox]",
    )
    secret = app_secret(
        PROVIDER,
        settings,
        "Minox needs the app's secret: set client_secret_file in [providers.minox]",
    )
    defaults = CATALOG[PROVIDER].settings
    return OAuthApp(
        provider=PROVIDER,
        client_id=client_id,
        client_secret=secret,
        authorize_url=settings.url("authorize_url", defaults["authorize_url"]),
        token_url=settings.url("token_url", defaults["token_url"]),
        scopes=SCOPES,
        redirect_uri=redirect_uri or None,
    )


class MinoxAuth(httpx.Auth):
    """The app's basic auth for ``/inspect`` (as Minox requires), the user's bearer token
    (refreshing, from the one TokenManager) for everything else."""

    requires_request_body = True

    def __init__(self, bearer: BearerAuth, client_id: str, client_secret: str) -> None:
        self.bearer = bearer
        raw = f"{client_id}:{client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(raw).decode("ascii")
        register_secret(self._basic.split(" ", 1)[1])

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("MinoxAuth is async-only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if request.url.path.rstrip("/").endswith("/inspect"):
            request.headers["Authorization"] = self._basic
            yield request
            return
        flow = self.bearer.async_auth_flow(request)
        outgoing = await flow.__anext__()
        while True:
            response = yield outgoing
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return


class MinoxProvider(
    HttpAdapter,
    provider="minox",
    login=OAuthCodeLogin(app_for),
    rate_limit=RATE_LIMIT,
    errors=_error_mapper,
    app_registration=True,
):
    """An authorised Minox login: its tenants, administrations, journals and batches."""

    label_tax_codes = TAX_CODES

    def __init__(self, ctx: ProviderContext, **kw: Any) -> None:
        self._app = app_for(ctx.settings, None)
        # One TokenManager for this adapter's whole life: refreshes are single-flight.
        self.bearer = bearer_auth(ctx, self._app)
        super().__init__(ctx, **kw)
        self._administrations: dict[str, dict[str, Any]] = {}

    def auth(self) -> httpx.Auth:
        return MinoxAuth(self.bearer, self._app.client_id, self._app.client_secret or "")

    # -- plumbing ----------------------------------------------------------------------------
    async def _collection(self, path: str) -> list[dict[str, Any]]:
        """GAP: list answers wrap their items in ``collection`` (as Minox's demo client reads
        them); no paging parameters are documented, so one request returns the list."""
        body = await self.http.get_json(path)
        if isinstance(body, list):
            return [item for item in body if isinstance(item, dict)]
        if isinstance(body, dict) and isinstance(body.get("collection"), list):
            return [item for item in body["collection"] if isinstance(item, dict)]
        raise unavailable(PROVIDER, f"Minox answered {path} with a list in an unknown shape")

    async def _linked_tenants(self) -> list[dict[str, Any]]:
        """GAP: Minox documents ``/inspect/{token}`` (demo client: GET with the token in the
        path) and its PHP client uses ``POST /inspect`` with the token in a JSON body; we use the
        POST so the token never appears in a URL or an access log. A token Minox calls inactive
        is refreshed once (a revoked login then ends here, as "log in again")."""
        manager = self.bearer.manager
        token = await manager.access_token()
        for attempt in (1, 2):
            response = await self.http.post("/inspect", json={"token": token}, retry_unsafe=True)
            try:
                body = response.json()
            except (ValueError, UnicodeDecodeError):
                raise unavailable(
                    PROVIDER, "Minox answered /inspect with something not JSON"
                ) from None
            if not isinstance(body, dict) or body.get("active") is not False or attempt == 2:
                break
            token = await manager.force_refresh(token)
        tenants = body.get("linked_tenants") if isinstance(body, dict) else None
        return [t for t in tenants or [] if isinstance(t, dict) and "tenant_id" in t]

    def _split(self, tenant_id: str | None) -> tuple[str, str]:
        tid = tenant_id or self.ctx.options.get("tenant_id")
        match = _TENANT.match(str(tid or ""))
        if not match:
            raise rejected(
                PROVIDER,
                "choose the Minox administration first (activate the authorisation with a "
                "tenant_id of the form tenant/administration)"
                if not tid
                else f"{tid!r} is not a Minox tenant (tenant/administration)",
                (FieldError("tenant_id", "tenant/administration"),),
            )
        return match.group(1), match.group(2)

    async def _key(self, tenant_id: str | None) -> str:
        """``tenant/administration``: the given one, the chosen one, or the only one."""
        if not (tenant_id or self.ctx.options.get("tenant_id")):
            tenants = await self.list_tenants()
            if len(tenants) == 1:
                tenant_id = tenants[0].id
        tenant, administration = self._split(tenant_id)
        return f"{tenant}/{administration}"

    @staticmethod
    def _path(key: str) -> str:
        tenant, administration = key.split("/")
        return f"/tenant/{tenant}/administration/{administration}"

    async def _base(self, tenant_id: str | None) -> str:
        return self._path(await self._key(tenant_id))

    async def _administration(self, key: str) -> dict[str, Any]:
        tenant, administration = key.split("/")
        if key not in self._administrations:
            for row in await self._collection(f"/tenant/{tenant}/administration"):
                self._administrations[f"{tenant}/{row.get('id')}"] = row
        found = self._administrations.get(key)
        if found is None:
            raise rejected(
                PROVIDER,
                f"this Minox login does not reach administration {administration} of tenant "
                f"{tenant}",
                (FieldError("tenant_id", "unknown administration"),),
            )
        return found

    # -- reading -----------------------------------------------------------------------------
    async def verify(self) -> VerifyResult:
        tenants = await self.list_tenants()
        if not tenants:
            raise rejected(
                PROVIDER,
                "the login works but reaches no Minox administration; log in as the "
                "subscription's main user",
            )
        return VerifyResult(
            True, f"connected to Minox: {len(tenants)} administrations", tuple(tenants)
        )

    async def list_tenants(self) -> list[Tenant]:
        found: list[Tenant] = []
        for linked in await self._linked_tenants():
            tenant = str(linked["tenant_id"])
            if not tenant.isdigit():
                continue
            owner = str(linked.get("name") or f"tenant {tenant}")
            for row in await self._collection(f"/tenant/{tenant}/administration"):
                self._administrations[f"{tenant}/{row.get('id')}"] = row
                name = row.get("name") or f"administration {row.get('id')}"
                found.append(Tenant(f"{tenant}/{row['id']}", f"{name} ({owner})"))
        return found

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        base = await self._base(tenant_id)
        return [
            Ledger(str(j["id"]), str(j["id"]), str(j.get("description") or j["id"]))
            for j in await self._collection(f"{base}/journal")
        ]

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        base = await self._base(tenant_id)
        accounts = []
        for row in await self._collection(f"{base}/ledger_account"):
            blocked = row.get("blocked")
            if isinstance(blocked, dict) and blocked.get("active"):
                continue
            accounts.append(Account(str(row["id"]), str(row.get("description") or "")))
        return sorted(accounts, key=lambda a: a.code)

    # -- writing -----------------------------------------------------------------------------
    @staticmethod
    def _check(entry: JournalEntry) -> None:
        refuse_malformed(PROVIDER, "Minox", entry)

    @staticmethod
    def _description(entry: JournalEntry, description: str, vat_code: str | None) -> str:
        """The line text; it always ends with the whole reference, which lookup relies on."""
        suffix = f" ({entry.reference})"
        text = line_label(description or entry.narration, vat_code)
        return text[: max(DESCRIPTION_MAX - len(suffix), 0)] + suffix

    def _lines(self, entry: JournalEntry, period: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {
                "account": {"id": line.account, "scheme": "MINOX", "type": "ledger_account"},
                "journal": {"id": entry.ledger_id},
                "period": period,
                "document_date": entry.date.isoformat(),
                "description": self._description(entry, line.description, line.vat_code),
                "debit": line.debit,
                "credit": line.credit,
                "currency": {"id": entry.currency},
            }
            for line in entry.lines
        ]

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """PUT the batch under the key's uuid (a replay replaces it), then read it back."""
        self._check(entry)
        key = await self._key(entry.tenant_id)
        administration = await self._administration(key)
        await self.ledger(entry.ledger_id, key)
        await self.known_accounts(entry, key, what="open ledger account")
        lines = self._lines(entry, period_of(entry.date, administration))
        batch = batch_uuid(idempotency_key)
        url = f"{self._path(key)}/transaction_line_batch/{batch}"
        await self.http.request(
            "PUT",
            url,
            content=dumps_decimal(lines),
            headers={"Content-Type": "application/json"},
            retry_unsafe=True,  # the same uuid replaces: safe to repeat
        )
        response = await self.http.get(url)
        try:
            stored = json.loads(response.content, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            stored = None
        self._confirm(entry, stored, batch)
        return PostedEntry(str(batch), entry.reference)

    @staticmethod
    def _confirm(entry: JournalEntry, stored: Any, batch: uuid.UUID) -> None:
        """The batch read back must hold our lines and totals, or the post is not confirmed."""
        if isinstance(stored, dict):
            stored = stored.get("collection") or stored.get("transaction_lines") or []
        rows = stored if isinstance(stored, list) else []
        debit = sum((Decimal(str(r.get("debit") or 0)) for r in rows), Decimal("0"))
        credit = sum((Decimal(str(r.get("credit") or 0)) for r in rows), Decimal("0"))
        if (
            len(rows) != len(entry.lines)
            or debit != entry.total_debit
            or credit != entry.total_credit
        ):
            raise unavailable(
                PROVIDER,
                f"Minox batch {batch} reads back {len(rows)} lines ({debit:.2f}/{credit:.2f}) "
                f"instead of {len(entry.lines)} ({entry.total_debit:.2f}); bexsync will send it "
                "again under the same id",
            )

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """The year's transaction lines whose description carries the reference."""
        year = _period_year(reference)
        if year is None:
            return None
        base = await self._base(tenant_id)
        pattern = reference_pattern(reference)
        for row in await self._collection(f"{base}/year/{year}/transaction_lines"):
            if not pattern.search(str(row.get("description") or "")):
                continue
            journal = row.get("journal")
            journal_id = journal.get("id") if isinstance(journal, dict) else journal
            if ledger_id and journal_id is not None and str(journal_id) != ledger_id:
                continue
            batch = row.get("transaction_line_batch")
            batch_id = batch.get("id") if isinstance(batch, dict) else batch
            return PostedEntry(str(batch_id or row.get("entry_number") or reference), reference)
        return None
