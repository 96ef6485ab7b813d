"""The provider contract: one class of tests, written once, run for every provider.

Modelled on vdirsyncer's ``tests/storage/__init__.py`` (``StorageTests``): ``ProviderContract``
holds the tests; each provider's test class only names its ``Harness`` (its simulator, its
login, what it can do). A test that needs what a provider cannot do is skipped by the
capability the harness declares, never by the provider's name.

Every adapter talks to its simulator over real HTTP on 127.0.0.1 through a ``Chaos``
transport that records each request and can replace an answer (429, 5xx), time out, or lose
an answer after the simulator committed it. Time is fake: the adapter's sleeps, its rate
limiters and (where the simulator takes one) the simulator's clock move one ``FakeTime``, so
a test asserts how long the code asked to wait, never how long the machine took.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from providers import registry
from providers.base import EntryLine, JournalEntry, PostedEntry, Provider
from providers.context import ProviderContext
from providers.errors import ProviderError
from providers.login import LoginContext, LoginResult
from providers.ratelimit import LimiterRegistry
from providers.settings import ProviderSettings
from providers.simulators.demo_login import follow_consent
from tests.providers.harness import FakeTime, journal_entry, standard_lines

# What a harness may declare (anything else is a typo and fails the run).
CAPABILITIES = frozenset(
    {
        "http",  # reaches its provider over HTTP (all but the local sandbox)
        "token_refresh",  # an expiring access token, refreshed with a rotating refresh token
        "token_renewal",  # an expiring token or session, renewed without the user
        "revocable",  # the provider can revoke the login
        "known_accounts",  # refuses an account it does not have (Tiime creates it instead)
        "closed_accounts",  # has closed/blocked accounts; the simulator seeds ``closed_account``
        "journals",  # entries go into one of several journals (not Xero's one pseudo-ledger)
    }
)
Lines = list[tuple[str, Decimal, Decimal]]
END = r"(\?|$)"  # the end of a request's path in a pattern, whatever its query


# -- the transport every adapter talks through ---------------------------------------------------


@dataclass
class Rule:
    """What to do with the next ``times`` requests matching ``pattern`` ("METHOD /path")."""

    pattern: re.Pattern[str]  # searched in "METHOD /path?query"
    action: str  # "respond", "timeout" or "lose_answer"
    times: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class Chaos(httpx.AsyncBaseTransport):
    """Passes requests to the simulator, records them, and breaks the ones a test asks for."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.rules: list[Rule] = []
        self.seen: list[str] = []  # "METHOD /path?query"

    def _rule(self, pattern: str, action: str, times: int, **kw: Any) -> None:
        self.rules.append(Rule(re.compile(pattern), action, times, **kw))

    def respond(self, pattern: str, status: int, times: int = 1, **headers: str) -> None:
        """Answer instead of the simulator (a 429, a 5xx); the simulator never sees it."""
        self._rule(pattern, "respond", times, status=status, headers=dict(headers))

    def time_out(self, pattern: str, times: int = 1) -> None:
        """The request times out before any answer (it may or may not have arrived)."""
        self._rule(pattern, "timeout", times)

    def lose_answer(self, pattern: str, times: int = 1) -> None:
        """The simulator handles the request (it commits), then the answer is lost."""
        self._rule(pattern, "lose_answer", times)

    def requests(self, pattern: str = ".") -> list[str]:
        return self.since(0, pattern)

    def mark(self) -> int:
        return len(self.seen)

    def since(self, mark: int, pattern: str = ".") -> list[str]:
        """Requests ("METHOD /path?query") matching ``pattern`` since ``mark``."""
        wanted = re.compile(pattern)
        return [line for line in self.seen[mark:] if wanted.search(line)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        query = request.url.query.decode()
        line = f"{key}?{query}" if query else key
        self.seen.append(line)
        for rule in self.rules:
            if rule.times <= 0 or not rule.pattern.search(line):
                continue
            rule.times -= 1
            if rule.action == "respond":
                body = {"error": f"simulated {rule.status}", "message": "simulated by the test"}
                return httpx.Response(rule.status, headers=rule.headers, json=body)
            if rule.action == "timeout":
                raise httpx.ReadTimeout("simulated timeout", request=request)
            response = await self.inner.handle_async_request(request)
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("simulated lost answer", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- what each provider supplies ------------------------------------------------------------------


class Harness:
    """One provider's simulator and login, as the contract needs them.

    Subclasses set the class attributes and implement ``start``, ``stored`` and ``lock`` (plus
    ``expire_token``/``revoke``/``make_pages`` for what their capabilities declare). Request
    patterns are searched in ``"METHOD /path?query"`` (``END`` ends a path, query or not).
    """

    provider_id: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"http", "revocable", "known_accounts", "journals"}
    )
    ledger: ClassVar[str] = "BEX"  # the ledger an entry names (id or code)
    write: ClassVar[str] = "^$"  # the request that commits an entry
    reads: ClassVar[str] = "^$"  # a request that reads the chart (list_accounts)
    # Reference data: list name -> the requests that read it (each read at most once a run).
    lists: ClassVar[dict[str, str]] = {}
    paged: ClassVar[tuple[str, ...]] = ()  # lists the provider's API pages
    vat_codes: ClassVar[frozenset[str]] = frozenset({"L", "H"})
    closed_account: ClassVar[str] = ""  # a closed (blocked, heading) account the sim seeds
    # The provider's own "calls remaining" header, sent at 0 with a simulated 429.
    remaining_header: ClassVar[str | None] = None

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.time = FakeTime()
        self.chaos = Chaos(httpx.AsyncHTTPTransport())
        self.limiters = LimiterRegistry(clock=self.time.clock, sleep=self.time.sleep)
        self.table: dict[str, Any] = {}  # [providers.<id>] pointing at the simulator
        self.saved: list[dict[str, Any]] = []  # credentials the adapter persisted
        self.lost: list[str] = []  # on_auth_lost messages
        self.adapters: list[Provider] = []
        self._ids = iter(range(1, 10_000))
        self._stops: list[Callable[[], Awaitable[None]]] = []
        self.credentials: dict[str, Any] = {}
        self.options: dict[str, Any] = {}

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        for adapter in self.adapters:
            await adapter.aclose()
        for stop in reversed(self._stops):
            await stop()
        await self.chaos.aclose()

    def on_stop(self, stop: Callable[[], Awaitable[None]]) -> None:
        self._stops.append(stop)

    # -- login and adapters -----------------------------------------------------------------
    @property
    def settings(self) -> ProviderSettings:
        return ProviderSettings.from_table(self.provider_id, self.table)

    def login_context(self) -> LoginContext:
        return LoginContext(
            self.provider_id, self.settings, "http://127.0.0.1:53682/callback", time.time(),
            transport=self.chaos,
        )  # fmt: skip

    async def login(self) -> LoginResult:
        """Log in as a user would (the provider's login method); default: a filled form."""
        spec = registry.get(self.provider_id)
        assert spec is not None
        return await spec.login.complete(
            self.login_context(), None, redirect_url=None, code=None, credentials=self.form()
        )

    def form(self) -> dict[str, Any]:
        return {}

    async def consent_login(self) -> LoginResult:
        """An OAuth code login: the user consents at the simulator, the redirect is pasted."""
        spec = registry.get(self.provider_id)
        assert spec is not None
        start = await spec.login.begin(self.login_context())
        redirect = await follow_consent(start.next_step["url"], self.provider_id)
        return await spec.login.complete(
            self.login_context(), start.pending, redirect_url=redirect, code=None, credentials=None
        )

    async def log_in(self) -> None:
        result = await self.login()
        self.credentials = dict(result.credentials)
        self.options = dict(result.options)

    def adapter(self, **options: Any) -> Provider:
        """An adapter for the stored login, as the daemon builds it (plus fake time)."""

        async def save(credentials: dict[str, Any]) -> None:
            self.saved.append(dict(credentials))
            self.credentials = dict(credentials)

        async def lost(message: str) -> None:
            self.lost.append(message)

        ctx = ProviderContext(
            provider_id=self.provider_id,
            authorisation_id=next(self._ids),
            settings=self.settings,
            state_dir=self.tmp,
            options={**self.options, **options},
            credentials=dict(self.credentials),
            transport=self.chaos,
            on_auth_lost=lost,
            save_credentials=save,
            limiters=self.limiters,
        )
        target = registry.ADAPTERS[self.provider_id]
        module, _, name = target.partition(":")
        adapter_class = getattr(__import__(module, fromlist=[name]), name)
        adapter: Provider = adapter_class(ctx, **self.adapter_kwargs())
        self.adapters.append(adapter)
        return adapter

    def adapter_kwargs(self) -> dict[str, Any]:
        return {"sleep": self.time.sleep}

    async def activated(self) -> tuple[Provider, str | None]:
        """An adapter activated on the first tenant the login reaches (and that tenant)."""
        tenants = await self.adapter().list_tenants()
        tenant = tenants[0].id if tenants else None
        return self.adapter(**({"tenant_id": tenant} if tenant else {})), tenant

    # -- the simulator's side ---------------------------------------------------------------
    def lines(self) -> tuple[EntryLine, ...]:
        """The lines of a normal month in this provider's codes."""
        return standard_lines()

    def stored(self, reference: str) -> list[Lines]:
        """Each entry the simulator holds for ``reference``: its (account, debit, credit)."""
        raise NotImplementedError

    def lock(self, day: date | None) -> None:
        """Close the provider's period (or lock its books) up to and including ``day``; None
        opens it again."""
        raise NotImplementedError

    def expire_token(self) -> None:
        """Make the access token (or session) expire at the provider."""
        raise NotImplementedError

    def revoke(self) -> None:
        """Revoke the login at the provider (a user disconnected bexsync)."""
        raise NotImplementedError

    def make_pages(self) -> None:
        """Make every list in ``paged`` span several pages of the provider's API."""
        raise NotImplementedError


