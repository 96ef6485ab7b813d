"""Business Central's simulator for the contract: Entra device login, one batch per run."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from providers import registry
from providers.business_central import document_number
from providers.login import LoginResult
from providers.simulators.base import SimulatorServer
from providers.simulators.business_central import OAUTH_PREFIX, create_app, settings_for
from providers.simulators.clock import SimClock
from providers.simulators.oauth_server import SimClient
from tests.providers.contract import END, Harness, Lines

CLIENT_ID, SECRET = "bc-contract", "bc-contract-secret-0123456789"


class BusinessCentralHarness(Harness):
    provider_id = "business_central"
    capabilities = frozenset(
        {"http", "token_refresh", "revocable", "known_accounts", "closed_accounts", "journals"}
    )
    write = r"^POST .*/Microsoft.NAV.post" + END
    reads = r"^GET .*/accounts" + END
    lists = {
        "ledgers": r"^GET [^?]*/journals($|\?(?!%24filter))",  # not a run batch's lookup
        "accounts": r"/accounts" + END,
        "tax_codes": r"/taxGroups" + END,
    }
    paged = ("ledgers", "accounts", "tax_codes")  # the lookup asks for $top=1
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    closed_account = "9999"

    async def start(self) -> None:
        self.clock = SimClock()
        app = create_app(clients=(SimClient(CLIENT_ID, SECRET),), clock=self.clock, single=True)
        self.state = app.state.bc
        self.company = next(iter(self.state.environments["production"].companies.values()))
        secret_file = self.tmp / "bc-secret"
        secret_file.write_text(SECRET, encoding="utf-8")
        server = SimulatorServer(app, name="bc-contract")
        self.url = await server.start()
        self.table = settings_for(self.url, CLIENT_ID, str(secret_file))
        self.on_stop(server.stop)

    async def login(self) -> LoginResult:
        """Device code: the user approves the code in a browser, then the login completes."""
        spec = registry.get(self.provider_id)
        assert spec is not None
        start = await spec.login.begin(self.login_context())
        async with httpx.AsyncClient() as browser:
            approve = f"{self.url}{OAUTH_PREFIX}/device/approve"
            await browser.get(approve, params={"user_code": start.next_step["user_code"]})
        return await spec.login.complete(
            self.login_context(), start.pending, redirect_url=None, code=None, credentials=None
        )

    def stored(self, reference: str) -> list[Lines]:
        entries = self.company.entries_for(document_number(reference))
        lines = [(x["accountNumber"], x["debitAmount"], x["creditAmount"]) for x in entries]
        return [lines] if lines else []

    def lock(self, day: date | None) -> None:
        self.company.allow_posting_from = day + timedelta(days=1) if day else None

    def expire_token(self) -> None:
        self.clock.advance(3700)

    def revoke(self) -> None:
        self.state.oauth.revoke_all()

    def make_pages(self) -> None:
        self.state.max_page_size = 2
        self.company.add_journal("ZFILLER", "Filler")  # journals: three, over two pages
