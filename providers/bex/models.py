"""PMS records as the rest of bexsync sees them, independent of the JSON:API wire shape."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class PmsAdministration:
    id: str
    number: str
    name: str
    currency: str
    timezone: str


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    id: str
    number: str | None  # BEX "uncategorised" accounts have no number and cannot be synced
    name: str


@dataclass(frozen=True, slots=True)
class VatCode:
    id: str
    code: str
    name: str
    percentage: Decimal


@dataclass(frozen=True, slots=True)
class JournalTransaction:
    """One journal line from the PMS. ``date`` is the posting (journal) date: periods use it."""

    id: str
    date: datetime.date
    ledger_account_id: str
    vat_code_id: str | None
    debit: Decimal
    credit: Decimal
    description: str
    invoice_id: str | None = None
    invoice_number: str | None = None
    invoice_date: datetime.date | None = None
