"""The skeleton every HTTP adapter shares, written once.

An adapter subclasses ``HttpAdapter`` and declares what differs as class attributes (``info``
from ``providers.catalog``, ``login``, ``rate_limit``...) and hooks (``headers``, ``auth``,
``map_error``, ``limiter_key``); the base builds the one ``HttpClient`` from the
``ProviderContext`` and closes it. Reference data goes through the base too: the adapter says
how to read journals, accounts and VAT codes (``read_*``); ``list_*`` answer from a short-lived
cache (``providers.reference_cache``), and ``ledger``/``known_accounts`` find what an entry
names, reading once more before refusing it.

The registry builds a provider's ``ProviderSpec`` from the same class attributes, so an adapter
module ends with its class: no factory function, no spec footer imported last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import httpx

from providers.base import Account, JournalEntry, Ledger, ProviderInfo, TaxCode, Tenant
from providers.catalog import CATALOG
from providers.context import ProviderContext
from providers.entry_checks import refuse_unknown_accounts
from providers.errors import FieldError, ProviderError, auth_expired, rejected
from providers.http import ErrorMapper, HttpClient, RetryPolicy, Sleep
from providers.login import LoginMethod, NoLogin
from providers.ratelimit import RateLimitSpec
from providers.reference_cache import ReferenceCache
from providers.settings import ProviderSettings, SettingsError
from providers.vat_labels import LABEL_TAX_CODES

T = TypeVar("T")

# What adapters build their refusals with, next to the base class.
__all__ = ["FieldError", "HttpAdapter", "app_secret", "ledgers_from", "registered_client_id"]


class HttpAdapter:
    """The common part of an adapter that reaches its provider over HTTP.

    Subclasses set ``info`` (from ``providers.catalog``; its ``settings`` give the default
    endpoints) and usually ``login`` and ``rate_limit``, and
    override the hooks below; state a hook needs (a token read from the credentials) is set
    before calling ``super().__init__``.
    """

    info: ClassVar[ProviderInfo]
    login: ClassVar[LoginMethod] = NoLogin()
    needs_app_registration: ClassVar[bool] = False
    rate_limit: ClassVar[RateLimitSpec | None] = None
    # Providers whose identity host differs from the API host (Xero's /Connections).
    follows_other_origins: ClassVar[bool] = False
    # The BEX VAT codes, named in line labels, for providers whose lines carry no tax code.
    label_tax_codes: ClassVar[tuple[TaxCode, ...]] = LABEL_TAX_CODES

    def __init_subclass__(
        cls,
        *,
        provider: str | None = None,
        login: LoginMethod | None = None,
        rate_limit: RateLimitSpec | None = None,
        errors: ErrorMapper | None = None,
        app_registration: bool = False,
        **kw: Any,
    ) -> None:
        """An adapter's declaration, in its class statement: ``class XeroProvider(HttpAdapter,
        provider="xero", login=..., errors=..., app_registration=True)``. ``provider`` takes
        the description from the catalog; ``errors`` reads the provider's own error answers;
        ``app_registration``: the config file must name the app bexsync is registered as."""
        super().__init_subclass__(**kw)
        if provider is not None:
            cls.info = CATALOG[provider]
        if login is not None:
            cls.login = login
        if rate_limit is not None:
            cls.rate_limit = rate_limit
        if errors is not None:
            setattr(cls, "map_error", staticmethod(errors))  # noqa: B010 (a method slot)
        if app_registration:
            cls.needs_app_registration = True

    def __init__(
        self,
        ctx: ProviderContext,
        *,
        sleep: Sleep = asyncio.sleep,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimitSpec | None = None,
    ) -> None:
        self.ctx = ctx
        self.sleep = sleep
        spec = rate_limit or self.rate_limit
        self.http = HttpClient(
            self.info.id,
            self.api_url(),
            limiter=ctx.limiters.limiter(self.limiter_key(), spec) if spec else None,
            auth=self.auth(),
            headers=self.headers(),
            transport=ctx.transport,
            error_mapper=self.map_error,
            sleep=sleep,
            retry=retry or RetryPolicy(),
            allow_other_origins=self.follows_other_origins,
        )
        self.reference = ReferenceCache()

    # -- hooks ------------------------------------------------------------------------------
    @property
    def provider(self) -> str:
        return self.info.id

    def api_url(self) -> str:
        """The API base: ``api_url`` of ``[providers.<id>]``, else the documented host."""
        return str(self.ctx.settings.url("api_url", self.info.settings.get("api_url", "")))

    def limiter_key(self) -> str:
        """Which requests share one quota (one limiter of ``ctx.limiters``): by default,
        those of one authorisation."""
        return f"{self.info.id}:{self.ctx.authorisation_id}"

    def auth(self) -> httpx.Auth | None:
        return None

    def headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    def map_error(self, response: httpx.Response) -> ProviderError | None:
        """The provider's own error answers; None leaves a response to the shared defaults."""
        return None

    @property
    def label(self) -> str:
        """How messages name the provider ("Xero", "Tiime (through Chift)")."""
        return self.info.title

    # -- reference data ----------------------------------------------------------------------
    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        """The tenant's journals, read from the provider (``list_ledgers`` caches them)."""
        raise NotImplementedError

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        """The tenant's postable accounts, read from the provider."""
        raise NotImplementedError

    async def read_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        """Providers whose lines carry no tax code accept BEX's and name them in the label."""
        return list(self.label_tax_codes)

    async def list_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        return await self._cached("ledgers", tenant_id, self.read_ledgers)

    async def list_accounts(self, tenant_id: str | None) -> list[Account]:
        return await self._cached("accounts", tenant_id, self.read_accounts)

    async def list_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        return await self._cached("tax_codes", tenant_id, self.read_tax_codes)

    async def fresh_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        """The journals read now (``verify`` must reach the provider), cached for later."""
        return await self._cached("ledgers", tenant_id, self.read_ledgers, fresh=True)

    async def _cached(
        self,
        kind: str,
        tenant_id: str | None,
        read: Callable[[str | None], Awaitable[list[T]]],
        fresh: bool = False,
    ) -> list[T]:
        # The same tenant whether asked for by id or left to the activated one.
        key = (kind, tenant_id or self.ctx.options.get("tenant_id"))
        found = await self.reference.get(key, lambda: read(tenant_id), fresh=fresh)
        return list(found)

    async def ledger(self, ledger_id: str, tenant_id: str | None, where: str = "") -> Ledger:
        """The journal an entry names, by id or else by code (any case); the list is read once
        more before the entry is refused for naming a journal the provider lacks."""
        for fresh in (False, True):
            ledgers = await self._cached("ledgers", tenant_id, self.read_ledgers, fresh)
            found = next((x for x in ledgers if x.id == ledger_id), None) or next(
                (x for x in ledgers if x.code.upper() == ledger_id.upper()), None
            )
            if found is not None:
                return found
        raise self.unknown_journal(ledger_id, where)

    async def known_accounts(
        self, entry: JournalEntry, tenant_id: str | None, what: str = "account"
    ) -> dict[str, Account]:
        """The provider's accounts by number, once every line's account is among them; an
        entry naming others is refused (one error per line) after reading the chart again."""
        accounts: dict[str, Account] = {}
        for fresh in (False, True):
            rows = await self._cached("accounts", tenant_id, self.read_accounts, fresh)
            accounts = {account.code: account for account in rows}
            if all(line.account in accounts for line in entry.lines):
                break
        refuse_unknown_accounts(self.info.id, self.label, entry, accounts, what=what)
        return accounts

    # -- shared behaviour -------------------------------------------------------------------

    async def chosen_tenant(
        self,
        tenant_id: str | None,
        tenants: Callable[[], Awaitable[list[Tenant]]],
        what: str = "tenant",
    ) -> str:
        """The tenant to address: the one asked for, the one chosen at activation, or the only
        one the login reaches; several (or none) must be chosen first."""
        chosen = tenant_id or self.ctx.options.get("tenant_id")
        if chosen:
            return str(chosen)
        found = await tenants()
        if len(found) == 1:
            return found[0].id
        reach = f"no {what}" if not found else f"{len(found)} {what}s; choose one"
        raise rejected(
            self.info.id,
            f"this {self.info.title} login reaches {reach} (tenant_id)",
            (FieldError("tenant_id", f"choose a {what}"),),
        )

    def login_missing(self, what: str) -> ProviderError:
        """A credential the login should have stored is absent: only a new login helps."""
        return auth_expired(self.info.id, f"no {self.info.title} {what} is stored: log in again")

    def unknown_journal(self, ledger_id: str, where: str = "") -> ProviderError:
        """The refusal of a ledger the provider does not have (configuration's ``ledger_id``)."""
        place = f" {where}" if where else ""
        return rejected(
            self.info.id,
            f"{self.info.title} has no journal {ledger_id!r}{place}; pick one of the journals "
            "in the options",
            (FieldError("ledger_id", f"unknown journal {ledger_id!r}"),),
        )

    async def journal_or_none(self, lookup: Awaitable[T]) -> T | None:
        """A journal lookup for ``find_entry``: a journal that does not exist holds no entry."""
        try:
            return await lookup
        except ProviderError as exc:
            if exc.kind != "rejected":
                raise
            return None

    async def aclose(self) -> None:
        await self.http.aclose()


def ledgers_from(
    rows: Sequence[Mapping[str, Any]], id_key: str, code_key: str, name_key: str
) -> list[Ledger]:
    """Ledgers from journal rows: the name falls back to the code, the code to nothing."""
    return [
        Ledger(
            str(row[id_key]),
            str(row.get(code_key) or ""),
            str(row.get(name_key) or row.get(code_key) or row[id_key]),
        )
        for row in rows
        if row.get(id_key) is not None
    ]


def registered_client_id(provider: str, settings: ProviderSettings, advice: str) -> str:
    """The app registration's client id; ``advice`` says where to set it when it is missing."""
    if not settings.client_id:
        raise rejected(provider, advice, (FieldError("client_id", "required"),))
    return str(settings.client_id)


def app_secret(provider: str, settings: ProviderSettings, advice: str | None) -> str | None:
    """The app registration's secret from ``client_secret_file``; required when ``advice``
    (what to set, and where) is given. An unreadable file is refused with the file named."""
    try:
        secret = settings.client_secret()
    except SettingsError as exc:
        raise rejected(provider, str(exc), (FieldError("client_secret_file", str(exc)),)) from None
    if not secret and advice:
        raise rejected(provider, advice, (FieldError("client_secret_file", "required"),))
    return secret
