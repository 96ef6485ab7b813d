"""The BEX client against the simulator: paging, filters, retries, bad data, refused keys."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from providers.bex import mapping as m
from providers.bex.client import BexClient
from providers.bex.jsonapi import (
    JournalPageParser,
    PmsDataError,
    load_document,
    make_transaction,
)
from providers.bex.models import JournalTransaction
from providers.errors import ProviderError
from providers.http import RetryPolicy
from providers.simulators.base import serve
from providers.simulators.bex import AdministrationSpec, BexDataset, bex_error_body, create_bex_app
from providers.simulators.bex_dataset import LEDGER_ACCOUNTS
from providers.simulators.faults import Fault, FaultPlan

TODAY = date(2024, 3, 15)
KEY = "bex-test-key-0042"
JAN = (date(2024, 1, 1), date(2024, 1, 31))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def make_client(app: Any, sleeps: Sleeps | None = None, **kw: Any) -> BexClient:
    kw.setdefault("rate_limit", None)
    return BexClient(
        "http://bex.test",
        api_key=kw.pop("api_key", KEY),
        transport=httpx.ASGITransport(app),
        sleep=sleeps or Sleeps(),
        **kw,
    )


async def collect(client: BexClient, admin: str = "4101", period: tuple[date, date] = JAN) -> list:
    pages = [page async for page in client.iter_journal_transactions(admin, *period)]
    return [t for page in pages for t in page]


def expected(ds: BexDataset, admin: str = "4101", period: tuple[date, date] = JAN) -> list:
    """The dataset's own lines as the client should return them."""
    out = []
    for line in ds.all_lines(admin, *period):
        vat = None if line.vat is None else ds.vat_code_id(admin, line.vat)
        out.append(
            (
                line.id,
                line.date,
                ds.ledger_account_id(admin, line.ledger),
                vat,
                Decimal(line.debit) / 100,
                Decimal(line.credit) / 100,
                line.invoice,
                line.invoice_number,
                line.invoice_date,
            )
        )
    return out


def as_tuples(txns: list[JournalTransaction]) -> list:
    return [
        (
            t.id,
            t.date,
            t.ledger_account_id,
            t.vat_code_id,
            t.debit,
            t.credit,
            t.invoice_id,
            t.invoice_number,
            t.invoice_date,
        )
        for t in txns
    ]


@pytest.fixture
def ds() -> BexDataset:
    return BexDataset(1, TODAY)


# -- reading the PMS ------------------------------------------------------------------------


async def test_administrations_ledger_accounts_and_vat_codes(ds: BexDataset) -> None:
    async with make_client(create_bex_app(ds, api_key=KEY)) as client:
        admins = await client.list_administrations()
        accounts = await client.list_ledger_accounts("4103")
        vat_codes = await client.list_vat_codes("4103")
        tariffs = await client.list_vat_tariffs("4103")
    assert [(a.number, a.name, a.currency, a.timezone) for a in admins] == [
        ("101", "Holiday Park De Veluwe", "EUR", "Europe/Amsterdam"),
        ("102", "Holiday Park Zeeuwse Duinen", "EUR", "Europe/Amsterdam"),
        ("103", "Holiday Park Limburgse Heuvels", "EUR", "Europe/Amsterdam"),
    ]
    assert len(accounts) == len(LEDGER_ACCOUNTS)
    by_name = {a.name: a for a in accounts}
    assert by_name["Rent turnover"].number == "8000"
    assert by_name["Uncategorized turnover"].number is None
    assert {v.code: v.percentage for v in vat_codes} == {
        "0": Decimal("0.00"),
        "L": Decimal("9.00"),
        "H": Decimal("21.00"),
    }
    low = [t for t in tariffs if t.vat_code_id == vat_codes[1].id]
    assert [(t.percentage, t.end_date) for t in low] == [
        (Decimal("6.00"), date(2018, 12, 31)),
        (Decimal("9.00"), None),
    ]


async def test_only_administrations_of_the_subscription_are_listed() -> None:
    admins = (
        AdministrationSpec("1", "101", "Holiday Park A"),
        AdministrationSpec("2", "102", "Holiday Park B", granted=False),
    )
    data = BexDataset(1, TODAY, admins)

    def leak_an_ungranted_one(doc: Any) -> Any:
        doc["data"].append({"id": "2", "type": "administration", "attributes": {"name": "B"}})
        return doc

    plan = FaultPlan([Fault.malformed(leak_an_ungranted_one, nth=[1], path="/administrations")])
    async with make_client(create_bex_app(data, api_key=KEY, faults=plan)) as client:
        listed = await client.list_administrations()
    assert [a.id for a in listed] == ["1"]


