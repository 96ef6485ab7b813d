"""The sandbox ledger as the contract sees it: a local SQLite file, no HTTP, no login."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from typing import Any

from providers.sandbox import LEDGER_FILE, SandboxLedger
from tests.providers.contract import Harness, Lines


class SandboxHarness(Harness):
    provider_id = "sandbox"
    capabilities = frozenset({"known_accounts", "journals"})
    vat_codes = frozenset({"0", "L", "H", "NONE"})

    async def start(self) -> None:
        self.ledger_path = self.tmp / LEDGER_FILE

    def adapter_kwargs(self) -> dict[str, Any]:
        return {}

    def stored(self, reference: str) -> list[Lines]:
        if not self.ledger_path.exists():
            return []
        with sqlite3.connect(self.ledger_path) as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM journal_entries WHERE reference = ?", (reference,)
            )]  # fmt: skip
            return [
                [
                    (account, Decimal(debit), Decimal(credit))
                    for account, debit, credit in conn.execute(
                        "SELECT account, debit, credit FROM journal_lines WHERE entry_id = ?",
                        (entry_id,),
                    )
                ]
                for entry_id in ids
            ]

    def lock(self, day: date | None) -> None:
        SandboxLedger(self.ledger_path).lock_until(day.isoformat() if day else None)
