"""A JSON-like value -> a msgspec Struct, and when it does not fit, every reason why.

msgspec converts (fast, in C) and stops at the first problem. When it refuses, the same
Struct definition is walked once more (``msgspec.inspect``) to list *every* field that is
wrong, each as ``{"field", "message"}`` with a path like ``lines[3].debit`` or
``limits["a b"]`` and a message a user can act on ("must be between 0 and 14"). The RPC
params (``validation``) and the daemon's config file (``daemon.config``) both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, Literal, TypeVar, get_args, get_origin, get_type_hints

import msgspec
import msgspec.inspect as mi

from .wire import DECIMAL_MESSAGE, MAX_DEPTH, JSONValue, Money

Errors = list[dict[str, str]]
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_MESSAGE = "must be an ISO 8601 date and time, like 2024-05-01T13:00:00+02:00"


def dec_hook(tp: type, value: object) -> object:
    """The wire types msgspec does not know itself (``Money``)."""
    if tp is Money:
        return Money.from_wire(value)
    raise NotImplementedError(f"{tp!r} cannot come from the wire")


class Invalid(ValueError):
    """A value does not fit its Struct; ``errors`` lists every problem."""

    def __init__(self, errors: Errors) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


S = TypeVar("S", bound=msgspec.Struct, covariant=True)


@dataclass(frozen=True)
class StructSpec(Generic[S]):
    """A Struct type, prepared for converting values and explaining refusals."""

    cls: type[S]
    info: mi.StructType
    wire_names: tuple[str, ...]
    """Field names as sent (``from`` for a field ``from_``), in declaration order."""
    literal_order: dict[frozenset[object], tuple[object, ...]]
    """Each Literal's choices as declared (``msgspec.inspect`` sorts them), for messages."""
    unbounded: bool = False
    """Free JSON or a recursive Struct inside: the nesting depth is checked after msgspec."""
    unknown: str = "unknown parameter"
    """What a key the Struct does not have is called."""
    root: str = "params"
    """What the whole value is called in a message about it."""


def struct_spec(
    cls: type[S], *, unknown: str = "unknown parameter", root: str = "params"
) -> StructSpec[S]:
    """Prepare ``cls`` (a msgspec Struct); TypeError for a constraint that does not fit."""
    info = mi.type_info(cls)  # msgspec refuses a constraint that does not fit its type here
    assert isinstance(info, mi.StructType)
    names = tuple(f.encode_name for f in info.fields)
    return StructSpec(cls, info, names, _literals(cls, set()), unknown=unknown, root=root)


def _literals(tp: object, seen: set[type]) -> dict[frozenset[object], tuple[object, ...]]:
    """Every ``Literal`` reachable from the annotation ``tp``, keyed by its set of choices."""
    if get_origin(tp) is Literal:
        choices = get_args(tp)
        return {frozenset(choices): choices}
    found: dict[frozenset[object], tuple[object, ...]] = {}
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp in seen:
            return found
        seen.add(tp)
        for hint in get_type_hints(tp, include_extras=True).values():
            found.update(_literals(hint, seen))
        return found
    for arg in get_args(tp):
        found.update(_literals(arg, seen))
    return found


