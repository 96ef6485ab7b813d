"""The ``xero`` provider: balanced manual journals in a Xero organisation (Accounting API 2.0).

Login is OAuth2 authorization code + PKCE (the app may also have a client secret); the
organisation ("tenant") comes from ``GET /Connections`` and every accounting call carries it in
``xero-tenant-id``. Entries are posted with ``PUT /ManualJournals`` and an ``Idempotency-Key``.

Xero has no journals/day books for manual journals, so the adapter offers ONE pseudo-ledger,
``manual-journals`` ("Manual journals"); whatever ledger id an entry names, it becomes a manual
journal. A manual journal has no reference field (and no currency: base currency only), so the
entry's reference is kept at the end of the ``Narration`` as ``(bexsync:...)``, where
``find_entry`` looks for it.

Settings (``[providers.xero]`` in bexsyncd.toml):

- ``api_url``: Accounting API base, default ``https://api.xero.com/api.xro/2.0``
- ``identity_url``: host of ``/Connections``, default ``https://api.xero.com``
- ``authorize_url``: default ``https://login.xero.com/identity/connect/authorize``
- ``token_url``: default ``https://identity.xero.com/connect/token``
- ``client_id`` (required) and ``client_secret_file`` (only for apps that have a secret)
- ``scopes`` (option): ``"granular"`` (the default: ``accounting.manualjournals
  accounting.settings.read offline_access``, what apps created on or after 2 March 2026 must
  ask for), ``"legacy"`` (``accounting.transactions`` instead of ``accounting.manualjournals``,
  for older apps until September 2027), or the scopes themselves
- ``daily_limit`` (option): calls per day and organisation, 5000 (1000 on the Starter tier)
- ``journal_status`` (option): ``POSTED`` (default) or ``DRAFT`` to review journals in Xero

Checked against: Xero's published OpenAPI documents (XeroAPI/Xero-OpenAPI 16.1.0,
shared/specs/xero_accounting.yaml and xero-identity.yaml; every request is validated against
them in the tests) and developer.xero.com (OAuth2, limits, idempotency), with the granular
scopes from Apideck's, Codat's and Databuzz's write-ups (shared/research/
providers-xero-bc-odoo.md section 1).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, TaxCode, Tenant, VerifyResult
from providers.catalog import CATALOG
from providers.context import ProviderContext
from providers.entry_checks import refuse_malformed
from providers.error_bodies import json_or_none
from providers.errors import (
    ProviderError,
    auth_expired,
    period_locked,
    rate_limited,
    rejected,
    unavailable,
)
from providers.http import parse_retry_after, provider_message
from providers.kit import FieldError, HttpAdapter, app_secret, registered_client_id
from providers.oauth import OAuthApp
from providers.oauth_login import OAuthCodeLogin, bearer_auth
from providers.ratelimit import RateLimitSpec
from providers.settings import ProviderSettings
from providers.wire import cents, dumps_decimal

PROVIDER = "xero"
DEFAULTS = CATALOG[PROVIDER].settings  # the endpoints when [providers.xero] names none
# Read settings (accounts, tax rates, lock dates), write manual journals, keep the login: the
# granular scopes, which apps created on or after 2 March 2026 must use (older apps may until
# September 2027). The identity scopes (openid profile email) are not needed: the tenant comes
# from /Connections, which only needs the access token (xero-identity.yaml).
DEFAULT_SCOPES = ("accounting.manualjournals", "accounting.settings.read", "offline_access")
LEGACY_SCOPES = ("accounting.settings.read", "accounting.transactions", "offline_access")
SCOPE_ADVICE = (
    "a Xero app created on or after 2 March 2026 may only ask for granular scopes (the "
    'default); an older app still on the broad ones sets scopes = "legacy" in '
    "[providers.xero] of bexsyncd.toml (or lists the scopes it was granted)"
)
LEDGER = Ledger(id="manual-journals", code="MJ", name="Manual journals")
PAGE_SIZE = 100  # the spec: "Up to 100 manual journals will be returned in a single API call"
MAX_IDEMPOTENCY_KEY = 128  # the spec: "128 character max"


def rate_limit_spec(daily: int = 5000) -> RateLimitSpec:
    """Xero's documented limits per organisation: 60 calls a minute, 5 at once, 5,000 a day."""
    return RateLimitSpec(
        calls=60,
        per_seconds=60,
        concurrent=5,
        daily=daily,
        remaining_header="X-MinLimit-Remaining",
    )


# --- wire formats ------------------------------------------------------------------------------

