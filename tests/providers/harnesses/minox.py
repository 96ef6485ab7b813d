"""Minox's simulator for the contract: an OAuth code login, batches under the key's uuid."""

from __future__ import annotations

from datetime import date

from providers.login import LoginResult
from providers.simulators.base import SimulatorServer
from providers.simulators.clock import SimClock
from providers.simulators.minox import create_app, settings_for
from tests.providers.contract import END, Harness, Lines

CLIENT_ID, SECRET = "minox-contract", "minox-contract-secret-0123456789"


class MinoxHarness(Harness):
    provider_id = "minox"
    capabilities = frozenset(
        {"http", "token_refresh", "revocable", "known_accounts", "closed_accounts", "journals"}
    )
    write = r"^PUT .*/transaction_line_batch/[^/]+" + END
    reads = r"^GET .*/ledger_account" + END
    lists = {
        "ledgers": r"/journal" + END,
        "accounts": r"/ledger_account" + END,
        "entries": r"/transaction_lines" + END,
    }
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    closed_account = "9999"
    remaining_header = "x-rate-limit-remaining"

    async def start(self) -> None:
        self.clock = SimClock()
        app = create_app(CLIENT_ID, SECRET, clock=self.clock, calls_per_window=100_000)
        self.state = app.state.minox
        self.admin = self.state.administration(100200, 1)
        secret_file = self.tmp / "minox-secret"
        secret_file.write_text(SECRET, encoding="utf-8")
        server = SimulatorServer(app, name="minox-contract")
        self.table = settings_for(await server.start(), CLIENT_ID, str(secret_file))
        self.on_stop(server.stop)

    async def login(self) -> LoginResult:
        return await self.consent_login()

    def stored(self, reference: str) -> list[Lines]:
        return [
            [(str(x["account"]["id"]), x["debit"], x["credit"]) for x in lines]
            for lines in self.admin.batches.values()
            if lines and f"({reference})" in lines[0]["description"]
        ]

    def lock(self, day: date | None) -> None:
        if day is None:
            self.admin.closed_years.clear()
        else:
            self.admin.closed_years.add(day.year)

    def expire_token(self) -> None:
        self.clock.advance(3700)

    def revoke(self) -> None:
        self.state.oauth.revoke_all()
