"""The vocabulary of the wire schema: what API modules declare their params and results with.

Params and results are msgspec Structs. One declaration drives three things: converting the
client's JSON (``validation``), encoding the answer (``codec``) and describing both in
``rpc.discover`` (``openrpc``). Constraints are ``msgspec.Meta`` annotations, so the published
schema says exactly what the daemon enforces::

    class Create(Params):
        name: Annotated[str, Meta(max_length=200)]
        delay_days: Annotated[int, Meta(ge=0, le=14)] = 0

Every string a client sends must have a ``max_length`` and every integer both bounds
(``Text`` and ``Int64`` are the generous defaults): the registry refuses a params Struct
without them when the module is imported.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import msgspec
from msgspec import UNSET, Meta, UnsetType

if TYPE_CHECKING:
    JSONValue: TypeAlias = (
        str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None
    )
else:
    # msgspec cannot read a recursive alias; to it (and to the schema) free JSON is Any
    JSONValue = Any
JSONObject: TypeAlias = dict[str, JSONValue]
RequestId: TypeAlias = str | int | None
"""A JSON-RPC request id (null included)."""

DEFAULT_MAX_STRING = 10_000
"""The cap of ``Text``: params are commands, not documents."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""What SQLite stores: bigger ids overflowed it."""
MAX_DEPTH = 32
"""Deepest nesting accepted inside params (objects and arrays)."""

Text = Annotated[str, Meta(max_length=DEFAULT_MAX_STRING)]
Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]
Finite = Annotated[float, Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
"""A float that is a number: NaN and the infinities fail its bounds (JSON has neither)."""

DECIMAL_RE = re.compile(r"[+-]?\d{1,30}(\.\d{1,12})?")
DECIMAL_MESSAGE = 'must be a decimal number as a string, like "12.50"'
MONEY_PATTERN = r"^-?\d+\.\d{2}$"
MoneyText = Annotated[str, Meta(pattern=MONEY_PATTERN)]
"""Money in a result: the decimal string with two places the services produce ("1234.50")."""


class Money(Decimal):
    """A decimal number a client sends as a string (``"12.50"``), never as a JSON number.

    A JSON number may already have been rounded by a float on the client's side, so numbers
    and forms like ``"1e3"`` or ``"NaN"`` are refused.
    """

    @classmethod
    def from_wire(cls, value: object) -> Money:
        if not isinstance(value, str) or not DECIMAL_RE.fullmatch(value):
            raise ValueError(DECIMAL_MESSAGE)
        return cls(value)


def pattern(regex: str, message: str | None = None) -> Meta:
    """The whole string must match ``regex``; ``message`` replaces the generic complaint."""
    extra = {"message": message} if message else None
    return Meta(pattern=f"^(?:{regex})$", extra=extra)


class Params(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every params Struct: unknown keys are refused.

    Positional params (a JSON array) map to the fields in declaration order.
    """


class Result(msgspec.Struct):
    """Base of result Structs (no extra behaviour: a name to find them by)."""


def provided(params: msgspec.Struct) -> dict[str, object]:
    """The fields the client actually sent (an ``UNSET`` default tells "absent" from null).

    ``configurations.update`` needs it: ``{"id": 3, "end_date": null}`` clears the end date,
    while ``{"id": 3}`` keeps it.
    """
    values = ((name, getattr(params, name)) for name in params.__struct_fields__)
    return {name: value for name, value in values if value is not UNSET}


__all__ = [
    "DECIMAL_MESSAGE",
    "DECIMAL_RE",
    "DEFAULT_MAX_STRING",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DEPTH",
    "MONEY_PATTERN",
    "UNSET",
    "Finite",
    "Int64",
    "JSONObject",
    "JSONValue",
    "Meta",
    "Money",
    "MoneyText",
    "Params",
    "RequestId",
    "Result",
    "Text",
    "UnsetType",
    "pattern",
    "provided",
]