async def test_journal_transactions_stream_page_by_page_with_the_date_filter(
    ds: BexDataset,
) -> None:
    app = create_bex_app(ds, api_key=KEY, record_requests=True)
    async with make_client(app, page_size=50) as client:
        sizes = []
        got = []
        async for page in client.iter_journal_transactions("4101", *JAN):
            sizes.append(len(page))
            got.extend(page)
    want = expected(ds)
    assert as_tuples(got) == want
    assert len(sizes) == -(-len(want) // 50)
    assert all(size == 50 for size in sizes[:-1])
    journal_requests = [r for r in app.state.bex.requests if "journal_transactions" in r]
    assert len(journal_requests) == len(sizes)
    first = httpx.URL(journal_requests[0].split(" ", 1)[1])
    assert first.params[m.TXN_DATE_FILTER] == "2024-01-01..2024-01-31"
    assert first.params[m.PAGE_SIZE_PARAM] == "50"
    debit = sum(t.debit for t in got)
    assert debit == sum(t.credit for t in got) and debit > 0


async def test_over_real_http(ds: BexDataset) -> None:
    async with serve(create_bex_app(ds, api_key=KEY)) as url:
        client = BexClient(url, api_key=KEY, page_size=200)
        async with client:
            admins = await client.list_administrations()
            got = await collect(client, "4102", (date(2024, 2, 1), date(2024, 2, 29)))
    assert len(admins) == 3
    assert as_tuples(got) == expected(ds, "4102", (date(2024, 2, 1), date(2024, 2, 29)))


async def test_signed_amount_mode_is_a_one_file_switch(
    ds: BexDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(m, "TXN_AMOUNT_MODE", "signed")
    async with make_client(create_bex_app(ds, api_key=KEY), page_size=100) as client:
        got = await collect(client)
    assert as_tuples(got) == expected(ds)


# -- transient failures ---------------------------------------------------------------------


async def test_429_with_retry_after_is_waited_out(ds: BexDataset) -> None:
    plan = FaultPlan(
        [Fault.rate_limit(retry_after=3, nth=[2], path="journal")], error_body=bex_error_body
    )
    sleeps = Sleeps()
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan), sleeps) as client:
        got = await collect(client)
    assert as_tuples(got) == expected(ds)
    assert len(sleeps.delays) == 1 and 3.0 <= sleeps.delays[0] <= 3.3  # + at most 10% jitter


async def test_server_errors_and_resets_are_retried(ds: BexDataset) -> None:
    plan = FaultPlan(
        [Fault.error(500, nth=[1, 3], path="journal"), Fault.reset(nth=[5], path="journal")]
    )
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan), page_size=100) as c:
        got = await collect(c)
    assert as_tuples(got) == expected(ds)
    assert [kind for kind, _ in plan.injected] == ["500", "500", "reset"]


async def test_server_still_failing_after_the_retries_is_unavailable(ds: BexDataset) -> None:
    plan = FaultPlan([Fault.error(502, fraction=1.0, path="journal")])
    client = make_client(
        create_bex_app(ds, api_key=KEY, faults=plan), retry=RetryPolicy(max_attempts=3)
    )
    async with client:
        with pytest.raises(ProviderError) as info:
            await collect(client)
    assert info.value.kind == "unavailable"
    assert info.value.retryable


async def test_the_real_rate_limit_429_from_the_simulator_is_honoured(ds: BexDataset) -> None:
    from providers.ratelimit import RateLimitSpec

    now = [0.0]
    sleeps = Sleeps()

    async def advancing(delay: float) -> None:
        sleeps.delays.append(delay)
        now[0] += delay

    app = create_bex_app(
        ds, api_key=KEY, rate_limit=RateLimitSpec(calls=4, per_seconds=60), clock=lambda: now[0]
    )
    async with make_client(app, advancing, page_size=100) as client:  # type: ignore[arg-type]
        got = await collect(client)
    assert as_tuples(got) == expected(ds)
    assert sleeps.delays and all(d >= 1 for d in sleeps.delays)


# -- refusals -------------------------------------------------------------------------------


async def test_a_wrong_api_key_is_a_clear_auth_error_without_the_key(ds: BexDataset) -> None:
    wrong = "wrong-key-abcdef123"
    async with make_client(create_bex_app(ds, api_key=KEY), api_key=wrong) as client:
        with pytest.raises(ProviderError) as info:
            await client.list_administrations()
    error = info.value
    assert error.kind == "auth_expired"
    assert error.provider == "bex"
    assert "the PMS refused the API key" in error.message
    assert wrong not in str(error)


