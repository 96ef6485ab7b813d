"""The BEX simulator: a believable, balanced, lazy dataset behind a JSON:API with BEX's manners."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from providers.bex import mapping as m
from providers.ratelimit import RateLimitSpec
from providers.simulators.bex import (
    AdministrationSpec,
    BexDataset,
    bex_error_body,
    create_bex_app,
)
from providers.simulators.bex_dataset import K_CORRECTION, K_SPLIT, LEDGER_ACCOUNTS
from providers.simulators.faults import Fault, FaultPlan

TODAY = date(2024, 3, 15)
KEY = "sim-api-key-123"
TXNS = m.path(m.JOURNAL_TRANSACTIONS_PATH, "4101")


def number_of(line: Any) -> str | None:
    return LEDGER_ACCOUNTS[line.ledger][0]


def client_for(app: Any, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url="http://bex.test",
        transport=httpx.ASGITransport(app),
        headers={m.API_KEY_HEADER: KEY, **headers},
    )


# -- the dataset ----------------------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = BexDataset(7, TODAY).all_lines("4101", date(2024, 1, 1), date(2024, 1, 10))
    b = BexDataset(7, TODAY).all_lines("4101", date(2024, 1, 1), date(2024, 1, 10))
    c = BexDataset(8, TODAY).all_lines("4101", date(2024, 1, 1), date(2024, 1, 10))
    assert a == b
    assert a != c


def test_group_has_three_holiday_park_administrations() -> None:
    ds = BexDataset(1, TODAY)
    admins = ds.granted()
    assert [a.number for a in admins] == ["101", "102", "103"]
    assert all(a.name.startswith("Holiday Park") for a in admins)
    assert {(a.currency, a.timezone) for a in admins} == {("EUR", "Europe/Amsterdam")}
    numbers = [number for _, number, _ in ds.ledger_accounts("4101")]
    for expected in ("1000", "1030", "1300", "1700", "1800", "1810", "8000", "8100"):
        assert expected in numbers
    names_without_number = [name for _, number, name in ds.ledger_accounts("4101") if not number]
    assert "Uncategorized turnover" in names_without_number
    assert [(code, pct) for _, code, _, pct in ds.vat_codes("4101")] == [
        ("0", "0.00"),
        ("L", "9.00"),
        ("H", "21.00"),
    ]


def test_history_covers_at_least_120_days_up_to_today_and_nothing_after() -> None:
    ds = BexDataset(1, TODAY)
    assert ds.start <= TODAY - timedelta(days=120)
    assert ds.count("4101", TODAY, TODAY) > 0
    assert ds.count("4101", ds.start, ds.start) > 0
    assert ds.count("4101", TODAY + timedelta(days=1), TODAY + timedelta(days=30)) == 0
    assert ds.count("4101", ds.start - timedelta(days=30), ds.start - timedelta(days=1)) == 0


@pytest.mark.parametrize("admin", ["4101", "4102", "4103"])
def test_every_day_balances(admin: str) -> None:
    ds = BexDataset(3, TODAY)
    per_day: dict[date, int] = defaultdict(int)
    for line in ds.all_lines(admin, ds.start, TODAY):
        per_day[line.date] += line.debit - line.credit
        assert line.debit >= 0 and line.credit >= 0 and (line.debit == 0) != (line.credit == 0)
    assert len(per_day) == (TODAY - ds.start).days + 1
    assert set(per_day.values()) == {0}


def test_uncategorised_lines_only_where_configured_and_balanced_against_a_numbered_account() -> (
    None
):
    ds = BexDataset(1, TODAY)
    clean = ds.all_lines("4101", ds.start, TODAY) + ds.all_lines("4102", ds.start, TODAY)
    assert all(number_of(line) is not None for line in clean)
    lines = ds.all_lines("4103", ds.start, TODAY)
    uncategorised = [line for line in lines if number_of(line) is None]
    assert 2 <= len(uncategorised) <= 15  # a few, not everywhere
    for line in uncategorised:
        same_invoice = [x for x in lines if x.invoice_number == line.invoice_number]
        counterpart = [x for x in same_invoice if x is not line]
        assert counterpart and all(number_of(x) is not None for x in counterpart)
        assert sum(x.debit - x.credit for x in same_invoice) == 0


def test_stays_split_over_a_month_end_post_turnover_in_both_months() -> None:
    ds = BexDataset(1, TODAY)
    lines = ds.all_lines("4101", date(2024, 1, 1), date(2024, 2, 29))
    split = [x for x in lines if x.id[11] == str(K_SPLIT)]
    by_invoice: dict[str, list[Any]] = defaultdict(list)
    for line in split:
        by_invoice[line.invoice_number].append(line)
    found_cross_month = 0
    for invoice_lines in by_invoice.values():
        rent = [x for x in invoice_lines if number_of(x) == "8000"]
        months = {(x.date.year, x.date.month) for x in rent}
        if len(months) == 2:
            found_cross_month += 1
            later = max(rent, key=lambda x: x.date)
            # posted in the next month, invoiced in an earlier one: a date split
            assert (later.invoice_date.year, later.invoice_date.month) < (
                later.date.year,
                later.date.month,
            )
            pre_invoiced = [x for x in invoice_lines if number_of(x) == "1700"]
            # everything that went onto 1700 at invoicing came off again when realised
            if len({x.date for x in invoice_lines}) == 3:
                assert sum(x.debit - x.credit for x in pre_invoiced) == 0
    assert found_cross_month >= 2


def test_back_dated_corrections_appear_only_once_created() -> None:
    clock = {"today": TODAY}
    ds = BexDataset(2, lambda: clock["today"])
    window = (TODAY - timedelta(days=9), TODAY)
    admins = [a.id for a in ds.administrations]

    def corrections() -> list[Any]:
        return [
            x
            for admin in admins
            for x in ds.all_lines(admin, *window)
            if x.id[11] == str(K_CORRECTION)
        ]

    now = corrections()
    assert all(x.created is not None and x.date < x.created <= TODAY for x in now)
    assert all(x.invoice_date == x.created for x in now)  # the credit note's own date
    before = sum(ds.count(admin, *window) for admin in admins)
    clock["today"] = TODAY + timedelta(days=12)  # every correction of the window exists now
    later = corrections()
    after = sum(ds.count(admin, *window) for admin in admins)
    assert len(later) > len(now)
    assert any(x.created > TODAY for x in later)
    assert after - before == len(later) - len(now)


def test_pages_are_addressable_by_offset_and_match_the_whole_range() -> None:
    ds = BexDataset(5, TODAY)
    start, end = date(2024, 1, 1), date(2024, 2, 29)
    everything = ds.all_lines("4103", start, end)
    assert len(everything) == ds.count("4103", start, end)
    assert len({x.id for x in everything}) == len(everything)
    rng = random.Random(1)
    for _ in range(200):
        offset, limit = rng.randrange(0, len(everything) + 5), rng.randrange(1, 70)
        assert ds.lines("4103", start, end, offset, limit) == everything[offset : offset + limit]


def test_volume_makes_a_million_lines_a_month_without_generating_earlier_pages() -> None:
    ds = BexDataset(1, date(2024, 2, 10), volume={"4101": 32_300})
    start, end = date(2024, 1, 1), date(2024, 1, 31)
    assert ds.count("4101", start, end) >= 1_000_000
    calls = 0
    original = ds._event

    def counting(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args)

    ds._event = counting  # type: ignore[method-assign]
    page = ds.lines("4101", start, end, 990_000, 1000)
    assert len(page) == 1000
    assert calls <= 1000  # only the events on that page, none before it
    assert page == ds.lines("4101", start, end, 990_000, 1000)


# -- the HTTP API ---------------------------------------------------------------------------


async def test_requests_without_the_api_key_get_bex_401() -> None:
    app = create_bex_app(BexDataset(1, TODAY), api_key=KEY)
    async with client_for(app, **{m.API_KEY_HEADER: "wrong"}) as c:
        response = await c.get(m.ADMINISTRATIONS_PATH)
    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["status"] == 401
    assert "Authorization" in error["detail"]


async def test_bearer_tokens_are_accepted_once_added() -> None:
    tokens: set[str] = set()
    app = create_bex_app(BexDataset(1, TODAY), api_key=KEY, access_tokens=tokens)
    async with httpx.AsyncClient(
        base_url="http://bex.test",
        transport=httpx.ASGITransport(app),
        headers={"Authorization": "Bearer tok-1"},
    ) as c:
        assert (await c.get(m.SUBSCRIPTION_PATH)).status_code == 401
        tokens.add("tok-1")
        assert (await c.get(m.SUBSCRIPTION_PATH)).status_code == 200


async def test_unknown_and_ungranted_administrations_are_not_found() -> None:
    admins = (
        AdministrationSpec("1", "101", "Holiday Park A"),
        AdministrationSpec("2", "102", "Holiday Park B", granted=False),
    )
    app = create_bex_app(BexDataset(1, TODAY, admins), api_key=KEY)
    async with client_for(app) as c:
        listed = (await c.get(m.ADMINISTRATIONS_PATH)).json()["data"]
        assert [a["id"] for a in listed] == ["1"]
        assert (await c.get(m.path(m.LEDGER_ACCOUNTS_PATH, "2"))).status_code == 404
        assert (await c.get(m.path(m.LEDGER_ACCOUNTS_PATH, "9"))).status_code == 404
        sub = (await c.get(m.SUBSCRIPTION_PATH)).json()["data"]
        rel = sub["relationships"][m.SUBSCRIPTION_ADMINISTRATIONS_REL]["data"]
        assert [r["id"] for r in rel] == ["1"]


async def test_journal_pages_follow_links_and_cap_the_page_size() -> None:
    ds = BexDataset(1, TODAY)
    app = create_bex_app(ds, api_key=KEY, max_page_size=40)
    params = {m.TXN_DATE_FILTER: "2024-01-01..2024-01-31", m.PAGE_SIZE_PARAM: "5000"}
    async with client_for(app) as c:
        first = (await c.get(TXNS, params=params)).json()
        total = ds.count("4101", date(2024, 1, 1), date(2024, 1, 31))
        assert first["meta"]["pagination"] == {"total_records": total, "page": 1, "size": 40}
        assert len(first["data"]) == 40
        ids = [r["id"] for r in first["data"]]
        url = first["links"]["next"]
        while url:
            page = (await c.get(url)).json()
            ids += [r["id"] for r in page["data"]]
            url = page["links"]["next"]
    assert ids == [x.id for x in ds.all_lines("4101", date(2024, 1, 1), date(2024, 1, 31))]


async def test_bad_filters_and_paging_get_400() -> None:
    app = create_bex_app(BexDataset(1, TODAY), api_key=KEY)
    async with client_for(app) as c:
        bad_date = await c.get(TXNS, params={m.TXN_DATE_FILTER: "January"})
        bad_page = await c.get(TXNS, params={m.PAGE_SIZE_PARAM: "0"})
    assert bad_date.status_code == 400
    assert bad_page.status_code == 400
    assert bad_date.json()["errors"][0]["code"] == "BAD_REQUEST"


async def test_rate_limit_headers_and_429_with_retry_after() -> None:
    now = [0.0]
    app = create_bex_app(
        BexDataset(1, TODAY),
        api_key=KEY,
        rate_limit=RateLimitSpec(calls=3, per_seconds=60),
        clock=lambda: now[0],
    )
    async with client_for(app) as c:
        remaining = []
        for _ in range(3):
            r = await c.get(m.SUBSCRIPTION_PATH)
            assert r.headers[m.RATE_LIMIT_HEADER] == "3"
            remaining.append(r.headers[m.RATE_REMAINING_HEADER])
        assert remaining == ["2", "1", "0"]
        now[0] = 15.0
        limited = await c.get(m.SUBSCRIPTION_PATH)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "45"
        assert limited.json()["errors"][0]["code"] == "TOO_MANY_REQUESTS"
        now[0] = 61.0
        assert (await c.get(m.SUBSCRIPTION_PATH)).status_code == 200


# -- fault injection ------------------------------------------------------------------------


async def test_fault_plan_injects_by_request_number_and_path() -> None:
    plan = FaultPlan(
        [
            Fault.rate_limit(retry_after=7, nth=[2], path="/journal_transactions"),
            Fault.error(503, nth=[1], path="/subscription"),
        ],
        error_body=bex_error_body,
    )
    app = create_bex_app(BexDataset(1, TODAY), api_key=KEY, faults=plan)
    async with client_for(app) as c:
        assert (await c.get(m.SUBSCRIPTION_PATH)).status_code == 503
        assert (await c.get(m.SUBSCRIPTION_PATH)).status_code == 200
        assert (await c.get(TXNS)).status_code == 200
        second = await c.get(TXNS)
        assert second.status_code == 429
        assert second.headers["Retry-After"] == "7"
        assert second.json()["errors"][0]["code"] == "TOO_MANY_REQUESTS"
        assert (await c.get(TXNS)).status_code == 200
    assert plan.injected == [("503", m.SUBSCRIPTION_PATH), ("429", TXNS)]


async def test_fault_fractions_are_deterministic_for_a_seed() -> None:
    async def pattern(seed: int) -> list[int]:
        plan = FaultPlan([Fault.error(500, fraction=0.3)], seed=seed)
        app = create_bex_app(BexDataset(1, TODAY), api_key=KEY, faults=plan, rate_limit=None)
        async with client_for(app) as c:
            return [(await c.get(m.SUBSCRIPTION_PATH)).status_code for _ in range(40)]

    first, again, other = await pattern(11), await pattern(11), await pattern(12)
    assert first == again
    assert first != other
    assert 3 <= first.count(500) <= 25


async def test_fault_limit_slow_malformed_and_reset() -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    def break_first_record(doc: Any) -> Any:
        doc["data"][0]["attributes"][m.TXN_DEBIT] = "lots"
        return doc

    plan = FaultPlan(
        [
            Fault.slow(2.5, nth=[1]),
            Fault.malformed(nth=[2]),
            Fault.malformed(break_first_record, nth=[3]),
            Fault.reset(nth=[4]),
            Fault.error(500, fraction=1.0, limit=1, path="/nothing-else"),
        ],
        sleep=fake_sleep,
    )
    app = create_bex_app(BexDataset(1, TODAY), api_key=KEY, faults=plan, rate_limit=None)
    async with client_for(app) as c:
        assert (await c.get(TXNS)).status_code == 200
        assert slept == [2.5]
        truncated = await c.get(TXNS)
        with pytest.raises(ValueError):
            truncated.json()
        mutated = await c.get(TXNS)
        assert mutated.json()["data"][0]["attributes"][m.TXN_DEBIT] == "lots"
        with pytest.raises(httpx.TransportError):
            await c.get(TXNS)
        assert (await c.get(TXNS)).status_code == 200
    kinds = [kind for kind, _ in plan.injected]
    assert kinds == ["slow", "malformed", "malformed", "reset"]
