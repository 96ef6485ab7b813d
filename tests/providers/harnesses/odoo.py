"""Odoo's simulator for the contract (JSON-2, Odoo 19): an API key, moves looked up by ref."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from providers.simulators.base import SimulatorServer
from providers.simulators.odoo import OdooState, create_odoo_app
from tests.providers.contract import END, Harness, Lines

LOGIN, KEY = "bexsync-bot@example.com", "contract0123456789abcdef0123456789abcdef"


class OdooHarness(Harness):
    provider_id = "odoo"
    write = r"^POST /json/2/account.move/action_post" + END  # posting is the commit
    reads = r"^POST /json/2/account.account/search_read" + END
    lists = {
        "ledgers": r"/account.journal/search_read" + END,
        "accounts": r"/account.account/search_read" + END,
        "tax_codes": r"/account.tax/search_read" + END,
        "entries": r"/account.move/search_read" + END,
    }
    paged = ("ledgers", "accounts", "tax_codes")  # a reference matches one move: one page

    async def start(self) -> None:
        self.state = OdooState.seeded(LOGIN, KEY, version=19)
        server = SimulatorServer(create_odoo_app(self.state), name="odoo-contract")
        self.url = await server.start()
        self.on_stop(server.stop)

    def form(self) -> dict[str, Any]:
        return {"url": self.url, "database": "bexsync", "username": LOGIN, "api_key": KEY}

    def stored(self, reference: str) -> list[Lines]:
        codes = {a["id"]: a["code"] for a in self.state.accounts}
        return [
            [(codes[x["account_id"]], x["debit"], x["credit"]) for x in move["lines"]]
            for move in self.state.moves
            if move["ref"] == reference
        ]

    def lock(self, day: date | None) -> None:
        for company in self.state.companies:
            company["fiscalyear_lock_date"] = day.isoformat() if day else None

    def revoke(self) -> None:
        self.state.users[LOGIN]["api_key"] = "revoked-" + KEY

    def make_pages(self) -> None:
        """More journals, accounts and taxes than one page (500) of ``search_read``."""
        company = self.state.companies[0]["id"]
        for n in range(510):
            self.state.add_account(f"6{n:05d}", "Filler", company)
            self.state.journals.append(
                {"id": self.state.next_id(), "code": f"Z{n:03d}", "name": "Filler",
                 "type": "general", "company_id": company}
            )  # fmt: skip
            self.state.taxes.append(
                {"id": self.state.next_id(), "name": f"T{n}", "description": "Filler",
                 "amount": Decimal(1), "amount_type": "percent", "type_tax_use": "sale",
                 "company_id": company}
            )  # fmt: skip
