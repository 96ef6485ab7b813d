"""The ``business_central`` provider: Dynamics 365 Business Central online, API v2.0.

Endpoint keys of ``[providers.business_central]``:
  ``api_url``        default ``https://api.businesscentral.dynamics.com``
  ``authorize_url``  default ``https://login.microsoftonline.com/{entra_tenant}/oauth2/v2.0/authorize``
  ``token_url``      default ``https://login.microsoftonline.com/{entra_tenant}/oauth2/v2.0/token``
  ``device_url``     default ``https://login.microsoftonline.com/{entra_tenant}/oauth2/v2.0/devicecode``
Other keys: ``client_id`` (the Entra app registration, required), ``client_secret_file``
(required for client credentials; sent on the other logins when set), ``entra_tenant``
(directory id or domain; default ``organizations``, which client credentials cannot use),
``login`` (``device_code`` (default), ``oauth_code`` or ``client_credentials``; also accepted
in an authorisation's own settings) and
``environments`` (a list of environment names, for service principals that may not list them).

Login (Microsoft Entra ID): device code by default (best from an SSH session), authorization
code + PKCE, or client credentials (service-to-service: application permission
``API.ReadWrite.All`` and the app added on BC's "Microsoft Entra applications" page). The grant
used is stored with the authorisation (``login_method`` option) so refreshes use the same one.
A device-code app needs "Allow public client flows"; a secret, when configured, is sent too.

Tenants are environments x companies: ``{environment}/{company id}``.

Writes: BC's bound ``Microsoft.NAV.post`` posts EVERY line of a journal batch, so bexsync never
writes into a shared batch. Each run gets its own batch whose code is derived from the run's
idempotency key (``BX`` + 8 hex digits, fits Code[10]); its lines share one document number;
after posting, the empty batch is deleted. Lines left over from a crashed attempt in that batch
are deleted before the lines are written again. The chosen journal (the configuration's ledger)
must exist and is named in the run batch's display name.

Document number (Code[20]): the short deterministic form of the reference,
``bexsync:{configuration}:{period}[:c{n}]`` -> ``BX{configuration}-{period digits}[C{n}]``
(``bexsync:12:2026-03`` -> ``BX12-202603``, ``bexsync:12:2026-03-31:c2`` ->
``BX12-20260331C2``); a reference that does not fit becomes ``BX`` + 18 hex digits of its
SHA-256. The full reference goes into ``externalDocumentNumber`` (Code[35]).

Idempotency is "lookup": before writing anything, and to confirm after posting,
``generalLedgerEntries?$filter=documentNumber eq '...'`` is read. Posting dates are checked
against "Allow Posting From/To" of the General Ledger Setup first (``period_locked``), and BC's
own refusal of a date outside the allowed range maps to ``period_locked`` as well.
Amounts are signed JSON numbers (debit positive, credit negative) written from ``Decimal``.
Tax codes are the company's ``taxGroups`` (VAT product posting groups); a line's VAT code goes
into ``taxCode`` as it is. Only G/L account lines are written (BC's API has no currency field:
amounts are in the company's local currency).
Limits: 6,000 requests per 5-minute sliding window per user and environment, 5 processed at
once; 429 (back-off), 502/503 with ``Retry-After``; 408 after 8 minutes (``unavailable``).

Checked against: Microsoft's documentation (Business Central API v2.0 reference, the Entra ID
pages for delegated and service-to-service logins, and the API limits page; shared/research/
providers-xero-bc-odoo.md section 2). Microsoft publishes no OpenAPI document for v2.0 (only
the ``$metadata`` of a live environment), so requests are not validated against a spec; the
error texts for locked dates are assumptions, marked ``GAP``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, TaxCode, Tenant, VerifyResult
from providers.catalog import CATALOG
from providers.context import ProviderContext
from providers.entry_checks import refuse_malformed
from providers.error_bodies import error_code
from providers.errors import ProviderError, period_locked, rejected, unavailable
from providers.http import provider_message
from providers.kit import FieldError, HttpAdapter, app_secret, ledgers_from, registered_client_id
from providers.login import Answer, Login, LoginContext, LoginResult, LoginStart
from providers.oauth import OAuthApp
from providers.oauth_login import (
    AppFactory,
    ClientCredentialsLogin,
    DeviceCodeLogin,
    OAuthCodeLogin,
    bearer_auth,
)
from providers.ratelimit import RateLimitSpec
from providers.settings import ProviderSettings
from providers.wire import dumps_decimal

log = logging.getLogger("bexsync.providers.business_central")

PROVIDER = "business_central"
BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
LOGIN_METHODS = ("device_code", "oauth_code", "client_credentials")
DEFAULT_LOGIN = "device_code"
# The authorisation option recording which grant produced the stored token (refreshes must use
# the same one); "login" stays the user's explicit choice, so a new login follows the config.
USED_LOGIN = "login_method"
# Authorities that name no directory: fine for user logins, refused for client credentials.
MULTI_TENANT_AUTHORITIES = frozenset({"common", "organizations", "consumers"})
RATE_LIMIT = RateLimitSpec(calls=6000, per_seconds=300, concurrent=5)
PAGE_SIZE = 1000  # Prefer: odata.maxpagesize (BC online allows up to 20,000)
DOCUMENT_NO_MAX = 20  # Gen. Journal Line "Document No." is Code[20]
EXTERNAL_DOC_MAX = 35  # "External Document No." is Code[35]
DESCRIPTION_MAX = 100
BATCH_PREFIX = "BX"
RUN_BATCH = re.compile(r"^BX[0-9A-F]{8}$")
LINE_STEP = 10000
_REFERENCE = re.compile(r"^bexsync:(\d+):(\d{4}-\d{2}(?:-\d{2})?)(?::c(\d+))?$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_NO_DATE = date(1, 1, 1)  # BC writes an empty date as 0001-01-01

# GAP: BC's documentation quotes no error text for a posting date outside "Allow Posting
# From/To" or in a closed/date-locked accounting period. The usual message is "Posting Date is
# not within your range of allowed posting dates ..." (an Application_* error with HTTP 400);
# this pattern is the one place that recognises a locked period in BC's answers.
_LOCKED = re.compile(
    r"(?i)not within your range of allowed posting dates|allowed posting (?:period|dates)|"
    r"accounting period[^.]*\b(?:closed|locked)\b|\bdate[- ]locked\b"
)


# --- deterministic names ------------------------------------------------------------------


def document_number(reference: str) -> str:
    """The reference's short form for BC's 20-character Document No. (see the module doc)."""
    match = _REFERENCE.match(reference)
    if match:
        config, period, correction = match.groups()
        short = f"{BATCH_PREFIX}{config}-{period.replace('-', '')}"
        if correction:
            short += f"C{correction}"
        if len(short) <= DOCUMENT_NO_MAX:
            return short
    digest = hashlib.sha256(reference.encode("utf-8")).hexdigest().upper()
    return BATCH_PREFIX + digest[: DOCUMENT_NO_MAX - len(BATCH_PREFIX)]


def batch_code(idempotency_key: str) -> str:
    """The run's own journal batch (Code[10]): the same key always gets the same batch."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest().upper()
    return BATCH_PREFIX + digest[:8]


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- login --------------------------------------------------------------------------------


