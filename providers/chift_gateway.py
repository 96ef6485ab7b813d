"""Chift's unified accounting API, shared by every provider bexsync reaches through Chift.

``ChiftGateway`` is the adapter; each Chift-routed provider (``chift`` itself, ``tiime``,
``sage100fr``) subclasses it with its own ``info`` and a ``Connector``: what differs between
Chift connectors as far as posting a journal entry goes.

Endpoint keys of ``[providers.chift]`` (and of ``[providers.tiime]``, ``[providers.sage100fr]``):
  ``api_url``    default ``https://api.chift.eu``
  ``token_url``  default ``{api_url}/token``
Other key: ``integration_id`` (a Chift integration id) pins the connector when its name differs
from what ``Connector.integration_names`` expects.

Login: a credentials form of the Chift API key (``client_id``, secret ``client_secret``,
``account_id``). ``POST /token`` turns it into a 30-minute bearer token, which the adapter
obtains, renews before expiry and once more after a 401; it is kept in memory only.

Tenants are Chift consumers (Chift's end customers) with an active connection of the
"Accounting" API to the right connector (any for ``chift``); a consumer with several selected
folders gives one tenant per folder, ``"{consumer_id}:{folder_id}"``.

Writes: ``POST /consumers/{id}/accounting/journal-entries`` with ``X-Chift-Client-RequestId``
(Chift's idempotency key: a replay answers 409 and ``GET .../connections/{c}/transactions``
names the entry it created). ``reference`` carries the entry's reference and ``number`` a short
code derived from it (``entry_number``); ``find_entry`` lists the period's entries
(``GET .../accounting/journal/entries`` has no reference filter) and matches either.
Amounts go out as JSON numbers written from the Decimal's digits (the spec types them
``number``); never through float.

Checked against: Chift's published OpenAPI document (shared/specs/chift_openapi.json, from
chift-oneapi/chift-python-sdk) and docs.chift.eu (idempotency, errors, connectors); requests
are validated against the OpenAPI file in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, TaxCode, Tenant, VerifyResult
from providers.catalog import CHIFT_API
from providers.context import ProviderContext
from providers.entry_checks import refuse_malformed
from providers.error_bodies import json_or_none
from providers.errors import ProviderError, auth_expired, period_locked, rejected, unavailable
from providers.http import provider_message
from providers.kit import FieldError, HttpAdapter
from providers.login import (
    Answer,
    CredentialField,
    CredentialsLogin,
    Login,
    LoginContext,
    LoginResult,
    LoginStart,
)
from providers.oauth import BearerAuth, OAuthApp, OAuthFlowError, TokenManager, json_token_request
from providers.ratelimit import RateLimitSpec
from providers.references import period_dates
from providers.settings import ProviderSettings
from providers.tokens import MemoryTokenStore, Token
from providers.wire import cents, dumps_decimal

PAGE_SIZE = 100  # the spec's maximum page size
REQUEST_ID_HEADER = "X-Chift-Client-RequestId"
MAX_REQUEST_ID = 255  # varchar(255), Chift's idempotency guide
NO_VAT_CODE = "NONE"  # BEX's "no VAT" code: sent as no tax code when the connector has none
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Error codes meaning "that period is closed". Chift documents ERROR_BOOKYEAR_CLOSED (via
# MyUnisoft); the other spellings are guesses kept here so the gap sits in one place.
LOCKED_CODES = frozenset(
    {"ERROR_BOOKYEAR_CLOSED", "ERROR_PERIOD_CLOSED", "ERROR_PERIOD_LOCKED", "ERROR_ENTRY_LOCKED"}
)
FIELD_OF_CODE: Mapping[str, str] = {
    "ERROR_JOURNAL_NOT_FOUND": "ledger_id",
    "ERROR_JOURNAL_ALREADY_OPEN": "ledger_id",
    "ERROR_WRONG_ENTRY_TYPE": "ledger_id",
    "ERROR_ACCOUNT_NUMBER_NOT_FOUND": "lines.account",
    "ERROR_ACCOUNT_NUMBER_NOT_ACTIVE": "lines.account",
    "ERROR_ENTRY_NOT_BALANCED": "lines",
    "ERROR_DEBIT_CREDIT_VALUE": "lines",
    "ERROR_MULTIPLE_CURRENCIES": "currency",
    "ERROR_INVALID_CURRENCY_FORMAT": "currency",
    "ERROR_CURRENCY_NOT_FOUND": "currency",
}
# Chift has no rate limit of its own ("fair use"); connectors' limits come back as 429s with
# Retry-After. 600/min with 8 in flight is our own politeness bound.
FAIR_USE = RateLimitSpec(calls=600, per_seconds=60, concurrent=8)


@dataclass(frozen=True)
class Connector:
    """What differs between Chift connectors, as far as posting a journal entry goes."""

    provider_id: str
    label: str
    # Normalised (lower case, letters and digits only) fragments of Chift's integration name;
    # empty: any accounting connector. GAP: Chift's integration names are not in the spec.
    integration_names: tuple[str, ...] = ()
    multi_folder: bool = True
    # Tiime: no ledger-account creation endpoint; items carry account_info and the account is
    # created on the fly (the spec's GenericJournalItem.account_info, "e.g., for Tiime").
    send_account_info: bool = False
    max_description: int | None = None
    max_reference: int | None = None  # a connector that cuts the reference to this length
    local_agent: bool = False
    rate_limit: RateLimitSpec = FAIR_USE

    def matches(self, integration: str, integration_id: Any, pinned: Any) -> bool:
        if pinned not in (None, ""):
            return str(integration_id) == str(pinned)
        if not self.integration_names:
            return True
        name = re.sub(r"[^a-z0-9]", "", integration.lower())
        return any(fragment in name for fragment in self.integration_names)


def entry_number(reference: str) -> str:
    """The entry's ``number``: 13 characters derived from the reference.

    Chift requires a unique number and recommends it for idempotency; connectors cap its
    length (Sage 100's piece number holds 13 characters), so the full reference travels in
    ``reference`` and this short, deterministic code in ``number``.
    """
    digest = hashlib.sha256(reference.encode()).digest()
    return "BX" + base64.b32encode(digest).decode()[:11]


def endpoints(settings: ProviderSettings) -> tuple[str, str]:
    api_url = settings.url("api_url", CHIFT_API)
    return api_url, settings.url("token_url", f"{api_url}/token")


# --- login ----------------------------------------------------------------------------------

LOGIN_FIELDS = (
    CredentialField("client_id", "Chift client id"),
    CredentialField("client_secret", "Chift client secret", secret=True),
    CredentialField(
        "account_id",
        "Chift account id",
        pattern=UUID_PATTERN,
        hint="the Chift account id is a UUID (Chift back office > API keys)",
    ),
)


@dataclass(frozen=True)
class ChiftLogin(Login):
    """The API-key form; ``complete`` asks Chift for a token so a typo is caught at login."""

    fields: tuple[CredentialField, ...] = LOGIN_FIELDS
    kind: str = "credentials"

    async def begin(self, ctx: LoginContext) -> LoginStart:
        return await CredentialsLogin(self.fields).begin(ctx)

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        form = CredentialsLogin(self.fields)
        values = form.validate(answer.credentials, ctx.provider_id)
        _, token_url = endpoints(ctx.settings)
        app = OAuthApp(
            ctx.provider_id, values["client_id"], values["client_secret"], token_url=token_url
        )
        try:
            await json_token_request(app, _auth_body(values), now=ctx.now, transport=ctx.transport)
        except OAuthFlowError as exc:
            if exc.reason == "invalid_client":
                raise rejected(
                    ctx.provider_id,
                    "Chift refused this client id, secret and account id; copy them again from "
                    "Chift's back office",
                    (
                        FieldError("credentials.client_id", "not accepted by Chift"),
                        FieldError("credentials.client_secret", "not accepted by Chift"),
                        FieldError("credentials.account_id", "not accepted by Chift"),
                    ),
                    status=exc.status,
                ) from None
            raise
        return LoginResult(
            credentials={"client_secret": values["client_secret"]},
            options={"client_id": values["client_id"], "account_id": values["account_id"]},
        )


def _auth_body(values: Mapping[str, str]) -> dict[str, str]:
    return {
        "clientId": values["client_id"],
        "clientSecret": values["client_secret"],
        "accountId": values["account_id"],
    }


# --- the adapter ----------------------------------------------------------------------------


class ChiftGateway(HttpAdapter, login=ChiftLogin()):
    """One Chift API key: its consumers are the tenants; one connector profile per subclass."""

    connector: ClassVar[Connector]

    def __init__(
        self, ctx: ProviderContext, *, clock: Callable[[], float] = time.time, **kw: Any
    ) -> None:
        pid = self.info.id
        _, token_url = endpoints(ctx.settings)
        self._values = self._login_values(ctx)
        self._clock = clock
        self._app = OAuthApp(
            pid,
            self._values.get("client_id") or "unknown",
            self._values.get("client_secret"),
            token_url=token_url,
        )
        self.tokens = TokenManager(
            self._app,
            MemoryTokenStore(),
            clock=clock,
            transport=ctx.transport,
            on_auth_lost=ctx.on_auth_lost,
            renew=self._new_token,
        )
        super().__init__(
            ctx, rate_limit=kw.pop("rate_limit", None) or self.connector.rate_limit, **kw
        )
        self._connections: dict[str, list[dict[str, Any]]] = {}

    def headers(self) -> dict[str, str]:
        return {}

    def auth(self) -> httpx.Auth:
        return BearerAuth(self.tokens)

    @property
    def label(self) -> str:
        return self.connector.label

    def limiter_key(self) -> str:
        """Chift's fair use is per API key (account)."""
        return f"{self.info.id}:{self._values.get('account_id') or self.ctx.authorisation_id}"

    @staticmethod
    def _login_values(ctx: ProviderContext) -> dict[str, str]:
        """The API key from the login, falling back to the config file's app registration."""
        settings = ctx.settings
        client_id = ctx.options.get("client_id") or getattr(settings, "client_id", None)
        secret = ctx.credentials.get("client_secret")
        if not secret and getattr(settings, "client_secret_file", None):
            secret = settings.client_secret()
        account = ctx.options.get("account_id") or getattr(settings, "options", {}).get(
            "account_id"
        )
        found = {"client_id": client_id, "client_secret": secret, "account_id": account}
        return {k: str(v) for k, v in found.items() if v}

    async def _new_token(self) -> Token:
        missing = [k for k in ("client_id", "client_secret", "account_id") if k not in self._values]
        if missing:
            raise OAuthFlowError(
                self.info.id,
                "rejected",
                f"the Chift login lacks {', '.join(missing)}",
                reason="invalid_client",
            )
        return await json_token_request(
            self._app, _auth_body(self._values), now=self._clock(), transport=self.ctx.transport
        )

    # -- errors -----------------------------------------------------------------------------
    def map_error(self, response: httpx.Response) -> ProviderError | None:
        """Chift's ``{message, error_code, detail}`` (and FastAPI's 422 shape) to the taxonomy."""
        pid = self.info.id
        status = response.status_code
        body = json_or_none(response)
        if not isinstance(body, dict):
            return None
        code = str(body.get("error_code") or "").upper()
        text = provider_message(response)
        detail = body.get("detail")
        if isinstance(detail, str) and detail and detail not in text:
            text = f"{text} ({detail})" if text else detail
        label = self.connector.label
        if code in LOCKED_CODES:
            return period_locked(pid, f"{label} refused the entry: the period is closed: {text}")
        if code == "REQUEST_IN_PROCESS":
            return unavailable(pid, "Chift is still processing this entry; retrying later", 30)
        if code == "ERROR_CONNECTOR_AUTHENTICATION":
            return auth_expired(
                pid,
                f"Chift cannot log in to {label} for this consumer; reconnect it in Chift: {text}",
                status=status,
            )
        if self.connector.local_agent and (
            code == "ERROR_CONNECTOR_CONFIGURATION" or "local agent" in text.lower()
        ):
            # GAP: Chift does not document the error of a stopped local agent; its closest
            # documented error is ERROR_CONNECTOR_CONFIGURATION ("needs to be restarted").
            err = unavailable(
                pid,
                f"Chift's local agent on the {label} server does not answer (is the server on "
                f"and the agent service running?): {text}",
                retry_after=300,
            )
            err.status = status
            return err
        if status in (400, 404, 405, 409, 422) and (code or isinstance(detail, list)):
            fields = _field_errors(code, detail, text)
            what = f"{label} (through Chift)" if self.connector.integration_names else "Chift"
            return rejected(pid, f"{what} refused the request: {text}", fields, status=status)
        return None

    # -- tenants ----------------------------------------------------------------------------
    async def _accounting_connection(
        self, consumer_id: str, *, fresh: bool = False
    ) -> dict[str, Any] | None:
        if fresh or consumer_id not in self._connections:
            response = await self.http.get(f"/consumers/{consumer_id}/connections")
            data = response.json()
            self._connections[consumer_id] = data if isinstance(data, list) else []
        pinned = self.ctx.settings.options.get("integration_id") if self.ctx.settings else None
        for conn in self._connections[consumer_id]:
            if (
                conn.get("api") == "Accounting"
                and conn.get("status") == "active"
                and self.connector.matches(
                    str(conn.get("integration") or ""), conn.get("integrationid"), pinned
                )
            ):
                return conn
        return None

    async def _folders(self, consumer_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"/consumers/{consumer_id}/accounting/folders", ok={200, 400, 404, 405}
        )
        if response.status_code != 200 or not isinstance(response.json(), list):
            return []  # the connector has no folders
        return [
            f
            for f in response.json()
            if f.get("selected", True) is not False and f.get("active", True) is not False
        ]

    async def _scan_tenants(self, fresh: bool) -> list[tuple[Tenant, dict[str, Any]]]:
        consumers = (await self.http.get("/consumers")).json()
        found: list[tuple[Tenant, dict[str, Any]]] = []
        for consumer in consumers if isinstance(consumers, list) else []:
            cid = str(consumer.get("consumerid"))
            conn = await self._accounting_connection(cid, fresh=fresh)
            if conn is None:
                continue
            name = str(consumer.get("name") or cid)
            if not self.connector.integration_names:
                name = f"{name} ({conn.get('integration')})"
            folders = await self._folders(cid) if self.connector.multi_folder else []
            if len(folders) > 1:
                for folder in folders:
                    tenant = Tenant(f"{cid}:{folder['id']}", f"{name} / {folder.get('name')}")
                    found.append((tenant, conn))
            else:
                found.append((Tenant(cid, name), conn))
        return found

    async def list_tenants(self) -> list[Tenant]:
        return [tenant for tenant, _ in await self._scan_tenants(fresh=False)]

    async def verify(self) -> VerifyResult:
        scanned = await self._scan_tenants(fresh=True)
        tenants = tuple(t for t, _ in scanned)
        if not tenants:
            return VerifyResult(
                False,
                f"the Chift login works, but no Chift consumer has an active connection to "
                f"{self.connector.label}; connect one in Chift first",
            )
        if self.connector.local_agent:
            down = [t for t, conn in scanned if (conn.get("agent") or {}).get("status") == "down"]
            chosen = self.ctx.options.get("tenant_id")
            if len(down) == len(scanned) or any(t.id == chosen for t in down):
                names = ", ".join(t.name for t in down)
                return VerifyResult(
                    False,
                    f"Chift's local agent on the {self.connector.label} server is down for "
                    f"{names}: start the server and its Chift agent service",
                    tenants,
                )
        return VerifyResult(
            True, f"connected to Chift: {len(tenants)} tenant(s) on {self.connector.label}", tenants
        )

    async def _tenant(self, tenant_id: str | None) -> tuple[str, str | None]:
        """(consumer id, folder id) of a tenant id, the activated one, or the only one."""
        chosen = tenant_id or self.ctx.options.get("tenant_id")
        if not chosen:
            tenants = await self.list_tenants()
            if len(tenants) != 1:
                raise rejected(
                    self.info.id,
                    f"this Chift login reaches {len(tenants)} consumers; choose one (tenant_id)",
                    (FieldError("tenant_id", "choose a Chift consumer"),),
                )
            chosen = tenants[0].id
        consumer, _, folder = str(chosen).partition(":")
        if not re.fullmatch(UUID_PATTERN, consumer):
            raise rejected(
                self.info.id,
                f"{chosen!r} is not a Chift consumer id",
                (FieldError("tenant_id", "not a Chift consumer id"),),
            )
        return consumer, folder or None

    # -- options ----------------------------------------------------------------------------
    async def _pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, optional: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged list. ``optional``: a connector without the resource (405,
        ERROR_RESOURCE_NOT_SUPPORTED) has an empty list."""
        page = 1
        while True:
            response = await self.http.get(
                path,
                params={**(params or {}), "page": page, "size": PAGE_SIZE},
                ok={200, 405} if optional else None,
            )
            if response.status_code == 405:
                return
            data = response.json()
            items = data.get("items") or []
            for item in items:
                yield item
            total = int(data.get("total") or 0)
            if not items or page * PAGE_SIZE >= total:
                return
            page += 1

    @staticmethod
    def _folder_params(folder: str | None) -> dict[str, str]:
        return {"folder_id": folder} if folder else {}

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        consumer, folder = await self._tenant(tenant_id)
        ledgers = []
        async for journal in self._pages(
            f"/consumers/{consumer}/accounting/journals", self._folder_params(folder)
        ):
            if journal.get("blocked"):
                continue  # Chift: "blocked for creating entries"
            jid = str(journal["id"])
            ledgers.append(Ledger(jid, str(journal.get("code") or jid), str(journal["name"])))
        return ledgers

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        consumer, folder = await self._tenant(tenant_id)
        accounts = []
        async for item in self._pages(
            f"/consumers/{consumer}/accounting/chart-of-accounts", self._folder_params(folder)
        ):
            if item.get("active") is False:
                continue
            accounts.append(Account(str(item["number"]), str(item.get("name") or "")))
        return accounts

    async def _vat_codes(self, tenant_id: str | None) -> list[dict[str, Any]]:
        """The connector's VAT codes as Chift lists them (read once: they carry the ids that
        journal items must name)."""

        async def read(tenant: str | None) -> list[dict[str, Any]]:
            consumer, folder = await self._tenant(tenant)
            path = f"/consumers/{consumer}/accounting/vat-codes"
            return [v async for v in self._pages(path, self._folder_params(folder), optional=True)]

        return await self._cached("vat_rows", tenant_id, read)

    async def read_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        codes = []
        for vat in await self._vat_codes(tenant_id):
            if vat.get("active") is False:
                continue
            rate = vat.get("rate")
            codes.append(
                TaxCode(
                    str(vat.get("code") or vat["id"]),
                    str(vat.get("label") or ""),
                    Decimal(str(rate)) if rate is not None else None,
                )
            )
        return codes

    async def _tax_ids(self, tenant_id: str | None) -> dict[str, str]:
        """Tax code (as shown) -> Chift's VAT code id, which journal items must carry."""
        ids: dict[str, str] = {}
        for vat in await self._vat_codes(tenant_id):
            ids[str(vat["id"])] = str(vat["id"])
            if vat.get("code"):
                ids[str(vat["code"])] = str(vat["id"])
        return ids

    # -- posting ----------------------------------------------------------------------------
    async def _body(self, entry: JournalEntry, consumer: str, folder: str | None) -> dict[str, Any]:
        tax_ids = (
            await self._tax_ids(entry.tenant_id)
            if any(line.vat_code for line in entry.lines)
            else {}
        )
        problems: list[FieldError] = []
        items = []
        limit = self.connector.max_description
        for i, line in enumerate(entry.lines):
            description = line.description or entry.narration
            if limit is not None:
                description = description[:limit]
            item: dict[str, Any] = {
                "account_type": "general_account",
                "account": line.account,
                "description": description,
                "debit": cents(line.debit),
                "credit": cents(line.credit),
            }
            code = line.vat_code
            if code and code in tax_ids:
                item["tax_code"] = tax_ids[code]
            elif code and code != NO_VAT_CODE and tax_ids:
                problems.append(
                    FieldError(
                        f"lines[{i}].vat_code", f"{self.connector.label} has no VAT code {code}"
                    )
                )
            if self.connector.send_account_info:
                item["account_info"] = {
                    "account_number": line.account,
                    "account_name": line.account_name or line.description or line.account,
                }
            items.append(item)
        if problems:
            raise rejected(
                self.info.id,
                "; ".join(f"{p.field}: {p.message}" for p in problems),
                tuple(problems),
            )
        return {
            "journal_id": entry.ledger_id,
            "number": entry_number(entry.reference),
            "reference": entry.reference,
            "currency": entry.currency,
            "date": entry.date.isoformat(),
            "posted": True,
            "items": items,
        }

    async def _check(self, entry: JournalEntry) -> None:
        """What the connector would refuse, refused before anything is written: a malformed
        entry (before any call), then a journal or accounts it does not have (Tiime creates
        missing accounts itself)."""
        await self.ledger(entry.ledger_id, entry.tenant_id)
        if not self.connector.send_account_info:
            await self.known_accounts(entry, entry.tenant_id)

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        refuse_malformed(self.info.id, self.connector.label, entry)
        consumer, folder = await self._tenant(entry.tenant_id)
        await self._check(entry)
        body = await self._body(entry, consumer, folder)
        request_id = _request_id(idempotency_key)
        response = await self.http.post(
            f"/consumers/{consumer}/accounting/journal-entries",
            params=self._folder_params(folder),
            content=dumps_decimal(body),
            headers={"Content-Type": "application/json", REQUEST_ID_HEADER: request_id},
            retry_unsafe=True,  # the request id makes a retry safe
            ok={200, 201, 409},
        )
        if response.status_code != 409:
            created = _json(response).get("id")
            if created:
                return PostedEntry(str(created), entry.reference)
            # Accepted without an id (a connector that answers before booking): look it up.
            found = await self.find_entry(entry.reference, entry.tenant_id, entry.ledger_id)
            if found is None:
                raise unavailable(
                    self.info.id,
                    "Chift accepted the entry but did not say which one it created; bexsync "
                    "will look it up again before posting anything",
                    retry_after=60,
                )
            return found
        code = str(_json(response).get("error_code") or "").upper()
        if code == "REQUEST_ALREADY_PROCESSED":
            found = await self._replayed(consumer, request_id, entry.reference)
        elif "ALREADY_USED" in code or "ALREADY_EXISTS" in code:
            # The number is taken: this reference was posted before under another key.
            found = await self.find_entry(entry.reference, entry.tenant_id, entry.ledger_id)
        else:
            found = None
        if found is None:
            error = self.map_error(response)
            raise error or rejected(self.info.id, provider_message(response), status=409)
        return found

    async def _replayed(self, consumer: str, request_id: str, reference: str) -> PostedEntry | None:
        """What the first request with this id created (Chift's transaction lookup)."""
        conn = await self._accounting_connection(consumer)
        if conn is None:
            return None
        response = await self.http.get(
            f"/consumers/{consumer}/connections/{conn['connectionid']}/transactions",
            params={"client_request_id": request_id},
            ok={200, 404},
        )
        if response.status_code == 404:
            return None
        data = _json(response)
        status = int(data.get("status_code") or 0)
        if status >= 400:
            raise rejected(
                self.info.id,
                f"Chift already answered this request (same idempotency key) with HTTP {status}; "
                "preview and sync the period again to post it under a new key",
                status=status,
            )
        created = data.get("created_entity_id")
        return PostedEntry(str(created), reference) if created else None

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        consumer, folder = await self._tenant(tenant_id)
        span = period_dates(reference)
        if span is None:
            raise rejected(
                self.info.id,
                f"cannot look up {reference!r} at Chift: it names no period to search",
                (FieldError("reference", "expected bexsync:{configuration}:{period}"),),
            )
        params: dict[str, Any] = {
            **self._folder_params(folder),
            "unposted_allowed": "true",
            "date_from": span[0].isoformat(),
            "date_to": span[1].isoformat(),
        }
        if ledger_id:
            params["journal_id"] = ledger_id
        number = entry_number(reference)
        async for item in self._pages(f"/consumers/{consumer}/accounting/journal/entries", params):
            # Connectors keep one or the other; where the reference may be cut short (Sage
            # 100), a daily period's cut reference reads like its month's: the number decides.
            by_reference = self.connector.max_reference is None and item.get("reference")
            if item.get("name") == number or (by_reference and by_reference == reference):
                return PostedEntry(str(item["id"]), reference)
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _request_id(key: str) -> str:
    return key if len(key) <= MAX_REQUEST_ID else hashlib.sha256(key.encode()).hexdigest()


def _field_errors(code: str, detail: Any, text: str) -> tuple[FieldError, ...]:
    if isinstance(detail, list):  # FastAPI validation: [{loc: ["body", "items", 0, "debit"], msg}]
        found = []
        for err in detail:
            if not isinstance(err, dict):
                continue
            loc = [str(p) for p in err.get("loc") or [] if p not in ("body", "query", "path")]
            found.append(FieldError(".".join(loc) or "entry", str(err.get("msg") or "invalid")))
        if found:
            return tuple(found)
    field = FIELD_OF_CODE.get(code)
    return (FieldError(field, text),) if field else ()