_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{2})(\d{2}))?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_xero_datetime(value: object) -> datetime | None:
    """A Xero JSON date: ``/Date(1552521600000+0000)/`` (milliseconds since the epoch in UTC,
    then the offset to show it in) or ISO 8601; naive ISO values are UTC. None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a Xero date: {value!r}")
    match = _MS_DATE.match(value.strip())
    if match:
        moment = _EPOCH + timedelta(milliseconds=int(match.group(1)))
        if match.group(2):
            offset = timedelta(hours=int(match.group(3)), minutes=int(match.group(4)))
            moment = moment.astimezone(timezone(-offset if match.group(2) == "-" else offset))
        return moment
    parsed = datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_xero_date(value: object) -> date | None:
    moment = parse_xero_datetime(value)
    return None if moment is None else moment.date()


def _loads(response: httpx.Response) -> Any:
    """Decode a JSON answer with exact decimals; a non-JSON 2xx (XML, a proxy page) is
    "unavailable" rather than a crash."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise unavailable(
            PROVIDER, f"xero answered {response.request.url.path} with something that is not JSON"
        ) from None


def line_amount(debit: Decimal, credit: Decimal) -> Decimal:
    """Xero's signed ``LineAmount``: debits positive, credits negative, 2 decimals."""
    amount = cents(debit - credit)
    return amount if amount else Decimal("0.00")


def narration_with_reference(narration: str, reference: str) -> str:
    """The journal's narration, ending in ``(reference)`` so ``find_entry`` can find it."""
    tag = f"({reference})"
    text = narration.strip()
    if text.endswith(tag):
        return text
    return f"{text} {tag}" if text else tag


def reference_filter(reference: str) -> str:
    """The ``where`` clause that finds a journal by the reference in its narration.

    GAP: the spec documents ``where`` on ManualJournals only as "Filter by an any element";
    string methods (``.Contains``) are documented for other endpoints, not confirmed for this
    one. We rely on them here, and only here; ``find_entry`` re-checks every match.
    """
    escaped = reference.replace("\\", "\\\\").replace('"', '\\"')
    return f'Narration.Contains("{escaped}")'


def idempotency_key_for(key: str) -> str:
    """Xero takes at most 128 characters; longer keys are replaced by their SHA-256."""
    if len(key) <= MAX_IDEMPOTENCY_KEY:
        return key
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# --- errors ------------------------------------------------------------------------------------

_LOCK_WORDS = ("lock date", "locked period", "period is locked")


