"""Hypothesis against the BEX client: malformed JSON:API pages from the simulated PMS.

Each input corrupts one journal-transactions page (a field of one record set to a hostile
value, a record replaced, the whole document replaced, or the body cut short). The client must
either read the page (the change was harmless) or raise ``PmsDataError``, a ProviderError of
kind ``rejected`` whose message names the record or the page. Anything else is a crash.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import date
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from providers.bex import mapping as m
from providers.bex.client import BexClient
from providers.bex.jsonapi import PmsDataError
from providers.simulators.bex import BexDataset, create_bex_app
from providers.simulators.faults import Fault, FaultPlan
from tests.support.fuzz_counts import fuzz_settings, tried
from tests.test_bex_client import JAN, KEY, TODAY, Sleeps

DATASET = BexDataset(1, TODAY)
ADMIN = "4101"
ATTRIBUTES = [m.TXN_DEBIT, m.TXN_CREDIT, m.TXN_DATE, m.TXN_DESCRIPTION, "invoice_number", "x"]
RELATIONSHIPS = [m.TXN_LEDGER_ACCOUNT_REL, m.TXN_VAT_CODE_REL, "invoice", "y"]

hostile = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "NaN", "Infinity", "1e999", "12.345", "-0", "2024-02-30", "\x00"])
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


@st.composite
def corruptions(draw: st.DrawFn) -> tuple[str, Any]:
    """(what, mutate): ``mutate(doc)`` returns the corrupted document, None cuts the body."""
    kind = draw(st.sampled_from(["attribute", "relationship", "record", "top", "document", "cut"]))
    value = draw(hostile)
    index = draw(st.integers(0, 50))
    key = draw(
        st.sampled_from(
            {"attribute": ATTRIBUTES, "relationship": RELATIONSHIPS, "record": ["id", "type"]}.get(
                kind, ["data", "links", "meta"]
            )
        )
    )

    def mutate(doc: Any) -> Any:
        records = doc.get("data") or [{}]
        record = records[index % len(records)]
        if kind == "attribute":
            record.setdefault("attributes", {})[key] = value
        elif kind == "relationship":
            relation = draw_relation(value)
            record.setdefault("relationships", {})[key] = relation
        elif kind == "record":
            if index % 3 == 0:
                records[index % len(records)] = value  # the whole record
            else:
                record[key] = value
        elif kind == "top":
            doc[key] = value
        else:
            return value
        return doc

    if kind == "cut":
        return "cut body", None
    return f"{kind} {key}", mutate


def draw_relation(value: Any) -> Any:
    """Half the time a well-shaped relationship pointing somewhere odd, else anything."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return {"data": {"type": "ledger_account", "id": value}}
    return value


async def read_january(plan: FaultPlan) -> list[Any]:
    app = create_bex_app(copy.copy(DATASET), api_key=KEY, faults=plan)
    client = BexClient(
        "http://bex.test",
        api_key=KEY,
        transport=httpx.ASGITransport(app),
        sleep=Sleeps(),
        rate_limit=None,
        page_size=25,
    )
    async with client:
        return [t async for page in client.iter_journal_transactions(ADMIN, *JAN) for t in page]


@fuzz_settings(120)
@given(corruptions(), st.integers(1, 3))
def test_malformed_pages_become_a_pms_error_naming_the_record(
    corruption: tuple[str, Any], page: int
) -> None:
    what, mutate = corruption
    plan = FaultPlan([Fault.malformed(mutate, nth=[page], path="journal")])
    try:
        lines = asyncio.run(read_january(plan))
    except PmsDataError as exc:
        assert (exc.provider, exc.kind) == ("bex", "rejected")
        assert "journal_transaction" in exc.message or f"page {page}" in exc.message, exc.message
        assert KEY not in exc.message
        tried("PMS pages (BEX client)", refused=True)
        return
    assert all(line.date.month == 1 for line in lines), what  # accepted: still January's data
    tried("PMS pages (BEX client)")


def test_an_untouched_january_reads_in_full() -> None:
    """The baseline the fuzz corrupts: the simulator's January for 4101 reads without error."""
    lines = asyncio.run(read_january(FaultPlan([])))
    assert lines and {line.date for line in lines} <= {date(2024, 1, d) for d in range(1, 32)}
