"""Exact-decimal JSON for provider APIs that take amounts as JSON numbers.

One encoder for every adapter and simulator that writes amounts as number literals: a detour
through float could change an amount, so each ``Decimal`` goes out as its own digits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    """An amount with exactly two decimals, as every provider's API takes it."""
    return value.quantize(CENT)


def dumps_decimal(doc: Any) -> bytes:
    """UTF-8 JSON with every ``Decimal`` written as an exact number literal (``1090.00``)."""
    literals: dict[str, str] = {}

    def mark(node: Any) -> Any:
        if isinstance(node, Decimal):
            placeholder = f"\x00{len(literals)}\x00"
            literals[placeholder] = format(node, "f")
            return placeholder
        if isinstance(node, Mapping):
            return {key: mark(value) for key, value in node.items()}
        if isinstance(node, list | tuple):
            return [mark(value) for value in node]
        return node

    text = json.dumps(mark(doc), ensure_ascii=False, separators=(",", ":"))
    for placeholder, literal in literals.items():
        text = text.replace(json.dumps(placeholder), literal)
    return text.encode("utf-8")


def loads_decimal(content: bytes | str) -> Any:
    """Decode JSON keeping every non-integer number an exact ``Decimal``."""
    return json.loads(content, parse_float=Decimal)
