"""Cegid Loop's simulator for the contract: keys, asynchronous imports on the fake clock."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from providers.simulators.base import SimulatorServer
from providers.simulators.cegid_loop import DOSSIER, PREFIX, LoopState, create_loop_app
from tests.providers.contract import END, Harness, Lines

SUBSCRIPTION = "apim-contract-0123456789abcdef"
API_KEY = "loopkey:contract0123456789"


class CegidLoopHarness(Harness):
    provider_id = "cegid_loop"
    write = r"^POST .*/importJson" + END
    reads = r"^GET .*/compte" + END
    lists = {
        "ledgers": r"/journal" + END,
        "accounts": r"/compte" + END,
        "entries": r"/EcritureComptable" + END,
    }
    paged = ("ledgers", "accounts")  # the lookup answers at most 100 rows, by design
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    closed_account = "471000"
    capabilities = frozenset({"http", "revocable", "known_accounts", "closed_accounts", "journals"})

    async def start(self) -> None:
        self.state = LoopState.seeded(SUBSCRIPTION, API_KEY)
        self.state.clock = self.time.clock
        self.state.process_after = 1.0  # imports are booked a second (of fake time) later
        secret_file = self.tmp / "subscription-key"
        secret_file.write_text(SUBSCRIPTION, encoding="utf-8")
        server = SimulatorServer(create_loop_app(self.state), name="cegid-contract")
        self.table = {
            "client_id": "bexsync",
            "client_secret_file": str(secret_file),
            "api_url": await server.start() + PREFIX,
        }
        self.on_stop(server.stop)

    def form(self) -> dict[str, Any]:
        return {"dossier": DOSSIER, "api_key": API_KEY}

    def stored(self, reference: str) -> list[Lines]:
        return [
            [(x["compteNumero"], Decimal(x["debit"]), Decimal(x["credit"]))
             for x in entry["lignes"]]
            for entry in self.state.entries
            if entry["refPiece"] == reference
        ]  # fmt: skip

    def lock(self, day: date | None) -> None:
        self.state.closed_until = day

    def revoke(self) -> None:
        self.state.api_keys.clear()

    def make_pages(self) -> None:
        """Lists longer than a page (``take`` is at most 100): journals and accounts are added
        in front of the ones in use, so the adapter must read on to find them."""
        for n in range(110):
            row = {"objectId": 900_000 + n, "code": f"Z{n:03d}", "libelle": "Filler", "type": 2}
            self.state.journals.insert(0, row)
            account = {"objectId": 800_000 + n, "numero": f"609{n:03d}", "libelle": "Filler"}
            self.state.accounts.insert(0, {**account, "type": 1, "ferme": False})