@pytest.mark.parametrize(
    ("code", "phrase"),
    [("FORBIDDEN", "the PMS denied access"), (m.ERROR_APPLICATION_HALTED, "halted this app")],
)
async def test_403_and_halted_app(ds: BexDataset, code: str, phrase: str) -> None:
    def body(status: int, detail: str) -> Any:
        return {
            "errors": [{"status": status, "code": code, "title": "Forbidden", "detail": detail}]
        }

    plan = FaultPlan([Fault.error(403, nth=[1])], error_body=body)
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan)) as client:
        with pytest.raises(ProviderError) as info:
            await client.get_subscription()
    assert info.value.kind == "auth_expired"
    assert phrase in info.value.message


# -- malformed data -------------------------------------------------------------------------


def _record(doc: Any, index: int = 3) -> dict[str, Any]:
    return doc["data"][index]


MALFORMED = [
    (
        "a debit that is not an amount",
        lambda d: _record(d)["attributes"].__setitem__(m.TXN_DEBIT, "twelve"),
        "attributes.debit",
    ),
    (
        "an amount sent as a float",
        lambda d: _record(d)["attributes"].__setitem__(m.TXN_CREDIT, 12.5),
        "attributes.credit",
    ),
    (
        "an infinite amount",
        lambda d: _record(d)["attributes"].__setitem__(m.TXN_DEBIT, "Infinity"),
        "attributes.debit",
    ),
    (
        "a bad date",
        lambda d: _record(d)["attributes"].__setitem__(m.TXN_DATE, "2024-13-01"),
        "attributes.date",
    ),
    (
        "a date outside the requested period",
        lambda d: _record(d)["attributes"].__setitem__(m.TXN_DATE, "2023-12-31"),
        "outside the requested period",
    ),
    (
        "an unknown ledger account",
        lambda d: _record(d)["relationships"][m.TXN_LEDGER_ACCOUNT_REL]["data"].__setitem__(
            "id", "999999"
        ),
        "unknown ledger_account 999999",
    ),
    (
        "a missing ledger account",
        lambda d: _record(d)["relationships"].pop(m.TXN_LEDGER_ACCOUNT_REL),
        "relationships.ledger_account is missing",
    ),
    (
        "an unknown VAT code",
        lambda d: _record(d)["relationships"].__setitem__(
            m.TXN_VAT_CODE_REL, {"data": {"type": "vat_code", "id": "77"}}
        ),
        "unknown vat_code 77",
    ),
    ("a wrong type", lambda d: _record(d).__setitem__("type", "invoice"), "type is 'invoice'"),
    ("no attributes", lambda d: _record(d).pop("attributes"), "attributes"),
    (
        "a description that is not text",
        lambda d: _record(d)["attributes"].__setitem__(m.TXN_DESCRIPTION, 42),
        "attributes.description",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "field"), MALFORMED, ids=[c[0] for c in MALFORMED])
async def test_malformed_record_names_the_record_and_the_field(
    ds: BexDataset, case: str, mutate: Any, field: str
) -> None:
    broken_id: list[str] = []

    def breaker(doc: Any) -> Any:
        broken_id.append(_record(doc)["id"])
        mutate(doc)
        return doc

    plan = FaultPlan([Fault.malformed(breaker, nth=[2], path="journal")])
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan), page_size=20) as client:
        with pytest.raises(PmsDataError) as info:
            await collect(client)
    message = info.value.message
    assert info.value.kind == "rejected" and info.value.provider == "bex"
    assert f"journal_transaction {broken_id[0]}" in message, message
    assert field in message, message
    assert "page 2" in message, message


@pytest.mark.parametrize(
    ("mutate", "phrase"),
    [
        (None, "not valid JSON"),
        (lambda d: {"links": d["links"]}, "without 'data'"),
        (lambda d: {"data": {"id": "1"}}, "'data' is not a list"),
        (lambda d: [1, 2], "not a JSON:API document"),
        (lambda d: d["data"].__setitem__(0, "text") or d, "#1 of the page"),
    ],
)
async def test_malformed_page_names_the_page(ds: BexDataset, mutate: Any, phrase: str) -> None:
    plan = FaultPlan([Fault.malformed(mutate, nth=[1], path="journal")])
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan)) as client:
        with pytest.raises(PmsDataError) as info:
            await collect(client)
    assert phrase in info.value.message
    assert "journal transactions of administration 4101 page 1" in info.value.message