def entra_tenant(settings: ProviderSettings) -> str:
    options = getattr(settings, "options", None) or {}
    return str(options.get("entra_tenant") or "organizations").strip()


def login_method(options: Mapping[str, Any] | None, settings: ProviderSettings) -> str:
    """The login in force: the authorisation's own choice, else the config file's, else device
    code. An unknown name is refused with the valid ones listed."""
    chosen = (options or {}).get("login") or (getattr(settings, "options", None) or {}).get("login")
    method = str(chosen or DEFAULT_LOGIN).strip()
    if method not in LOGIN_METHODS:
        raise rejected(
            PROVIDER,
            f"unknown Business Central login {method!r}: set login to one of "
            + ", ".join(LOGIN_METHODS),
            (FieldError("login", f"one of {', '.join(LOGIN_METHODS)}"),),
        )
    return method


def app_for(method: str, settings: ProviderSettings, redirect_uri: str | None) -> OAuthApp:
    """The Entra app registration for one login method, endpoints overridable per key."""
    client_id = registered_client_id(
        PROVIDER,
        settings,
        "register an Entra ID app first: set client_id in [providers.business_central]",
    )
    tenant = entra_tenant(settings)
    defaults = {k: v.format(entra_tenant=tenant) for k, v in CATALOG[PROVIDER].settings.items()}
    token_url = settings.url("token_url", defaults["token_url"])
    secret = app_secret(PROVIDER, settings, None)
    if method == "client_credentials":
        if not secret:
            raise rejected(
                PROVIDER,
                "client credentials need the app's secret: set client_secret_file in "
                "[providers.business_central]",
                (FieldError("client_secret_file", "required for client credentials"),),
            )
        if "token_url" not in settings.urls and tenant.lower() in MULTI_TENANT_AUTHORITIES:
            raise rejected(
                PROVIDER,
                "client credentials need the customer's directory: set entra_tenant (the "
                "tenant id or domain) in [providers.business_central]",
                (FieldError("entra_tenant", "a directory id or domain"),),
            )
        scopes: tuple[str, ...] = (BC_SCOPE,)
    else:
        scopes = (BC_SCOPE, "offline_access")
    return OAuthApp(
        provider=PROVIDER,
        client_id=client_id,
        client_secret=secret,
        authorize_url=settings.url("authorize_url", defaults["authorize_url"]),
        token_url=token_url,
        device_authorization_url=settings.url("device_url", defaults["device_url"]),
        scopes=scopes,
        redirect_uri=redirect_uri or None,
        grant_type="client_credentials" if method == "client_credentials" else "authorization_code",
    )