# -- the contract ---------------------------------------------------------------------------------


def entry_of(harness: Harness, tenant: str | None, **kw: Any) -> JournalEntry:
    kw.setdefault("lines", harness.lines())
    kw.setdefault("ledger", harness.ledger)
    return journal_entry(tenant=tenant, **kw)


async def refused(kind: str, awaitable: Awaitable[Any]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await awaitable
    assert info.value.kind == kind, info.value.message
    return info.value


def zero() -> Decimal:
    return Decimal("0.00")


class ProviderContract:
    """The tests every provider passes. A subclass sets ``harness_class``."""

    harness_class: ClassVar[type[Harness]]

    @pytest.fixture
    async def harness(self, tmp_path: Path) -> AsyncIterator[Harness]:
        harness = self.harness_class(tmp_path)
        assert harness.capabilities <= CAPABILITIES, harness.capabilities - CAPABILITIES
        await harness.start()
        try:
            await harness.log_in()
            yield harness
        finally:
            await harness.stop()

    @pytest.fixture
    async def active(self, harness: Harness) -> tuple[Provider, str | None]:
        return await harness.activated()

    @staticmethod
    def requires(harness: Harness, capability: str) -> None:
        if capability not in harness.capabilities:
            pytest.skip(f"{harness.provider_id} does not declare {capability!r}")

    # -- login, activation, options ---------------------------------------------------------
    async def test_registered_under_its_id_with_its_login(self, harness: Harness) -> None:
        spec = registry.get(harness.provider_id)
        assert spec is not None and spec.info.id == harness.provider_id
        assert spec.login.kind in (*spec.info.auth, "none")
        assert spec.info.capabilities.idempotency in ("key", "lookup", "none")

    async def test_login_then_activate_on_a_tenant(self, harness: Harness) -> None:
        result = await harness.adapter().verify()
        assert result.ok, result.message
        assert result.tenants
        provider = harness.adapter(tenant_id=result.tenants[0].id)
        again = await provider.verify()
        assert again.ok, again.message
        assert await provider.list_ledgers(result.tenants[0].id)

    async def test_options_list_ledgers_accounts_and_vat_codes(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        assert [t.id for t in await provider.list_tenants()]
        ledgers = await provider.list_ledgers(tenant)
        assert harness.ledger in {x.id for x in ledgers} | {x.code for x in ledgers}
        accounts = {a.code for a in await provider.list_accounts(tenant)}
        assert {line.account for line in harness.lines()} <= accounts
        assert {"1000", "2060", "4910", "8200"} <= accounts  # the BEX chart, seeded
        codes = {t.code for t in await provider.list_tax_codes(tenant)}
        assert harness.vat_codes <= codes

    # -- posting and reading back -----------------------------------------------------------
    async def test_post_then_find_by_reference(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        entry = entry_of(harness, tenant)
        posted = await provider.post_entry(entry, "key-1")
        assert posted.reference == entry.reference and posted.status == "posted"
        found = await provider.find_entry(entry.reference, tenant, harness.ledger)
        assert found is not None and found.external_id == posted.external_id
        assert await provider.find_entry(entry.reference, tenant, None) is not None
        [lines] = harness.stored(entry.reference)
        assert sorted(lines) == sorted(
            (line.account, line.debit, line.credit) for line in entry.lines
        )

    async def test_find_matches_the_whole_reference_only(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        await provider.post_entry(entry_of(harness, tenant), "key-1")
        for other in ("bexsync:77:2026-03", "bexsync:7:2026-03-31", "bexsync:7:2026-04"):
            assert await provider.find_entry(other, tenant, harness.ledger) is None, other

    async def test_a_daily_reference_round_trips(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        daily = entry_of(harness, tenant, reference="bexsync:8:2026-03-17")
        monthly = entry_of(harness, tenant, reference="bexsync:8:2026-03")
        first = await provider.post_entry(daily, "key-day")
        second = await provider.post_entry(monthly, "key-month")
        assert first.external_id != second.external_id
        for entry, posted in ((daily, first), (monthly, second)):
            found = await provider.find_entry(entry.reference, tenant, harness.ledger)
            assert found is not None and found.external_id == posted.external_id
            assert len(harness.stored(entry.reference)) == 1

    @pytest.mark.parametrize("key", ["key-1", "key-2"], ids=["same key", "new key"])
    async def test_posting_a_reference_again_posts_nothing_new(
        self, harness: Harness, active: tuple[Provider, str | None], key: str
    ) -> None:
        """The same key replays; a new key finds the reference again (lookup providers)."""
        provider, tenant = active
        if key != "key-1" and provider.info.capabilities.idempotency != "lookup":
            pytest.skip(f"{harness.provider_id} declares idempotency by key, not by lookup")
        entry = entry_of(harness, tenant)
        first = await provider.post_entry(entry, "key-1")
        again = await provider.post_entry(entry, key)
        assert again.external_id == first.external_id
        assert len(harness.stored(entry.reference)) == 1

    async def test_amounts_keep_the_providers_precision_exactly(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        debtors, vat = harness.lines()[0], harness.lines()[2]
        big, small = Decimal("1234567.89"), Decimal("0.01")
        lines = (
            EntryLine(debtors.account, "big", big + small, zero(), debtors.vat_code),
            EntryLine(harness.lines()[1].account, "turnover", zero(), big, "NONE"),
            EntryLine(vat.account, "a cent", zero(), small, vat.vat_code),
        )
        entry = entry_of(harness, tenant, lines=lines)
        await provider.post_entry(entry, "key-precise")
        [stored] = harness.stored(entry.reference)
        assert sorted(stored) == sorted((x.account, x.debit, x.credit) for x in lines)
        mark = harness.chaos.mark()
        thirds = (
            EntryLine(debtors.account, "a", Decimal("10.005"), zero()),
            EntryLine(vat.account, "b", zero(), Decimal("10.005")),
        )
        thirds_entry = entry_of(harness, tenant, lines=thirds, reference="bexsync:9:2026-03")
        err = await refused("rejected", provider.post_entry(thirds_entry, "k"))
        assert "decimals" in err.message
        assert harness.chaos.since(mark) == []  # refused before any call

    async def test_nothing_is_found_before_anything_is_posted(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        assert await provider.find_entry("bexsync:7:2026-03", tenant, harness.ledger) is None
        assert await provider.find_entry("bexsync:7:2026-03", tenant, None) is None

    async def test_two_entries_posted_at_once_are_both_kept_once(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        march, april = (entry_of(harness, tenant, reference=f"bexsync:3:2026-0{m}") for m in (3, 4))
        posted = await asyncio.gather(
            provider.post_entry(march, "key-march"), provider.post_entry(april, "key-april")
        )
        assert posted[0].external_id != posted[1].external_id
        assert [len(harness.stored(e.reference)) for e in (march, april)] == [1, 1]

    # -- refusals before any call -----------------------------------------------------------
    async def test_an_unbalanced_entry_is_refused_before_any_call(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        a, b = harness.lines()[0].account, harness.lines()[1].account
        lines = (
            EntryLine(a, "a", Decimal("10.00"), zero()),
            EntryLine(b, "b", zero(), Decimal("9.99")),
        )
        mark = harness.chaos.mark()
        entry = entry_of(harness, tenant, lines=lines)
        err = await refused("rejected", provider.post_entry(entry, "k"))
        assert "balance" in err.message
        assert harness.chaos.since(mark) == []
        assert harness.stored(entry.reference) == []

    async def test_a_single_or_negative_line_is_refused_before_any_call(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        a, b = harness.lines()[0].account, harness.lines()[1].account
        mark = harness.chaos.mark()
        single = (EntryLine(a, "a", zero(), zero()),)
        await refused("rejected", provider.post_entry(entry_of(harness, tenant, lines=single), "k"))
        negative = (
            EntryLine(a, "a", Decimal("-5.00"), zero()),
            EntryLine(b, "b", zero(), Decimal("-5.00")),
        )
        err = await refused(
            "rejected", provider.post_entry(entry_of(harness, tenant, lines=negative), "k")
        )
        assert any(f.field.startswith("lines") for f in err.field_errors)
        assert harness.chaos.since(mark) == []

    async def test_an_unknown_account_is_refused_on_its_line_before_writing(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "known_accounts")
        provider, tenant = active
        good = harness.lines()[0].account
        lines = (
            EntryLine(good, "a", Decimal("10.00"), zero()),
            EntryLine("7777", "unknown", zero(), Decimal("10.00")),
        )
        mark = harness.chaos.mark()
        entry = entry_of(harness, tenant, lines=lines)
        err = await refused("rejected", provider.post_entry(entry, "k"))
        assert "7777" in err.message
        assert [f.field for f in err.field_errors] == ["lines[1].account"]
        assert harness.chaos.since(mark, harness.write) == []
        assert harness.stored(entry.reference) == []

    async def test_a_closed_account_is_neither_offered_nor_posted_to(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "closed_accounts")
        provider, tenant = active
        closed = harness.closed_account
        assert closed not in {a.code for a in await provider.list_accounts(tenant)}
        lines = (
            EntryLine(harness.lines()[0].account, "a", Decimal("10.00"), zero()),
            EntryLine(closed, "closed", zero(), Decimal("10.00")),
        )
        mark = harness.chaos.mark()
        err = await refused(
            "rejected", provider.post_entry(entry_of(harness, tenant, lines=lines), "k")
        )
        assert closed in err.message
        assert harness.chaos.since(mark, harness.write) == []

    async def test_an_unknown_ledger_is_refused_before_writing(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "journals")
        provider, tenant = active
        entry = entry_of(harness, tenant)
        posted = await provider.post_entry(entry, "key-1")
        assert posted is not None
        mark = harness.chaos.mark()
        elsewhere = entry_of(harness, tenant, reference="bexsync:5:2026-03", ledger="NOPE")
        err = await refused("rejected", provider.post_entry(elsewhere, "k"))
        assert "ledger_id" in {f.field for f in err.field_errors}
        assert harness.chaos.since(mark, harness.write) == []
        assert harness.stored(elsewhere.reference) == []

    async def test_a_locked_period_is_period_locked_until_it_is_reopened(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        provider, tenant = active
        entry = entry_of(harness, tenant)
        harness.lock(entry.date)
        await refused("period_locked", provider.post_entry(entry, "k"))
        assert harness.stored(entry.reference) == []
        harness.lock(None)
        await provider.post_entry(entry, "k2")  # a new run, as the engine starts one
        assert len(harness.stored(entry.reference)) == 1

    # -- answers lost, refused, late --------------------------------------------------------
    async def test_a_lost_answer_after_the_provider_committed_never_duplicates(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "http")
        provider, tenant = active
        entry = entry_of(harness, tenant)
        harness.chaos.lose_answer(harness.write)
        try:
            first: PostedEntry | None = await provider.post_entry(entry, "key-1")
        except ProviderError as err:  # no key to replay with: the lookup must settle it
            assert err.kind == "unavailable", err.message
            first = None
        queued = provider.info.capabilities.async_post  # committed = queued for processing
        assert len(harness.stored(entry.reference)) == (0 if queued and first is None else 1)
        found = await provider.find_entry(entry.reference, tenant, harness.ledger)
        assert found is not None  # posted, or (queued) pending
        again = await provider.post_entry(entry, "key-1")
        if found.status == "posted":
            assert again.external_id == found.external_id
        if first is not None:
            assert first.external_id == again.external_id
        assert len(harness.stored(entry.reference)) == 1

    async def test_a_5xx_on_the_write_is_never_blindly_repeated(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "http")
        provider, tenant = active
        entry = entry_of(harness, tenant)
        harness.chaos.respond(harness.write, 502)
        try:
            await provider.post_entry(entry, "key-1")
        except ProviderError as err:
            assert err.kind == "unavailable" and err.retryable, err.message
        await provider.post_entry(entry, "key-1")
        assert len(harness.stored(entry.reference)) == 1

    async def test_a_429_costs_what_retry_after_asks(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "http")
        provider, tenant = active
        headers = {"Retry-After": "2"}
        if harness.remaining_header:
            headers[harness.remaining_header] = "0"
        harness.chaos.respond(harness.reads, 429, **headers)
        before = len(harness.time.sleeps)
        accounts = await provider.list_accounts(tenant)
        assert accounts
        waits = harness.time.sleeps[before:]
        assert 2.0 <= sum(waits) <= 2.2, waits  # what was asked, plus at most a tenth

    async def test_a_429_with_an_http_date_waits_until_then(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "http")
        provider, tenant = active
        when = email.utils.formatdate(time.time() + 3, usegmt=True)
        harness.chaos.respond(harness.reads, 429, **{"Retry-After": when})
        before = len(harness.time.sleeps)
        assert await provider.list_accounts(tenant)
        assert 1.0 <= sum(harness.time.sleeps[before:]) <= 3.3

    async def test_a_429_without_retry_after_backs_off_briefly(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "http")
        provider, tenant = active
        harness.chaos.respond(harness.reads, 429, times=2)
        before = len(harness.time.sleeps)
        assert await provider.list_accounts(tenant)
        assert sum(harness.time.sleeps[before:]) <= 1.5  # full-jitter back-off: 0.5 s, 1 s

    async def test_a_long_retry_after_goes_up_as_rate_limited(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "http")
        provider, tenant = active
        harness.chaos.respond(harness.reads, 429, times=50, **{"Retry-After": "600"})
        before = len(harness.time.sleeps)
        err = await refused("rate_limited", provider.list_accounts(tenant))
        assert err.retryable and err.retry_after is not None and err.retry_after >= 600
        assert all(wait < 600 for wait in harness.time.sleeps[before:])

    async def test_5xx_and_timeouts_on_reads_are_retried(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "http")
        provider, tenant = active
        harness.chaos.respond(harness.reads, 503)
        harness.chaos.time_out(harness.reads)
        expected = {a.code for a in await provider.list_accounts(tenant)}
        assert expected
        assert len(harness.chaos.requests(harness.reads)) >= 3  # two failures, then the answer

    async def test_5xx_and_timeouts_that_persist_are_unavailable(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "http")
        provider, tenant = active
        harness.chaos.respond(harness.reads, 500, times=50)
        err = await refused("unavailable", provider.list_accounts(tenant))
        assert err.retryable
        harness.chaos.rules.clear()
        harness.chaos.time_out(harness.reads, times=50)
        err = await refused("unavailable", provider.list_accounts(tenant))
        assert "timed out" in err.message

    # -- the login over time ----------------------------------------------------------------
    async def test_an_expired_token_is_renewed_mid_sync(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        if not harness.capabilities & {"token_refresh", "token_renewal"}:
            pytest.skip(f"{harness.provider_id} declares no expiring token")
        provider, tenant = active
        await provider.list_accounts(tenant)
        old = dict(harness.credentials)
        harness.expire_token()
        entry = entry_of(harness, tenant)
        await provider.post_entry(entry, "key-1")
        assert len(harness.stored(entry.reference)) == 1
        assert harness.lost == []
        if "token_refresh" in harness.capabilities:
            assert harness.saved, "the new token pair was not saved"
            new, before = (json.loads(c["token"]) for c in (harness.credentials, old))
            assert new["access_token"] != before["access_token"]
            assert new["refresh_token"] != before["refresh_token"]  # rotated, and saved

    async def test_a_revoked_login_is_auth_expired(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        self.requires(harness, "revocable")
        provider, tenant = active
        await provider.list_accounts(tenant)
        harness.revoke()
        err = await refused("auth_expired", provider.verify())  # verify always asks
        assert not err.retryable
        assert len(harness.lost) <= 1
        if "token_refresh" in harness.capabilities:
            assert len(harness.lost) == 1 and "log in again" in harness.lost[0]
        for secret in harness.credentials.values():
            assert str(secret)[:24] not in err.message

    async def test_reference_data_is_read_once_in_a_run(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        """What the daemon asks while a user authorises, configures and syncs two periods:
        journals, accounts and VAT codes each cost one read, however often they are asked."""
        self.requires(harness, "http")
        provider, tenant = active
        mark = harness.chaos.mark()
        assert (await provider.verify()).ok  # activation
        await provider.list_tenants()  # the configuration form's options
        await provider.list_ledgers(tenant)
        await provider.list_tax_codes(tenant)
        for month in (3, 4):  # two runs: the engine's chart check, then the post
            await provider.list_accounts(tenant)
            await provider.list_tax_codes(tenant)
            entry = entry_of(harness, tenant, reference=f"bexsync:7:2026-0{month}")
            await provider.post_entry(entry, f"key-{month}")
        for name in ("ledgers", "accounts", "tax_codes"):
            if name in harness.lists:
                reads = harness.chaos.since(mark, harness.lists[name])
                assert len(reads) <= 1, f"{name} read {len(reads)} times: {reads}"

    # -- lists -------------------------------------------------------------------------------
    async def test_every_paged_list_is_read_to_its_last_page(
        self, harness: Harness, active: tuple[Provider, str | None]
    ) -> None:
        if not harness.paged:
            pytest.skip(f"{harness.provider_id} declares no paged list")
        provider, tenant = active
        entry = entry_of(harness, tenant)
        await provider.post_entry(entry, "key-1")
        expected = {
            "ledgers": {x.id for x in await provider.list_ledgers(tenant)},
            "accounts": {a.code for a in await provider.list_accounts(tenant)},
            "tax_codes": {t.code for t in await provider.list_tax_codes(tenant)},
        }
        harness.make_pages()
        fresh = harness.adapter(**({"tenant_id": tenant} if tenant else {}))
        mark = harness.chaos.mark()
        got = {
            "ledgers": {x.id for x in await fresh.list_ledgers(tenant)},
            "accounts": {a.code for a in await fresh.list_accounts(tenant)},
            "tax_codes": {t.code for t in await fresh.list_tax_codes(tenant)},
        }
        found = await fresh.find_entry(entry.reference, tenant, harness.ledger)
        assert found is not None
        for name in harness.paged:
            if name in got:
                assert got[name] >= expected[name], name
            requests = harness.chaos.since(mark, harness.lists[name])
            assert len(requests) >= 2, f"{name} was read in one page: {requests}"
