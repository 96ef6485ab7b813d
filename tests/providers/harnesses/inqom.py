"""Inqom's simulator for the contract: the password grant, dossiers, ExternalId replays."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from providers.simulators.base import SimulatorServer
from providers.simulators.clock import SimClock
from providers.simulators.inqom import create_app, settings_for
from tests.providers.contract import END, Harness, Lines

CLIENT_ID = "bexsync-contract"
SECRET = "inqom-contract-secret-0123456789"
USER, PASSWORD = "compta@camping.example", "correct horse battery staple"


class InqomHarness(Harness):
    provider_id = "inqom"
    capabilities = frozenset(
        {"http", "token_refresh", "revocable", "known_accounts", "closed_accounts", "journals"}
    )
    write = r"^POST /v1/dossiers/\d+/entries" + END
    reads = r"^GET /v1/dossiers/\d+/accounts" + END
    lists = {
        "ledgers": r"/journals" + END,
        "accounts": r"/accounts" + END,
        "entries": r"/entry-lines" + END,
    }
    paged = ("entries",)  # journals and accounts come whole
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    closed_account = "80"

    async def start(self) -> None:
        self.clock = SimClock()
        app = create_app(CLIENT_ID, SECRET, {USER: PASSWORD}, clock=self.clock)
        self.state = app.state.inqom
        self.state.rate_calls = 100_000  # fake time does not wait out a real-time window
        self.dossier = self.state.add_dossier("Camping Les Pins SAS", users=(USER,))
        secret_file = self.tmp / "inqom-secret"
        secret_file.write_text(SECRET, encoding="utf-8")
        server = SimulatorServer(app, name="inqom-contract")
        self.table = settings_for(await server.start(), CLIENT_ID, str(secret_file))
        self.on_stop(server.stop)

    def form(self) -> dict[str, Any]:
        return {"username": USER, "password": PASSWORD}

    def stored(self, reference: str) -> list[Lines]:
        return [
            [(x["AccountNumber"], Decimal(x["DebitAmount"]), Decimal(x["CreditAmount"]))
             for x in entry["Lines"]]
            for entry in self.dossier.entries
            if entry["Document"]["Reference"] == reference
        ]  # fmt: skip

    def lock(self, day: date | None) -> None:
        self.state.lock(self.dossier, day.year if day else 2026, locked=day is not None)

    def expire_token(self) -> None:
        self.clock.advance(3700)  # the access token lasts an hour

    def revoke(self) -> None:
        self.state.oauth.revoke_all()

    def make_pages(self) -> None:
        self.state.page_size = 2
        for entry in list(self.dossier.entries):  # the lookup must page past these first
            for n in range(2):
                filler = {**entry, "Id": self.state.next_id(), "ExternalId": f"filler-{n}"}
                filler["Document"] = {"Reference": f"filler {n}"}
                self.dossier.entries.insert(0, filler)