def _factory(method: str) -> AppFactory:
    def build(settings: ProviderSettings, redirect_uri: str | None) -> OAuthApp:
        return app_for(method, settings, redirect_uri)

    return build


_DELEGATES: dict[str, Login] = {
    "device_code": DeviceCodeLogin(_factory("device_code")),
    "oauth_code": OAuthCodeLogin(_factory("oauth_code")),
    "client_credentials": ClientCredentialsLogin(_factory("client_credentials")),
}


@dataclass(frozen=True)
class BusinessCentralLogin(Login):
    """Device code by default; ``login = "oauth_code"`` or ``"client_credentials"`` (the
    authorisation's settings, else the config file) picks another Entra grant. The method is
    kept in the pending login and, as ``login_method``, in the result's options, so that
    refreshes use the grant that produced the token."""

    kind: str = DEFAULT_LOGIN

    def _method(self, ctx: LoginContext, pending: Mapping[str, Any] | None = None) -> str:
        if pending and pending.get("method") in LOGIN_METHODS:
            return str(pending["method"])
        return login_method(ctx.options, ctx.settings)

    async def begin(self, ctx: LoginContext) -> LoginStart:
        method = self._method(ctx)
        start = await _DELEGATES[method].begin(ctx)
        pending = {**start.pending, "method": method} if start.pending is not None else None
        return LoginStart({**start.next_step, "login": method}, pending, start.expires_at)

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        method = self._method(ctx, answer.pending)
        result = await _DELEGATES[method].finish(ctx, answer)
        return LoginResult(result.credentials, {**result.options, USED_LOGIN: method})


LOGIN = BusinessCentralLogin()


# --- errors -------------------------------------------------------------------------------


def _field_of(message: str) -> str:
    lowered = message.lower()
    if "g/l account" in lowered or "account no" in lowered:
        return "accountNumber"
    if "vat" in lowered or "tax group" in lowered:
        return "taxCode"
    if "posting date" in lowered:
        return "postingDate"
    if "balance" in lowered:
        return "lines"
    if "journal" in lowered or "batch" in lowered:
        return "ledger_id"
    return "request"


