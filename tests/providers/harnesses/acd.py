"""ACD's simulated i-Suite Expert for the contract: a firm host, a session token, pieces."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from providers.acd import piece_number
from providers.simulators.acd import CNX, AcdState, create_acd_app
from providers.simulators.base import SimulatorServer
from tests.providers.contract import END, Harness, Lines

USER, PASSWORD = "comptable", "s3cret-acd-contract"


class AcdHarness(Harness):
    provider_id = "acd"
    capabilities = frozenset(
        {"http", "token_renewal", "revocable", "known_accounts", "closed_accounts", "journals"}
    )
    write = r"^POST .*/v1/compta/ecriture" + END
    reads = r"^GET .*/v1/compta/comptes/generaux" + END
    lists = {
        "ledgers": r"/v1/compta/journal" + END,
        "accounts": r"/v1/compta/comptes/generaux" + END,
        "entries": r"/v1/compta/ecritures" + END,
    }
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    closed_account = "47100000"

    async def start(self) -> None:
        self.state = AcdState.seeded(USER, PASSWORD)
        self.state.clock = self.time.clock
        server = SimulatorServer(create_acd_app(self.state), name="acd-contract")
        self.host = await server.start()
        self.on_stop(server.stop)

    def form(self) -> dict[str, Any]:
        return {"host": self.host, "code": CNX, "username": USER, "password": PASSWORD}

    def stored(self, reference: str) -> list[Lines]:
        piece = piece_number(reference)
        return [
            [(x["Compte"], Decimal(x["Debit"]), Decimal(x["Credit"]))
             for x in entry["LignesEcriture"]]
            for entry in self.state.entries
            if entry["NumeroPiece"] == piece
        ]  # fmt: skip

    def lock(self, day: date | None) -> None:
        self.state.closed_until = (day.year, day.month) if day else None

    def expire_token(self) -> None:
        self.state.expire_sessions()

    def revoke(self) -> None:
        self.state.users.clear()
        self.state.expire_sessions()
