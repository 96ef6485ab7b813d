"""Money as the daemon sends it: decimal strings, summed with Decimal, never float."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.text import Text

CENT = Decimal("0.01")


def parse_amount(value: Any) -> Decimal | None:
    """A user's or the daemon's amount as Decimal with cents; None when it is not one."""
    text = str(value if value is not None else "").strip().replace(" ", "")
    if not text:
        return Decimal("0.00")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.quantize(CENT):
        return None
    return amount.quantize(CENT)


def wire(amount: Decimal) -> str:
    """The contract's form: two places, no exponent."""
    return f"{amount.quantize(CENT):f}"


def right(value: Any) -> Text:
    """A money cell: the daemon's string, right-aligned, untouched."""
    return Text(str(value if value is not None else ""), justify="right")


@dataclass(frozen=True)
class Balance:
    """Debit and credit totals of some lines, plus the lines whose amounts do not parse."""

    debit: Decimal
    credit: Decimal
    invalid: tuple[int, ...]

    @property
    def difference(self) -> Decimal:
        return self.debit - self.credit

    @property
    def balanced(self) -> bool:
        return not self.invalid and self.difference == 0


def balance(lines: Iterable[Mapping[str, Any]]) -> Balance:
    """Sum the lines' debit and credit; a line with an unreadable amount is listed, not summed."""
    debit = credit = Decimal("0.00")
    invalid: list[int] = []
    for number, line in enumerate(lines, start=1):
        d, c = parse_amount(line.get("debit")), parse_amount(line.get("credit"))
        if d is None or c is None:
            invalid.append(number)
            continue
        debit += d
        credit += c
    return Balance(debit, credit, tuple(invalid))