def _error_mapper(response: httpx.Response) -> ProviderError | None:
    """BC's OData errors (``{"error": {"code", "message"}}``): locked dates and refusals."""
    status = response.status_code
    if status == 408:  # BC's 8-minute operation timeout: the work may or may not have happened
        return unavailable(
            PROVIDER,
            "Business Central timed out the operation (HTTP 408); bexsync looks the entry up "
            "before trying again",
        )
    if status not in (400, 404, 409, 412, 422):
        return None
    message = provider_message(response)
    # BC appends "CorrelationId: <guid>." to every message: useful for support, noise here.
    message = re.sub(r"\s*CorrelationId:\s*[0-9a-fA-F-]+\.?\s*$", "", message).strip()
    code = error_code(response)
    if _LOCKED.search(message):
        return period_locked(
            PROVIDER, f"Business Central refused the posting date (locked period): {message}"
        )
    prefix = f"{code}: " if code else ""
    return rejected(
        PROVIDER,
        f"Business Central rejected the request (HTTP {status}): {prefix}"
        f"{message or 'no reason given'}",
        (FieldError(_field_of(message), message or code or "invalid"),),
        status=status,
    )


# --- the adapter --------------------------------------------------------------------------


class BusinessCentralProvider(
    HttpAdapter,
    provider="business_central",
    login=LOGIN,
    rate_limit=RATE_LIMIT,
    errors=_error_mapper,
    app_registration=True,
):
    """An authorised Business Central login: its environments, companies and journals."""

    def __init__(self, ctx: ProviderContext, **kw: Any) -> None:
        used = ctx.options.get(USED_LOGIN)
        self.login_kind = used if used in LOGIN_METHODS else login_method(ctx.options, ctx.settings)
        # One TokenManager for this adapter's whole life: refreshes are single-flight.
        self.bearer = bearer_auth(ctx, app_for(self.login_kind, ctx.settings, ""))
        super().__init__(ctx, **kw)
        self._env_tenant: dict[str, str | None] | None = None

    def auth(self) -> httpx.Auth:
        return self.bearer

    # -- plumbing ----------------------------------------------------------------------------
    async def _values(self, url: str, params: dict[str, str] | None = None) -> list[Any]:
        """Every entity of an OData collection, following ``@odata.nextLink``."""
        out: list[Any] = []
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
        next_params: dict[str, str] | None = params
        while True:
            body = await self.http.get_json(url, params=next_params, headers=headers)
            if not isinstance(body, dict):
                raise unavailable(PROVIDER, "Business Central sent a list in an unknown shape")
            out.extend(body.get("value") or [])
            link = body.get("@odata.nextLink")
            if not link:
                return out
            url, next_params = str(link), None

    async def _send_json(self, method: str, url: str, doc: Any, **kw: Any) -> httpx.Response:
        return await self.http.request(
            method,
            url,
            content=dumps_decimal(doc),
            headers={"Content-Type": "application/json", **kw.pop("headers", {})},
            **kw,
        )

    async def _environments(self) -> dict[str, str | None]:
        """Environment name -> its Entra tenant (for the ``/v2.0/{tenant}/{env}`` form)."""
        if self._env_tenant is not None:
            return self._env_tenant
        configured = self.ctx.settings.options.get("environments")
        found: dict[str, str | None] = {}
        if configured:
            # GAP: the environments list is documented for delegated logins; a service
            # principal may not be allowed to read it, so the config file can name them.
            names = configured if isinstance(configured, list) else str(configured).split(",")
            tenant = entra_tenant(self.ctx.settings)
            aad = None if tenant.lower() in MULTI_TENANT_AUTHORITIES else tenant
            for name in names:
                found[str(name).strip()] = aad
        else:
            for env in await self._values("/environments/v1.2"):
                if str(env.get("applicationFamily") or "BusinessCentral") != "BusinessCentral":
                    continue
                found[str(env["name"])] = env.get("aadTenantId") or None
        self._env_tenant = {name: aad for name, aad in found.items() if _ENVIRONMENT.match(name)}
        return self._env_tenant

    async def _env_base(self, environment: str) -> str:
        envs = await self._environments()
        aad = envs.get(environment)
        if aad:
            return f"/v2.0/{aad}/{environment}/api/v2.0"
        return f"/v2.0/{environment}/api/v2.0"

    async def _company(self, tenant_id: str | None) -> str:
        """The company's URL path for a ``{environment}/{company id}`` tenant."""
        tid = tenant_id or self.ctx.options.get("tenant_id")
        if not tid:
            tenants = await self.list_tenants()
            if len(tenants) != 1:
                raise rejected(
                    PROVIDER,
                    "this login reaches several Business Central companies: choose one "
                    "(activate the authorisation with a tenant_id)",
                    (FieldError("tenant_id", "required"),),
                )
            tid = tenants[0].id
        environment, _, company = str(tid).partition("/")
        if not _ENVIRONMENT.match(environment) or not _GUID.match(company):
            raise rejected(
                PROVIDER,
                f"{tid!r} is not a Business Central tenant (environment/company id)",
                (FieldError("tenant_id", "environment/company id"),),
            )
        return f"{await self._env_base(environment)}/companies({company})"

    # -- reading -----------------------------------------------------------------------------
    async def verify(self) -> VerifyResult:
        tenants = await self.list_tenants()
        if not tenants:
            raise rejected(
                PROVIDER,
                "the login works but reaches no Business Central company; check the user's "
                "(or the Entra application's) permissions in Business Central",
            )
        environments = {t.id.split("/", 1)[0] for t in tenants}
        return VerifyResult(
            True,
            f"connected to Business Central: {len(tenants)} companies in "
            f"{len(environments)} environments",
            tuple(tenants),
        )

    async def list_tenants(self) -> list[Tenant]:
        """Companies of every environment the login may open. An environment that refuses
        this user (no licence or permission there) is skipped, unless every one refuses."""
        tenants: list[Tenant] = []
        refused: ProviderError | None = None
        environments = await self._environments()
        for environment in environments:
            base = await self._env_base(environment)
            try:
                companies = await self._values(f"{base}/companies")
            except ProviderError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                log.info("Business Central environment %s refused this login: %s",
                         environment, exc.message)  # fmt: skip
                refused = exc
                continue
            for company in companies:
                name = company.get("displayName") or company.get("name") or company["id"]
                tenants.append(Tenant(f"{environment}/{company['id']}", f"{name} ({environment})"))
        if refused is not None and not tenants:
            raise refused
        return tenants

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        company = await self._company(tenant_id)
        journals = await self._values(f"{company}/journals")
        ours = [j for j in journals if not RUN_BATCH.match(str(j.get("code", "")))]
        return ledgers_from(ours, "id", "code", "displayName")

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        company = await self._company(tenant_id)
        accounts = [
            Account(str(a["number"]), str(a.get("displayName") or ""), str(a["id"]))
            for a in await self._values(f"{company}/accounts")
            if a.get("accountType", "Posting") == "Posting" and not a.get("blocked")
        ]
        return sorted(accounts, key=lambda a: a.code)

    async def read_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        company = await self._company(tenant_id)
        return [
            TaxCode(str(t["code"]), str(t.get("displayName") or t["code"]))
            for t in await self._values(f"{company}/taxGroups")
        ]

    # -- writing -----------------------------------------------------------------------------
    @staticmethod
    def _check(entry: JournalEntry) -> None:
        refuse_malformed(PROVIDER, "Business Central", entry)

    async def _check_setup(self, company: str, entry: JournalEntry) -> None:
        """General Ledger Setup: "Allow Posting From/To" and the local currency (BC's journal
        lines have no currency field), refused before anything is written."""
        body = await self.http.get_json(f"{company}/generalLedgerSetup")
        rows = body.get("value") if isinstance(body, dict) and "value" in body else [body]
        setup = rows[0] if rows and isinstance(rows[0], dict) else {}
        local = str(setup.get("localCurrencyCode") or "").upper()
        if local and entry.currency.upper() != local:
            raise rejected(
                PROVIDER,
                f"the entry is in {entry.currency} but this Business Central company books in "
                f"{local}; journal lines can only be posted in the local currency",
                (FieldError("currency", f"must be {local}"),),
            )
        start = _date_or_none(setup.get("allowPostingFrom"))
        end = _date_or_none(setup.get("allowPostingTo"))
        day = entry.date
        if (start and day < start) or (end and day > end):
            window = f"{start or 'any date'} to {end or 'any date'}"
            raise period_locked(
                PROVIDER,
                f"Business Central allows posting from {window} (General Ledger Setup); "
                f"{day.isoformat()} is outside it. Open the period there, then sync again",
            )

    async def _lookup(self, company: str, reference: str) -> PostedEntry | None:
        number = document_number(reference)
        body = await self.http.get_json(
            f"{company}/generalLedgerEntries",
            params={"$filter": f"documentNumber eq {_odata_string(number)}", "$top": "1"},
        )
        if isinstance(body, dict) and body.get("value"):
            return PostedEntry(number, reference)
        return None

    async def _run_batch(self, company: str, code: str, display: str) -> dict[str, Any]:
        """The run's own batch, created once; lines a crashed attempt left in it are dropped."""
        found = await self._values(
            f"{company}/journals", {"$filter": f"code eq {_odata_string(code)}"}
        )
        if not found:
            response = await self._send_json(
                "POST", f"{company}/journals", {"code": code, "displayName": display}
            )
            return dict(response.json())
        batch = found[0]
        for line in await self._values(f"{company}/journals({batch['id']})/journalLines"):
            await self.http.delete(
                f"{company}/journals({batch['id']})/journalLines({line['id']})",
                headers={"If-Match": "*"},
                ok={200, 204, 404},
            )
        return dict(batch)

    async def _drop_batch(self, company: str, batch: Mapping[str, Any]) -> None:
        try:
            await self.http.delete(
                f"{company}/journals({batch['id']})", headers={"If-Match": "*"}, ok={200, 204, 404}
            )
        except ProviderError as exc:  # the entry is fine; an empty batch stays behind
            log.warning("could not delete run batch %s: %s", batch.get("code"), exc.message)

    def _line(self, entry: JournalEntry, index: int, number: str) -> dict[str, Any]:
        line = entry.lines[index]
        doc: dict[str, Any] = {
            "lineNumber": LINE_STEP * (index + 1),
            "accountType": "G/L Account",
            "accountNumber": line.account,
            "postingDate": entry.date.isoformat(),
            "documentNumber": number,
            "externalDocumentNumber": entry.reference[:EXTERNAL_DOC_MAX],
            "amount": line.debit - line.credit,
            "description": (line.description or entry.narration)[:DESCRIPTION_MAX],
        }
        if line.vat_code:
            doc["taxCode"] = line.vat_code
        return doc

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """Write the run's batch, post it, and confirm by document number."""
        self._check(entry)
        company = await self._company(entry.tenant_id)
        already = await self._lookup(company, entry.reference)
        if already is not None:
            return already
        await self._check_setup(company, entry)
        journal = await self.ledger(entry.ledger_id, entry.tenant_id)
        await self.known_accounts(entry, entry.tenant_id, what="posting account")
        number = document_number(entry.reference)
        display = f"bexsync {entry.reference} ({journal.code})"[:DESCRIPTION_MAX]
        batch = await self._run_batch(company, batch_code(idempotency_key), display)
        lines_url = f"{company}/journals({batch['id']})/journalLines"
        try:
            for index in range(len(entry.lines)):
                await self._send_json("POST", lines_url, self._line(entry, index, number))
            await self.http.post(f"{company}/journals({batch['id']})/Microsoft.NAV.post")
        except ProviderError as exc:
            if exc.kind in ("rejected", "period_locked"):
                await self._drop_batch(company, batch)  # refused: leave nothing half-written
            raise
        posted = await self._lookup(company, entry.reference)
        if posted is None:
            raise unavailable(
                PROVIDER,
                f"Business Central accepted the posting of {number} but shows no G/L entries "
                "for it yet; bexsync looks again before posting anything",
            )
        await self._drop_batch(company, batch)
        return posted

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """G/L entries with the reference's document number (journal-independent in BC)."""
        return await self._lookup(await self._company(tenant_id), reference)


def _date_or_none(value: Any) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
    return None if day == _NO_DATE else day