async def test_links_to_another_host_are_not_followed(ds: BexDataset) -> None:
    def redirect(doc: Any) -> Any:
        doc["links"]["next"] = "https://collector.example/steal?page=2"
        return doc

    plan = FaultPlan([Fault.malformed(redirect, nth=[1], path="journal")])
    app = create_bex_app(ds, api_key=KEY, faults=plan, record_requests=True)
    async with make_client(app, page_size=20) as client:
        with pytest.raises(PmsDataError) as info:
            await collect(client)
    assert "another host" in info.value.message
    assert KEY not in info.value.message


async def test_pages_without_links_fall_back_to_page_numbers(ds: BexDataset) -> None:
    def drop_links(doc: Any) -> Any:
        doc.pop("links")
        return doc

    plan = FaultPlan([Fault.malformed(drop_links, fraction=1.0, path="journal")])
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan), page_size=60) as c:
        got = await collect(c)
    assert as_tuples(got) == expected(ds)


async def test_a_page_pointing_to_itself_ends_with_an_error(ds: BexDataset) -> None:
    def loop(doc: Any) -> Any:
        doc["links"]["next"] = doc["links"]["first"]
        return doc

    plan = FaultPlan([Fault.malformed(loop, fraction=1.0, path="journal")])
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan), page_size=60) as c:
        with pytest.raises(PmsDataError) as info:
            await collect(c)
    assert "repeats a page" in info.value.message


async def test_data_changing_between_pages_is_refused_not_summed(ds: BexDataset) -> None:
    def back_dated_line_inserted(doc: Any) -> Any:
        # Offset paging while a line is inserted before this page: a line seen on page 1
        # comes again, the collection has grown by one.
        doc["data"] = [doc["data"][0], *doc["data"][:-1]]
        doc["meta"]["pagination"]["total_records"] += 1
        return doc

    plan = FaultPlan([Fault.malformed(back_dated_line_inserted, nth=[2], path="journal")])
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan), page_size=20) as c:
        with pytest.raises(PmsDataError) as info:
            await collect(c)
    assert "changed while bexsync read it" in info.value.message
    assert "page 2" in info.value.message and "sync again" in info.value.message

    # Without the count (older or newer BEX), the pages are read as they come.
    def no_meta(doc: Any) -> Any:
        doc.pop("meta", None)
        return doc

    plan = FaultPlan([Fault.malformed(no_meta, fraction=1.0, path="journal")])
    async with make_client(create_bex_app(ds, api_key=KEY, faults=plan), page_size=20) as c:
        assert as_tuples(await collect(c)) == expected(ds)


# -- the parser on its own ------------------------------------------------------------------


def _doc(*records: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(records)}


def _txn(**attrs: Any) -> dict[str, Any]:
    base = {"date": "2024-01-05", "debit": "10.00", "credit": "0.00", "description": "x"}
    base.update(attrs)
    return {
        "id": "t1",
        "type": "journal_transaction",
        "attributes": base,
        "relationships": {
            "ledger_account": {"data": {"type": "ledger_account", "id": "la1"}},
            "vat_code": {"data": None},
            "invoice": {"data": {"type": "invoice", "id": "inv-9"}},
        },
    }


def test_parser_reads_optional_fields_and_keeps_amounts_exact() -> None:
    parser = JournalPageParser(["la1"], start=date(2024, 1, 1), end=date(2024, 1, 31))
    [txn] = parser.parse(_doc(_txn(debit="0.10", invoice_number="F-1", invoice_date="2023-12-30")))
    assert txn == JournalTransaction(
        "t1", date(2024, 1, 5), "la1", None, Decimal("0.10"), Decimal("0.00"), "x", "inv-9",
        "F-1", date(2023, 12, 30),
    )  # fmt: skip
    assert isinstance(txn.debit, Decimal) and str(txn.debit) == "0.10"


def test_fast_constructor_builds_equal_records() -> None:
    args = (
        "t",
        date(2024, 1, 1),
        "la",
        "v",
        Decimal("1.00"),
        Decimal("0.00"),
        "d",
        None,
        "n",
        None,
    )
    assert make_transaction(*args) == JournalTransaction(*args)
    assert hash(make_transaction(*args)) == hash(JournalTransaction(*args))


def test_load_document_rejects_error_documents() -> None:
    body = json.dumps({"errors": [{"status": 500}]}).encode()
    with pytest.raises(PmsDataError) as info:
        load_document(body, "the subscription")
    assert "errors instead of data" in info.value.message
