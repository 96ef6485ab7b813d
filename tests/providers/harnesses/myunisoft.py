"""MyUnisoft's simulator for the contract: the partner secret plus a customer API token."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from providers.simulators.base import SimulatorServer
from providers.simulators.myunisoft import MyUnisoftState, create_myunisoft_app, settings_for
from tests.providers.contract import END, Harness, Lines

PARTNER = "bexsync-partner-contract-0123456789"


class MyUnisoftHarness(Harness):
    provider_id = "myunisoft"
    write = r"^POST .*/entry" + END
    reads = r"^GET .*/account" + END
    lists = {
        "ledgers": r"/diary" + END,
        "accounts": r"/account" + END,
        "entries": r"/entry/id" + END,
    }
    paged = ("accounts",)  # the lookup by partner id is one request by design
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    closed_account = "4999"
    capabilities = frozenset({"http", "revocable", "known_accounts", "closed_accounts", "journals"})
    remaining_header = "X-Rate-Limit-Remaining"

    async def start(self) -> None:
        self.state = MyUnisoftState.seeded(PARTNER)
        self.state.rate_calls = 100_000  # fake time does not wait out a real-time window
        self.token = self.state.add_key("api")
        secret_file = self.tmp / "myunisoft-partner"
        secret_file.write_text(PARTNER, encoding="utf-8")
        server = SimulatorServer(create_myunisoft_app(self.state), name="myunisoft-contract")
        self.table = settings_for(await server.start(), str(secret_file))
        self.on_stop(server.stop)

    def form(self) -> dict[str, Any]:
        return {"jwt": self.token}

    def stored(self, reference: str) -> list[Lines]:
        numbers = {a["account_id"]: a["account_number"] for a in self.state.accounts}
        return [
            [(numbers[x["account_id"]], Decimal(x["debit"]), Decimal(x["credit"]))
             for x in entry["entry_list"]]
            for entry in self.state.entries
            if entry["entry_origin_partner_id"] == reference
        ]  # fmt: skip

    def lock(self, day: date | None) -> None:
        self.state.close(day.year if day else 2026, closed=day is not None)

    def revoke(self) -> None:
        self.state.keys.clear()

    def make_pages(self) -> None:
        self.state.account_page_size = 10
