"""Chift's simulator for the contract, one harness per Chift-routed provider.

Every request is also validated against Chift's published OpenAPI file.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from providers.chift_gateway import entry_number
from providers.simulators.chift import ChiftSimulator, start_server
from tests.providers.chift_spec import chift_transport
from tests.providers.contract import END, Harness, Lines


class ChiftHarness(Harness):
    provider_id = "chift"
    capabilities = frozenset(
        {"http", "token_renewal", "revocable", "known_accounts", "closed_accounts", "journals"}
    )
    write = r"^POST .*/accounting/journal-entries" + END
    reads = r"^GET .*/accounting/chart-of-accounts" + END
    lists = {
        "ledgers": r"/accounting/journals" + END,
        "accounts": r"/accounting/chart-of-accounts" + END,
        "tax_codes": r"/accounting/vat-codes" + END,
        "entries": r"/accounting/journal/entries" + END,
    }
    paged = ("ledgers", "accounts", "tax_codes", "entries")
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    closed_account = "9999"

    async def start(self) -> None:
        self.sim = ChiftSimulator(self.provider_id)
        self.chaos.inner = chift_transport()
        server = await start_server(self.sim.app, f"{self.provider_id}-contract")
        self.table = {"api_url": server.url}
        self.on_stop(server.stop)

    async def stop(self) -> None:
        await super().stop()
        violations = getattr(self.chaos.inner, "violations", [])
        assert violations == [], f"requests off Chift's spec: {violations}"

    def form(self) -> dict[str, Any]:
        sim = self.sim
        return {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "account_id": sim.account_id,
        }

    def stored(self, reference: str) -> list[Lines]:
        number = entry_number(reference)
        return [
            [(x["account_number"], x["debit"], x["credit"]) for x in entry["items"]]
            for entry in self.sim.ledger().entries
            if entry["name"] == number
        ]

    def lock(self, day: date | None) -> None:
        self.sim.lock_until(day)

    def expire_token(self) -> None:
        self.sim.expire_tokens()

    def revoke(self) -> None:
        self.sim.client_secret = "revoked-in-chift-back-office"
        self.sim.expire_tokens()

    def make_pages(self) -> None:
        """More than one page (100) of journals, accounts, VAT codes and entries; the fillers
        come first, so what is in use sits on a later page."""
        ledger = self.sim.ledger()
        for n in range(110):
            ledger.journals.insert(0, {"id": f"jnl-z{n}", "code": f"Z{n}", "name": "Filler",
                                       "journal_type": "miscellaneous_operation"})  # fmt: skip
            ledger.accounts = {f"6{n:05d}": {"number": f"6{n:05d}", "name": "Filler",
                                             "active": True}, **ledger.accounts}  # fmt: skip
            ledger.vat_codes.insert(0, {"id": f"vat-z{n}", "code": f"Z{n}", "label": "Filler",
                                        "rate": 1, "type": "sale", "scope": "nat",
                                        "active": True})  # fmt: skip
            if ledger.entries:
                filler = {**ledger.entries[-1], "id": f"je_z{n}", "name": f"Z{n}"}
                ledger.entries.insert(0, {**filler, "reference": f"filler {n}"})


class TiimeHarness(ChiftHarness):
    provider_id = "tiime"
    capabilities = frozenset(
        {"http", "token_renewal", "revocable", "journals"}
    )  # Tiime creates accounts


class Sage100FrHarness(ChiftHarness):
    provider_id = "sage100fr"
