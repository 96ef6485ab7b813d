"""The provider interface every accounting adapter implements, and the entry it posts.

The daemon only ever sees these types; provider-specific shapes stay inside each adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

Route = Literal["direct", "chift", "local"]
AuthKind = Literal[
    "oauth_code", "device_code", "password", "client_credentials", "credentials", "none"
]


@dataclass(frozen=True)
class EntryLine:
    """One line of a journal entry, already mapped to the provider's account and tax codes."""

    account: str
    description: str
    debit: Decimal
    credit: Decimal
    vat_code: str | None = None
    account_name: str = ""


@dataclass(frozen=True)
class JournalEntry:
    """One balanced journal entry for one (configuration, period).

    ``reference`` is ``bexsync:{configuration_id}:{period}`` and is what ``find_entry`` looks up.
    """

    reference: str
    date: date
    narration: str
    currency: str
    ledger_id: str
    lines: tuple[EntryLine, ...]
    tenant_id: str | None = None

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), Decimal("0.00"))

    @property
    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), Decimal("0.00"))


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str


@dataclass(frozen=True)
class Ledger:
    """A journal / day book at the provider (the configuration's "ledger" dropdown)."""

    id: str
    code: str
    name: str


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    id: str | None = None  # providers that address accounts by an internal id keep it here


@dataclass(frozen=True)
class TaxCode:
    code: str
    name: str
    rate: Decimal | None = None


@dataclass(frozen=True)
class PostedEntry:
    external_id: str
    reference: str
    status: Literal["posted", "pending"] = "posted"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    message: str
    tenants: tuple[Tenant, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    idempotency: Literal["key", "lookup", "none"]
    async_post: bool = False
    max_lines: int | None = None
    currencies: tuple[str, ...] | None = None  # None: any

    def as_dict(self) -> dict[str, Any]:
        return {
            "idempotency": self.idempotency,
            "async_post": self.async_post,
            "max_lines": self.max_lines,
            "currencies": list(self.currencies) if self.currencies else None,
        }


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    title: str
    route: Route
    auth: tuple[AuthKind, ...]
    capabilities: Capabilities
    notes: str = ""
    settings: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "route": self.route,
            "auth": list(self.auth),
            "capabilities": self.capabilities.as_dict(),
        }


@runtime_checkable
class Provider(Protocol):
    """An authorised connection to one account at one accounting provider."""

    info: ClassVar[ProviderInfo]

    async def verify(self) -> VerifyResult: ...

    async def list_tenants(self) -> list[Tenant]: ...

    async def list_ledgers(self, tenant_id: str | None) -> list[Ledger]: ...

    async def list_accounts(self, tenant_id: str | None) -> list[Account]: ...

    async def list_tax_codes(self, tenant_id: str | None) -> list[TaxCode]: ...

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry: ...

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None: ...

    async def aclose(self) -> None: ...
