"""Pennylane's simulator for the contract: a company API token, lookup by label."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from providers.simulators.base import SimulatorServer
from providers.simulators.pennylane import PREFIX, PennylaneState, create_pennylane_app
from tests.providers.contract import END, Harness, Lines

TOKEN = "contract-pennylane-token-0123456789"


class PennylaneHarness(Harness):
    provider_id = "pennylane"
    capabilities = frozenset({"http", "revocable", "known_accounts", "journals"})
    write = r"^POST .*/ledger_entries" + END
    reads = r"^GET .*/ledger_accounts" + END
    lists = {
        "ledgers": r"^GET .*/journals" + END,
        "accounts": r"^GET .*/ledger_accounts" + END,
        "entries": r"^GET .*/ledger_entries" + END,
    }
    paged = ("ledgers", "accounts", "entries")
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    remaining_header = "ratelimit-remaining"

    async def start(self) -> None:
        self.state = PennylaneState.seeded(TOKEN)
        self.state.clock = self.time.clock
        server = SimulatorServer(create_pennylane_app(self.state), name="pennylane-contract")
        self.table = {"api_url": await server.start() + PREFIX}
        self.on_stop(server.stop)

    def form(self) -> dict[str, Any]:
        return {"api_token": TOKEN}

    def stored(self, reference: str) -> list[Lines]:
        numbers = {a["id"]: a["number"] for a in self.state.accounts}
        return [
            [
                (numbers[x["ledger_account_id"]], Decimal(x["debit"]), Decimal(x["credit"]))
                for x in entry["ledger_entry_lines"]
            ]
            for entry in self.state.entries
            if f"({reference})" in entry["label"]
        ]

    def lock(self, day: date | None) -> None:
        self.state.closed_until = day

    def revoke(self) -> None:
        self.state.tokens.clear()

    def make_pages(self) -> None:
        self.state.page_cap = 2
        for entry in list(self.state.entries):  # the lookup must page past these first
            for n in range(3):
                filler = {**entry, "id": self.state.next_id(), "label": f"Filler {n}"}
                self.state.entries.insert(0, filler)
