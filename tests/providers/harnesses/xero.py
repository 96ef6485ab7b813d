"""Xero's simulator for the contract: OAuth code + PKCE, manual journals, the official spec.

Every request the adapter sends is also validated against Xero's published OpenAPI files
(accounting and identity): a request off the spec fails the contract test that sent it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from providers.login import LoginResult
from providers.simulators.base import SimulatorServer
from providers.simulators.clock import SimClock
from providers.simulators.xero import API_PREFIX, XeroSimState, create_xero_app, settings_for
from tests.providers.conftest import SpecRoute, SpecValidatingTransport, load_spec
from tests.providers.contract import END, Harness, Lines

CLIENT_ID, SECRET = "xero-contract-app", "xero-contract-secret-5f1e2d"


class XeroHarness(Harness):
    provider_id = "xero"
    capabilities = frozenset(
        {"http", "token_refresh", "revocable", "known_accounts", "closed_accounts"}
    )
    ledger = "manual-journals"  # Xero's one pseudo-ledger for manual journals
    write = r"^PUT .*/ManualJournals" + END
    reads = r"^GET .*/Accounts" + END
    lists = {
        "accounts": r"/Accounts" + END,
        "tax_codes": r"/TaxRates" + END,
        "entries": r"/ManualJournals" + END,
    }
    paged = ("entries",)  # accounts and tax rates come whole
    vat_codes = frozenset({"0", "L", "H", "NONE"})
    closed_account = "4999"
    remaining_header = "X-MinLimit-Remaining"

    async def start(self) -> None:
        self.clock = SimClock()
        # The simulator's own per-minute window runs on real time, the adapter's on fake time.
        self.state = XeroSimState(
            client_id=CLIENT_ID, client_secret=SECRET, clock=self.clock, minute_limit=100_000
        )
        self.org = self.state.add_org("Camping De Duinen BV")
        self.chaos.inner = SpecValidatingTransport(
            routes=[
                SpecRoute(API_PREFIX, load_spec("xero_accounting.yaml")),
                SpecRoute("/Connections", load_spec("xero-identity.yaml")),
            ],
            passthrough=["/identity/connect/"],
        )
        secret_file = self.tmp / "xero-secret"
        secret_file.write_text(SECRET, encoding="utf-8")
        server = SimulatorServer(create_xero_app(self.state), name="xero-contract")
        self.table = settings_for(await server.start(), CLIENT_ID, str(secret_file))
        self.on_stop(server.stop)

    async def stop(self) -> None:
        await super().stop()
        violations = getattr(self.chaos.inner, "violations", [])
        assert violations == [], f"requests off Xero's spec: {violations}"

    async def login(self) -> LoginResult:
        return await self.consent_login()

    def stored(self, reference: str) -> list[Lines]:
        zero = Decimal("0.00")
        return [
            [
                (x["AccountCode"], max(x["LineAmount"], zero), max(-x["LineAmount"], zero))
                for x in journal["JournalLines"]
            ]
            for journal in self.org.journals
            if journal["Narration"].endswith(f"({reference})")
            and journal["Status"] not in ("DELETED", "VOIDED")
        ]

    def lock(self, day: date | None) -> None:
        self.org.period_lock_date = day

    def expire_token(self) -> None:
        self.clock.advance(1900)  # Xero's access tokens last 30 minutes

    def revoke(self) -> None:
        self.state.oauth.revoke_all()

    def make_pages(self) -> None:
        """Xero ignores our narration filter; 150 later journals come first, Date DESC."""
        self.state.journal_where_methods = False
        template = self.org.journals[0]
        for n in range(150):
            filler = replace_journal(template, n)
            self.org.journals.append(filler)


def replace_journal(template: dict[str, object], n: int) -> dict[str, object]:
    journal = dict(template)
    journal["ManualJournalID"] = f"00000000-0000-0000-0000-{n:012d}"
    journal["Narration"] = f"Filler {n}"
    journal["Date"] = date(2026, 12, 31)
    return journal