def convert(spec: StructSpec[S], raw: dict[str, JSONValue]) -> S:
    """``raw`` as an instance of ``spec.cls``; ``Invalid`` listing every problem otherwise."""
    try:
        value = msgspec.convert(raw, spec.cls, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        raise Invalid(explain(spec, raw) or [_from_msgspec(exc, spec.root)]) from None
    if spec.unbounded and _depth_of(raw, MAX_DEPTH) > MAX_DEPTH:
        errors = explain(spec, raw)
        if errors:
            raise Invalid(errors)
    return value


def _from_msgspec(exc: msgspec.ValidationError, root: str) -> dict[str, str]:
    """msgspec's own words, for a refusal the explanation below did not foresee."""
    text, _, where = str(exc).partition(" - at `")
    field = where.rstrip("`").removeprefix("$").removeprefix(".") or root
    return {"field": field, "message": text[:1].lower() + text[1:]}


# --- explaining a refusal -----------------------------------------------------------------------


@dataclass
class _Report:
    """The problems found so far, and what the messages need to know."""

    spec: StructSpec[msgspec.Struct]
    errors: Errors = field(default_factory=list)


def explain(spec: StructSpec[msgspec.Struct], raw: dict[str, JSONValue]) -> Errors:
    """Every problem of ``raw`` against the Struct of ``spec``, in field order."""
    report = _Report(spec)
    _check(spec.info, raw, "", report, 0, None)
    return report.errors


def join_path(path: str, key: str) -> str:
    """``path`` and then ``key``: ``lines.account``, or ``limits["a b"]`` for an odd key."""
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{escaped}"]'


def _fail(report: _Report, path: str, message: str) -> bool:
    report.errors.append({"field": path or report.spec.root, "message": message})
    return False


def _depth_of(value: JSONValue, limit: int) -> int:
    """Nesting depth of a JSON value, stopping early once it passes ``limit``."""
    stack: list[tuple[JSONValue, int]] = [(value, 0)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _size(
    report: _Report, path: str, size: int, unit: str, low: int | None, high: int | None
) -> bool:
    if low is not None and size < low:
        return _fail(
            report, path, "must not be empty" if low == 1 else f"must have at least {low} {unit}"
        )
    if high is not None and size > high:
        return _fail(report, path, f"must have at most {high} {unit}")
    return True


def _range(report: _Report, path: str, value: float, low: float | None, high: float | None) -> bool:
    if (low is None or value >= low) and (high is None or value <= high):
        return True
    if low is not None and high is not None:
        return _fail(report, path, f"must be between {low} and {high}")
    if low is not None:
        return _fail(report, path, f"must be at least {low}")
    return _fail(report, path, f"must be at most {high}")


def _check(
    t: mi.Type,
    value: JSONValue,
    path: str,
    report: _Report,
    depth: int,
    extra: dict[str, object] | None,
) -> bool:
    """True when ``value`` fits ``t``; otherwise its problems are added to ``report``."""
    if isinstance(t, mi.Metadata):
        return _check(t.type, value, path, report, depth, t.extra)
    if isinstance(t, mi.StrType):
        if not isinstance(value, str):
            return _fail(report, path, "must be a string")
        if not _size(report, path, len(value), "characters", t.min_length, t.max_length):
            return False
        if t.pattern is not None and not re.search(t.pattern, value):
            message = (extra or {}).get("message") or f"must match the pattern {t.pattern}"
            return _fail(report, path, str(message))
        return True
    if isinstance(t, mi.IntType):
        if isinstance(value, bool) or not isinstance(value, int):
            return _fail(report, path, "must be an integer")
        return _range(report, path, value, t.ge, t.le)
    if isinstance(t, mi.FloatType):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _fail(report, path, "must be a number")
        try:
            number = float(value)
        except OverflowError:
            return _fail(report, path, "must be a number")
        return _range(report, path, number, t.ge, t.le)
    if isinstance(t, mi.BoolType):
        return isinstance(value, bool) or _fail(report, path, "must be true or false")
    if isinstance(t, mi.NoneType):
        return value is None or _fail(report, path, "must be null")
    if isinstance(t, mi.CustomType):  # Money, the only one compile_params lets through
        try:
            dec_hook(t.cls, value)
        except ValueError as exc:
            return _fail(report, path, str(exc) or DECIMAL_MESSAGE)
        return True
    if isinstance(t, mi.DateType):
        if not isinstance(value, str) or not DATE_RE.fullmatch(value):
            return _fail(report, path, "must be a date YYYY-MM-DD")
        try:
            date.fromisoformat(value)
        except ValueError:
            return _fail(report, path, "is not a valid calendar date")
        return True
    if isinstance(t, mi.DateTimeType):
        try:
            msgspec.convert(value, datetime)
        except msgspec.ValidationError:
            return _fail(report, path, _DATETIME_MESSAGE)
        return True
    if isinstance(t, mi.LiteralType):
        # type check first: JSON true must not match Literal[1], nor 1 match Literal[True]
        if any(type(value) is type(choice) and value == choice for choice in t.values):
            return True
        choices = report.spec.literal_order.get(frozenset(t.values), t.values)
        shown = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)
        return _fail(report, path, f"must be one of: {shown}")
    if isinstance(t, mi.AnyType):
        if _depth_of(value, MAX_DEPTH - depth) + depth > MAX_DEPTH:
            return _fail(report, path, "is nested too deeply")
        return True
    if isinstance(t, mi.UnionType):
        return _check_union(t, value, path, report, depth)
    if isinstance(t, mi.ListType):
        if not isinstance(value, list):
            return _fail(report, path, "must be a list")
        items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        return _check_items(t.item_type, items, "items", t, path, report, depth)
    if isinstance(t, mi.DictType):
        if not isinstance(value, dict):
            return _fail(report, path, "must be an object")
        entries = [(join_path(path, k), v) for k, v in value.items()]
        return _check_items(t.value_type, entries, "entries", t, path, report, depth)
    if isinstance(t, mi.StructType):
        return _check_struct(t, value, path, report, depth)
    return _fail(report, path, "has the wrong type")  # pragma: no cover - compile_params refuses


def _check_items(
    item_type: mi.Type,
    items: list[tuple[str, JSONValue]],
    unit: str,
    bounds: mi.ListType | mi.DictType,
    path: str,
    report: _Report,
    depth: int,
) -> bool:
    """The items of a list or the values of an object (each with its path)."""
    if depth >= MAX_DEPTH:
        return _fail(report, path, "is nested too deeply")
    if not _size(report, path, len(items), unit, bounds.min_length, bounds.max_length):
        return False
    return all([_check(item_type, v, where, report, depth + 1, None) for where, v in items])


def _check_union(t: mi.UnionType, value: JSONValue, path: str, report: _Report, depth: int) -> bool:
    members = [m for m in t.types if not isinstance(m, mi.NoneType)]
    if value is None and len(members) < len(t.types):
        return True
    if len(members) == 1:
        return _check(members[0], value, path, report, depth, None)
    messages: list[str] = []
    for member in members:
        attempt = _Report(report.spec)
        if _check(member, value, path, attempt, depth, None):
            return True
        messages.extend(
            e["message"] for e in attempt.errors if e["field"] == (path or report.spec.root)
        )
    unique = list(dict.fromkeys(messages))
    if not unique:
        return _fail(report, path, "has the wrong type")
    rest = [m.removeprefix("must be ") for m in unique[1:]]
    return _fail(report, path, " or ".join([unique[0], *rest]))


def _check_struct(
    t: mi.StructType, value: JSONValue, path: str, report: _Report, depth: int
) -> bool:
    if not isinstance(value, dict):
        return _fail(report, path, "must be an object")
    if depth >= MAX_DEPTH:
        return _fail(report, path, "is nested too deeply")
    ok = True
    for f in t.fields:
        name = f.encode_name
        if name in value:
            ok = _check(f.type, value[name], join_path(path, name), report, depth + 1, None) and ok
        elif f.required:
            ok = _fail(report, join_path(path, name), "is required")
    if t.forbid_unknown_fields:
        known = {f.encode_name for f in t.fields}
        for key in value:
            if key not in known:
                ok = _fail(report, join_path(path, str(key)), report.spec.unknown)
    return ok


__all__ = [
    "Errors",
    "Invalid",
    "StructSpec",
    "convert",
    "dec_hook",
    "explain",
    "join_path",
    "struct_spec",
]
