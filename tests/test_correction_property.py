"""The property behind corrections (issue 16.5): whatever the PMS does to a posted period and
whatever the bookkeeper edited, the entries posted for the period add up to the PMS now plus
the hand edits - the correction takes the PMS's difference, never the bookkeeper's.

Runs the engine's Corrections against a real store: each example posts an entry (hand-edited),
then a series of PMS changes, each followed by a re-sync that posts its correction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.engine.corrections import Corrections, source_lines
from daemon.engine.payload import line_to_json
from daemon.entry_builder import Draft, DraftLine, Sources, Totals
from daemon.periods import Period
from daemon.store.records import Configuration, NewEntry, NewNotification
from daemon.store.sqlite import SqliteStore
from tests.test_store_contract import FrozenClock, configured, values

SOURCES = [("8000", "V21"), ("8010", "V9"), ("1600", None), ("1020", None), ("8020", "V21")]
CASH = ("1000", None)  # balances every PMS state
PERIOD = "2026-10-01"
NOTE = NewNotification("success", "Posted", "", None)

Totals_ = dict[tuple[str, str | None], Decimal]
cents = st.integers(min_value=-50_000, max_value=50_000)
pms_states = st.lists(cents, min_size=len(SOURCES), max_size=len(SOURCES))
hand_edits = st.lists(
    st.tuples(st.integers(0, len(SOURCES)), st.integers(0, len(SOURCES)), st.integers(1, 10_000)),
    max_size=4,
)


def pms_draft(cfg: Configuration, nets: list[int]) -> Draft:
    """The draft the PMS gives: a line per BEX account and VAT code, balanced on cash."""
    amounts = [*nets, -sum(nets)]
    lines = []
    for (account, vat), net in zip([*SOURCES, CASH], amounts, strict=True):
        if net:
            money = Decimal(abs(net)) / 100
            lines.append(
                DraftLine(
                    account=account,
                    account_name="",
                    description=f"{account} {vat or ''}",
                    vat_code=vat or cfg.no_vat_code,
                    debit=money if net > 0 else Decimal(0),
                    credit=money if net < 0 else Decimal(0),
                    source_account=account,
                    source_vat_code=vat,
                )
            )
    empty = Draft(
        configuration_id=cfg.id,
        reference=f"bexsync:{cfg.id}:{PERIOD}",
        narration="BEX PMS Park",
        date=date.fromisoformat(PERIOD),
        period=PERIOD,
        currency="EUR",
        ledger_id=cfg.ledger_id,
        tenant_id=None,
        lines=[],
        totals=Totals(Decimal(0), Decimal(0)),
        balanced=True,
        warnings=[],
        errors=[],
        sources=Sources(0, 0, []),
    )
    return empty.with_lines(lines) if lines else empty  # all gone: empty, as the builder says


def edited(draft: Draft, edits: list[tuple[int, int, int]]) -> Draft:
    """Move amounts between lines as a bookkeeper would (each move keeps the balance)."""
    lines = [dataclasses.replace(line) for line in draft.lines]
    for src, dst, amount in edits:
        if not lines:
            break
        a, b = lines[src % len(lines)], lines[dst % len(lines)]
        if a is b:
            continue
        money = Decimal(amount) / 100
        a.debit += money
        b.credit += money
    return draft.with_lines(lines)


def totals(lines: list[Any]) -> Totals_:
    out: Totals_ = defaultdict(Decimal)
    for line in lines:
        get = line.get if isinstance(line, dict) else line.__getattribute__
        out[(get("account"), get("vat_code"))] += Decimal(get("debit")) - Decimal(get("credit"))
    return {k: v for k, v in out.items() if v}


def plus(*parts: Totals_) -> Totals_:
    out: Totals_ = defaultdict(Decimal)
    for part in parts:
        for k, v in part.items():
            out[k] += v
    return {k: v for k, v in out.items() if v}


async def post(store: SqliteStore, cfg: Configuration, draft: Draft, **kw: Any) -> int:
    run_id = await store.runs.queue(
        cfg.id, PERIOD, trigger="manual", draft_id=None, allow_correction=True
    )
    entry = draft.to_journal_entry()
    await store.runs.record_posted(
        run_id,
        NewEntry(
            configuration_id=cfg.id,
            administration_number=cfg.administration_number,
            period=PERIOD,
            kind=kw.pop("kind", "entry"),
            reference=entry.reference,
            date=entry.date,
            provider="sandbox",
            external_id=str(run_id),
            total=entry.total_debit,
            lines=[line_to_json(line) for line in entry.lines],
            **kw,
        ),
        NOTE,
    )
    return run_id


async def scenario(first: list[int], edits: list[tuple[int, int, int]], later: list[list[int]]):
    with tempfile.TemporaryDirectory(prefix="bx-prop-") as tmp:
        store = SqliteStore(Path(tmp) / "state", FrozenClock())
        await store.open()
        try:
            _, config_id = await configured(store)
            await store.configurations.update(
                config_id, dataclasses.replace(values(1), no_vat_code="NONE")
            )
            cfg = await store.configurations.get(config_id)
            assert cfg is not None
            corrections = Corrections(store=store, builder=None, notifications=None)  # type: ignore[arg-type]
            period = Period.parse(cfg.frequency, PERIOD)
            built = pms_draft(cfg, first)
            by_hand = edited(built, edits)
            if not by_hand.postable:
                return
            hand = plus(totals(by_hand.lines), {k: -v for k, v in totals(built.lines).items()})
            await post(store, cfg, by_hand, source_lines=source_lines(built))
            for nets in later:
                now = pms_draft(cfg, nets)
                found = await corrections.correction(cfg, period, now)
                if found is not None:
                    correction, base = found
                    await post(
                        store,
                        cfg,
                        correction,
                        kind="correction",
                        source_lines=source_lines(now),
                        corrects=base.corrects,
                    )
                entries = await store.entries.for_period(cfg.id, PERIOD)
                held = plus(*(totals(e.lines or []) for e in entries))
                assert held == plus(totals(now.lines), hand)
                assert await corrections.correction(cfg, period, now) is None
        finally:
            await store.close()


@settings(max_examples=40, deadline=None)
@given(first=pms_states, edits=hand_edits, later=st.lists(pms_states, min_size=1, max_size=4))
def test_posted_entries_add_up_to_the_pms_now_plus_the_hand_edits(first, edits, later):
    asyncio.run(scenario(first, edits, later))