def _validation_messages(body: Any) -> list[str]:
    """Every ``ValidationErrors[].Message`` of a Xero error or result body."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for error in node.get("ValidationErrors") or []:
                if isinstance(error, dict) and isinstance(error.get("Message"), str):
                    found.append(error["Message"])
            for key in ("Elements", "ManualJournals"):
                for child in node.get(key) or []:
                    walk(child)

    walk(body)
    return found


def _error_mapper(response: httpx.Response) -> ProviderError | None:
    """Xero's special answers: lock dates and validation errors (400), the daily limit (429),
    and 401/403 details. Everything else falls through to the shared defaults (and retries)."""
    status = response.status_code
    body = json_or_none(response)
    if status == 400:
        messages = _validation_messages(body)
        if any(word in m.lower() for m in messages for word in _LOCK_WORDS):
            locked = next(m for m in messages if any(w in m.lower() for w in _LOCK_WORDS))
            return period_locked(PROVIDER, f"Xero refused the date: {locked}")
        if messages:
            return rejected(
                PROVIDER,
                "Xero refused the journal: " + "; ".join(messages),
                tuple(FieldError("entry", m) for m in messages),
                status=400,
            )
        return None
    if status == 429:
        problem = response.headers.get("X-Rate-Limit-Problem", "").lower()
        if problem == "day":
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return rate_limited(
                PROVIDER,
                "Xero's daily call limit for this organisation is used up (HTTP 429); "
                "syncs continue when it resets",
                retry_after,
            )
        return None  # minute / concurrency limits: the HTTP layer waits Retry-After and retries
    if status in (401, 403):
        detail = ""
        if isinstance(body, dict):
            detail = str(body.get("Detail") or body.get("detail") or body.get("Title") or "")
        detail = provider_message(response) or detail
        if status == 403:
            return auth_expired(
                PROVIDER,
                "Xero denied access to the organisation (HTTP 403"
                + (f": {detail}" if detail else "")
                + "); it may have been disconnected from bexsync: log in again",
                status=status,
            )
        return auth_expired(
            PROVIDER,
            "Xero refused the login (HTTP 401" + (f": {detail}" if detail else "") + ")",
            status=status,
        )
    return None


# --- the OAuth app -----------------------------------------------------------------------------


def _scopes(settings: ProviderSettings) -> tuple[str, ...]:
    """``scopes`` of ``[providers.xero]``: absent or "granular" (the default), "legacy", or
    the scopes themselves (a string or a list)."""
    raw = settings.options.get("scopes")
    if raw in (None, "", "granular"):
        return DEFAULT_SCOPES
    if raw == "legacy":
        return LEGACY_SCOPES
    if isinstance(raw, str):
        return tuple(raw.split())
    if isinstance(raw, list | tuple) and raw:
        return tuple(str(s) for s in raw)
    raise rejected(
        PROVIDER,
        '[providers.xero] scopes must be "granular", "legacy", or the scopes to ask for',
        (FieldError("scopes", "granular, legacy or a list of scopes"),),
    )


def app_for(settings: ProviderSettings, redirect_uri: str | None) -> OAuthApp:
    """The registered Xero app from ``[providers.xero]`` (client id, optional secret, URLs)."""
    client_id = registered_client_id(
        PROVIDER,
        settings,
        "register an app at developer.xero.com and put its client_id (and, for a web app, "
        "client_secret_file) in [providers.xero] of bexsyncd.toml",
    )
    secret = app_secret(PROVIDER, settings, None)
    return OAuthApp(
        provider=PROVIDER,
        client_id=client_id,
        client_secret=secret,
        authorize_url=settings.url("authorize_url", DEFAULTS["authorize_url"]),
        token_url=settings.url("token_url", DEFAULTS["token_url"]),
        scopes=_scopes(settings),
        redirect_uri=redirect_uri,
        use_pkce=True,
        # Xero's code exchange and refresh take a confidential app's secret as HTTP Basic.
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        scope_advice=SCOPE_ADVICE,
    )


# --- the adapter -------------------------------------------------------------------------------


class XeroProvider(
    HttpAdapter,
    provider="xero",
    login=OAuthCodeLogin(app_for),
    errors=_error_mapper,
    app_registration=True,
):
    # /Connections lives on the identity host, which an override may put elsewhere.
    follows_other_origins = True

    def __init__(self, ctx: ProviderContext, **kw: Any) -> None:
        options = ctx.settings.options
        self.journal_status = str(options.get("journal_status") or "POSTED").upper()
        if self.journal_status not in ("POSTED", "DRAFT"):
            raise rejected(PROVIDER, "[providers.xero] journal_status must be POSTED or DRAFT")
        daily = rate_limit_spec(int(options.get("daily_limit") or 5000))
        super().__init__(ctx, rate_limit=kw.pop("rate_limit", None) or daily, **kw)
        self.identity_url = ctx.settings.url("identity_url", DEFAULTS["identity_url"])
        self._tenants: list[Tenant] | None = None

    def limiter_key(self) -> str:
        """Xero limits per organisation: every authorisation reaching it shares the quota."""
        tenant = self.ctx.options.get("tenant_id")
        return f"xero:tenant:{tenant}" if tenant else f"xero:auth:{self.ctx.authorisation_id}"

    def auth(self) -> httpx.Auth:
        return bearer_auth(self.ctx, app_for(self.ctx.settings, None))

    # -- tenants --------------------------------------------------------------------------
    async def list_tenants(self) -> list[Tenant]:
        """The organisations this login may reach (``GET /Connections``, identity API).

        The path is spelled as in Xero's identity spec (``/Connections``), which Xero's
        generated SDKs send; the prose docs write ``/connections`` (the simulator takes both).
        """
        response = await self.http.get(f"{self.identity_url}/Connections")
        body = _loads(response)
        if not isinstance(body, list):
            raise unavailable(PROVIDER, "Xero's connections list has an unexpected shape")
        tenants = [
            Tenant(str(c["tenantId"]), str(c.get("tenantName") or c["tenantId"]))
            for c in body
            if isinstance(c, dict)
            and c.get("tenantId")
            and str(c.get("tenantType") or "ORGANISATION").upper() == "ORGANISATION"
        ]
        self._tenants = tenants
        return tenants

    async def _tenant(self, tenant_id: str | None) -> str:
        """The organisation to address: the one asked for, the one chosen at activation, or
        the only one connected."""
        chosen = tenant_id or self.ctx.options.get("tenant_id")
        if chosen:
            return str(chosen)
        tenants = self._tenants if self._tenants is not None else await self.list_tenants()
        if len(tenants) == 1:
            return tenants[0].id
        if not tenants:
            raise auth_expired(
                PROVIDER,
                "no Xero organisation is connected to this login; log in again and allow "
                "access to the organisation",
            )
        raise rejected(
            PROVIDER,
            "this Xero login reaches several organisations; choose one (tenant_id)",
            (FieldError("tenant_id", "choose one of the connected organisations"),),
        )

    async def _get(
        self, path: str, tenant: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.http.get(path, params=params, headers={"xero-tenant-id": tenant})
        body = _loads(response)
        if not isinstance(body, dict):
            raise unavailable(PROVIDER, f"Xero's answer to {path} has an unexpected shape")
        return body

    async def organisation(self, tenant_id: str | None) -> dict[str, Any]:
        """The organisation record: name, base currency and lock dates."""
        tenant = await self._tenant(tenant_id)
        body = await self._get("/Organisation", tenant)
        orgs = body.get("Organisations") or []
        if not orgs or not isinstance(orgs[0], dict):
            raise unavailable(PROVIDER, "Xero returned no organisation details")
        return orgs[0]

    @staticmethod
    def lock_date(org: Mapping[str, Any]) -> date | None:
        """The last locked day: the later of the period and end-of-year lock dates.

        Xero lets advisers post after the period lock date; bexsync may be connected as
        anyone, so it treats both as binding (Xero locks "on and before" the date).
        """
        dates = [
            d
            for d in (
                parse_xero_date(org.get("PeriodLockDate")),
                parse_xero_date(org.get("EndOfYearLockDate")),
            )
            if d is not None
        ]
        return max(dates) if dates else None

    # -- verify and options ---------------------------------------------------------------
    async def verify(self) -> VerifyResult:
        tenants = await self.list_tenants()
        if not tenants:
            return VerifyResult(
                False,
                "the login works but no Xero organisation is connected to it; log in again "
                "and allow access to an organisation",
            )
        chosen = self.ctx.options.get("tenant_id")
        if chosen and chosen not in {t.id for t in tenants}:
            return VerifyResult(
                False,
                "the chosen Xero organisation is no longer connected to this login",
                tuple(tenants),
            )
        target = chosen or tenants[0].id
        org = await self.organisation(target)
        name = org.get("Name") or next(t.name for t in tenants if t.id == target)
        currency = org.get("BaseCurrency") or "?"
        return VerifyResult(
            True,
            f"connected to Xero organisation {name} (base currency {currency}); "
            f"{len(tenants)} organisation(s) reachable",
            tuple(tenants),
        )

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        """Xero has no journals for manual journals: one pseudo-ledger stands for them all."""
        return [LEDGER]

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        tenant = await self._tenant(tenant_id)
        body = await self._get("/Accounts", tenant, {"where": 'Status=="ACTIVE"'})
        accounts = []
        for acc in body.get("Accounts") or []:
            if not isinstance(acc, dict) or not acc.get("Code"):
                continue  # bank accounts may have no code: manual journals address codes
            if str(acc.get("Status") or "ACTIVE") != "ACTIVE":
                continue
            accounts.append(
                Account(str(acc["Code"]), str(acc.get("Name") or ""), acc.get("AccountID"))
            )
        return sorted(accounts, key=lambda a: a.code)

    async def read_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        tenant = await self._tenant(tenant_id)
        body = await self._get("/TaxRates", tenant, {"where": 'Status=="ACTIVE"'})
        codes = []
        for rate in body.get("TaxRates") or []:
            if not isinstance(rate, dict) or not rate.get("TaxType"):
                continue
            if str(rate.get("Status") or "ACTIVE") != "ACTIVE":
                continue
            raw = rate.get("EffectiveRate", rate.get("DisplayTaxRate"))
            value = Decimal(str(raw)) if raw is not None else None
            codes.append(TaxCode(str(rate["TaxType"]), str(rate.get("Name") or ""), value))
        return sorted(codes, key=lambda t: t.code)

    # -- posting --------------------------------------------------------------------------
    def journal_body(self, entry: JournalEntry) -> dict[str, Any]:
        """The ``PUT /ManualJournals`` body for one entry.

        ``NoTax``: BEX entries carry VAT on their own lines (VAT payable accounts), so Xero
        must not compute tax on top; a line's tax code is still passed as ``TaxType``.
        """
        narration = narration_with_reference(entry.narration, entry.reference)
        lines = []
        for line in entry.lines:
            item: dict[str, Any] = {
                "LineAmount": line_amount(line.debit, line.credit),
                "AccountCode": line.account,
                "Description": line.description or narration,
            }
            if line.vat_code:
                item["TaxType"] = line.vat_code
            lines.append(item)
        return {
            "ManualJournals": [
                {
                    "Narration": narration,
                    "Date": entry.date.isoformat(),
                    "Status": self.journal_status,
                    "LineAmountTypes": "NoTax",
                    "ShowOnCashBasisReports": True,
                    "JournalLines": lines,
                }
            ]
        }

    def _check(self, entry: JournalEntry) -> None:
        """Refuse locally what Xero would refuse, without spending a call."""
        refuse_malformed(PROVIDER, "Xero", entry)

    def _line_errors(self, entry: JournalEntry, err: ProviderError) -> ProviderError:
        """Point Xero's messages at our lines where they name an account code or tax type."""
        if err.kind != "rejected" or not err.field_errors:
            return err
        pointed: list[FieldError] = []
        for fe in err.field_errors:
            text = fe.message
            target = "entry"
            if "debits" in text.lower() and "credits" in text.lower():
                target = "lines"
            else:  # Xero quotes the codes it refuses: "Account code '476' is not valid..."
                for i, line in enumerate(entry.lines):
                    if f"'{line.account}'" in text:
                        target = f"lines[{i}].account"
                        break
                    if line.vat_code and f"'{line.vat_code}'" in text:
                        target = f"lines[{i}].vat_code"
                        break
            pointed.append(FieldError(target, text))
        err.field_errors = tuple(pointed)
        return err

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """Check lock dates and base currency, then ``PUT /ManualJournals`` with the key.

        The key makes the PUT safe to retry (Xero replays the first result), so the HTTP
        layer may retry it after a timeout or a 5xx.
        """
        self._check(entry)
        tenant = await self._tenant(entry.tenant_id)
        org = await self.organisation(tenant)
        locked = self.lock_date(org)
        if locked is not None and entry.date <= locked:
            raise period_locked(
                PROVIDER,
                f"Xero is locked up to {locked.isoformat()} and the entry is dated "
                f"{entry.date.isoformat()}; move the lock date in Xero (Advanced settings) "
                "first",
            )
        await self.known_accounts(entry, tenant, what="active account code")
        base = org.get("BaseCurrency")
        if base and entry.currency and entry.currency.upper() != str(base).upper():
            raise rejected(
                PROVIDER,
                f"Xero manual journals are in the base currency {base}; this entry is in "
                f"{entry.currency}",
                (FieldError("currency", f"must be {base}"),),
            )
        try:
            response = await self.http.put(
                "/ManualJournals",
                content=dumps_decimal(self.journal_body(entry)),
                headers={
                    "xero-tenant-id": tenant,
                    "Idempotency-Key": idempotency_key_for(idempotency_key),
                    "Content-Type": "application/json",
                },
                retry_unsafe=True,
            )
        except ProviderError as err:
            raise self._line_errors(entry, err) from None
        body = _loads(response)
        journals = body.get("ManualJournals") if isinstance(body, dict) else None
        if not journals or not isinstance(journals[0], dict):
            raise unavailable(PROVIDER, "Xero accepted the journal but returned no journal id")
        messages = _validation_messages(journals[0])
        if messages:
            raise self._line_errors(
                entry,
                rejected(
                    PROVIDER,
                    "Xero refused the journal: " + "; ".join(messages),
                    tuple(FieldError("entry", m) for m in messages),
                ),
            )
        journal_id = journals[0].get("ManualJournalID")
        if not journal_id:
            raise unavailable(PROVIDER, "Xero accepted the journal but returned no journal id")
        return PostedEntry(str(journal_id), entry.reference)

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """The manual journal whose narration ends in ``(reference)``, deleted/voided ones
        excepted (a journal voided in Xero is no longer posted)."""
        tenant = await self._tenant(tenant_id)
        try:
            return await self._search(reference, tenant, reference_filter(reference))
        except ProviderError as err:
            if err.kind != "rejected" or err.status != 400:
                raise
        # Xero did not take the filter (the gap in reference_filter): read every page instead.
        return await self._search(reference, tenant, None)

    async def _search(self, reference: str, tenant: str, where: str | None) -> PostedEntry | None:
        tag = f"({reference})"
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "order": "Date DESC"}
            if where is not None:
                params["where"] = where
            body = await self._get("/ManualJournals", tenant, params)
            journals = [j for j in body.get("ManualJournals") or [] if isinstance(j, dict)]
            for journal in journals:
                narration = str(journal.get("Narration") or "").strip()
                status = str(journal.get("Status") or "")
                if narration.endswith(tag) and status not in ("DELETED", "VOIDED"):
                    return PostedEntry(str(journal["ManualJournalID"]), reference)
            pagination = body.get("pagination") or {}
            page_count = pagination.get("pageCount") if isinstance(pagination, dict) else None
            if len(journals) < PAGE_SIZE or (isinstance(page_count, int) and page >= page_count):
                return None
            page += 1
