"""What provider tests share: fake time, a recording sleep, sample entries, an error check.

The contract (``contract.py``) and each provider's own tests build on these, so the shapes
shared by all of them live here once.
"""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from providers.base import EntryLine, JournalEntry
from providers.errors import ProviderError


class FakeTime:
    """A clock that only moves when someone sleeps: waits cost nothing and are recorded, so a
    test asserts how long the code asked to wait instead of measuring wall time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


class Sleeps:
    """A fake sleep for adapters and their retry layer: records each delay, waits at most
    ``real_cap`` seconds (so a shared rate limiter still sees its penalty run out), and can
    play a provider's background work (``action``) after the ``after``-th sleep."""

    def __init__(
        self,
        real_cap: float = 0.0,
        after: int | None = None,
        action: Callable[[], None] | None = None,
    ) -> None:
        self.delays: list[float] = []
        self.real_cap = real_cap
        self.after = after
        self.action = action

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.action is not None and len(self.delays) == self.after:
            self.action()
        await asyncio.sleep(min(delay, self.real_cap))


def standard_lines(debtors: str = "1090.00", turnover: str = "1000.00") -> tuple[EntryLine, ...]:
    """A balanced three-line month: debtors against rent turnover and the low VAT on it."""
    vat = Decimal(debtors) - Decimal(turnover)
    zero = Decimal("0.00")
    return (
        EntryLine("1300", "Guest debtors", Decimal(debtors), zero, "NONE"),
        EntryLine("8000", "Rent turnover", zero, Decimal(turnover), "L"),
        EntryLine("1800", "VAT low", zero, vat, "NONE"),
    )


def period_end(reference: str) -> date:
    """The last day of the period a ``bexsync:<config>:<period>`` reference names."""
    period = reference.rsplit(":", 1)[-1]
    year, month, *day = (int(part) for part in period.split("-"))
    if day:
        return date(year, month, day[0])
    return date(year, month, calendar.monthrange(year, month)[1])


def journal_entry(
    reference: str = "bexsync:7:2026-03",
    day: date | None = None,
    *,
    ledger: str = "BEX",
    currency: str = "EUR",
    tenant: str | None = None,
    lines: tuple[EntryLine, ...] | None = None,
    narration: str | None = None,
) -> JournalEntry:
    """The entry bexsync would post for ``reference``, with the standard three lines."""
    period = reference.rsplit(":", 1)[-1]
    return JournalEntry(
        reference=reference,
        date=day or period_end(reference),
        narration=narration or f"BEX PMS Park {period} ({reference})",
        currency=currency,
        ledger_id=ledger,
        tenant_id=tenant,
        lines=lines or standard_lines(),
    )


async def expect_error(provider: str, kind: str, awaitable: Awaitable[Any]) -> ProviderError:
    """Await ``awaitable`` and check it fails with ``kind`` on behalf of ``provider``."""
    with pytest.raises(ProviderError) as info:
        await awaitable
    assert info.value.kind == kind, info.value.message
    assert info.value.provider == provider
    return info.value
