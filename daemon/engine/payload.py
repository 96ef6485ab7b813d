"""The entry a run posts, as stored: in the run's intent (its payload) and in the entry's lines.

Money is kept as 2-place text, so the stored payload and its hash (the idempotency key) do not
depend on how a Decimal happens to be written.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Any

from daemon.formats import dumps
from providers.base import EntryLine, JournalEntry

SNAPSHOT = "snapshot"
"""The key, in a run's stored payload, of what the entry was built from (not sent anywhere)."""


def entry_to_json(entry: JournalEntry) -> dict[str, Any]:
    return {
        "reference": entry.reference,
        "date": entry.date.isoformat(),
        "narration": entry.narration,
        "currency": entry.currency,
        "ledger_id": entry.ledger_id,
        "tenant_id": entry.tenant_id,
        "lines": [line_to_json(line) for line in entry.lines],
    }


def line_to_json(line: EntryLine) -> dict[str, Any]:
    """A posted line as stored (entries.lines, run payloads): money as 2-place strings."""
    return {
        "account": line.account,
        "account_name": line.account_name,
        "description": line.description,
        "vat_code": line.vat_code,
        "debit": f"{line.debit:.2f}",
        "credit": f"{line.credit:.2f}",
    }


def entry_from_json(data: dict[str, Any]) -> JournalEntry:
    return JournalEntry(
        reference=data["reference"],
        date=date.fromisoformat(data["date"]),
        narration=data["narration"],
        currency=data["currency"],
        ledger_id=data["ledger_id"],
        tenant_id=data.get("tenant_id"),
        lines=tuple(
            EntryLine(
                account=line["account"],
                description=line["description"],
                debit=Decimal(line["debit"]),
                credit=Decimal(line["credit"]),
                vat_code=line.get("vat_code"),
                account_name=line.get("account_name", ""),
            )
            for line in data["lines"]
        ),
    )


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(dumps(payload).encode()).hexdigest()


def idempotency_key(config_id: int, period: str, reference: str, digest: str) -> str:
    """The same entry of the same period always gets the same key: a replay after a crash is
    recognised by the provider as the same posting."""
    seed = f"{config_id}:{period}:{reference}:{digest}"
    return "bexsync-" + hashlib.sha256(seed.encode()).hexdigest()[:40]
