"""Typed RPC parameters: JSON params become a handler's dataclass before the handler runs.

Handlers declare their parameters once, as a dataclass; this module checks and converts the
JSON a client sent (an object, or an array in field order) and reports *every* problem at once
as ``InvalidParams`` with ``data.errors = [{"field", "message"}]``. The same field information
feeds the OpenRPC document (see ``openrpc.py``), so docs and behaviour cannot drift apart.

Converters are compiled once per type (at registration), so a call pays only for the checks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import keyword
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import InvalidParams

DEFAULT_MAX_STRING = 10_000
"""Sanity cap for any string without its own ``MaxLen``: params are commands, not documents."""
INT64 = (-(2**63), 2**63 - 1)
"""Bounds for any int without its own ``Range``: what SQLite stores (bigger ids overflowed it)."""
MAX_DEPTH = 32
"""Deepest nesting accepted inside params (objects and arrays)."""

DECIMAL_RE = re.compile(r"[+-]?\d{1,30}(\.\d{1,12})?")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- constraint markers, used as Annotated[str, MaxLen(200)] ------------------------------------


class Constraint:
    """Base of the markers that ``Annotated`` metadata may carry."""


@dataclass(frozen=True)
class MaxLen(Constraint):
    """At most ``n`` characters (strings) or items (lists, dicts)."""

    n: int


@dataclass(frozen=True)
class MinLen(Constraint):
    """At least ``n`` characters (strings) or items (lists, dicts)."""

    n: int


@dataclass(frozen=True)
class Range(Constraint):
    """Inclusive bounds for int, float or Decimal values; either bound may be None."""

    min: int | float | Decimal | None = None
    max: int | float | Decimal | None = None


@dataclass(frozen=True)
class Pattern(Constraint):
    """The whole string must match ``regex``; ``message`` replaces the generic complaint."""

    regex: str
    message: str | None = None


# --- conversion machinery -----------------------------------------------------------------------

_INVALID: Any = object()
Errors = list[dict[str, str]]
Converter = Callable[[Any, str, Errors, int], Any]
"""(value, field path, errors to append to, depth) -> converted value or _INVALID."""

_PROVIDED_ATTR = "__rpc_provided__"


def _fail(errors: Errors, path: str, message: str) -> Any:
    errors.append({"field": path or "params", "message": message})
    return _INVALID


def _join(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{escaped}"]'


def _depth_of(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, stopping early once it passes ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 0)]
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


@dataclass(frozen=True)
class ParamField:
    """One parameter as the wire sees it (``wire`` differs from ``name`` only for ``from_``)."""

    name: str
    wire: str
    annotation: Any
    required: bool
    default: Any
    description: str
    converter: Converter


def wire_name(name: str) -> str:
    """``from_`` is sent as ``from``: Python keywords need the trailing underscore, JSON not."""
    if name.endswith("_") and keyword.iskeyword(name[:-1]):
        return name[:-1]
    return name


def split_annotated(tp: Any) -> tuple[Any, tuple[Constraint, ...]]:
    """``Annotated[T, c1, c2]`` -> ``(T, (c1, c2))``; plain types have no constraints."""
    constraints: tuple[Constraint, ...] = ()
    while get_origin(tp) is Annotated:
        base, *meta = get_args(tp)
        constraints += tuple(m for m in meta if isinstance(m, Constraint))
        tp = base
    return tp, constraints


def is_optional(tp: Any) -> bool:
    base, _ = split_annotated(tp)
    return get_origin(base) in (Union, types.UnionType) and type(None) in get_args(base)


def _find(constraints: tuple[Constraint, ...], kind: type) -> Any:
    found = [c for c in constraints if isinstance(c, kind)]
    return found[-1] if found else None


def _check_allowed(tp: Any, constraints: tuple[Constraint, ...], allowed: tuple[type, ...]) -> None:
    for c in constraints:
        if not isinstance(c, allowed):
            raise TypeError(f"{type(c).__name__} cannot constrain {tp!r}")


def _range_check(value: Any, rng: Range | None, path: str, errors: Errors) -> Any:
    if rng is None:
        return value
    low, high = rng.min, rng.max
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            return _fail(errors, path, f"must be between {low} and {high}")
        if low is not None:
            return _fail(errors, path, f"must be at least {low}")
        return _fail(errors, path, f"must be at most {high}")
    return value


def _size_check(
    size: int, unit: str, constraints: tuple[Constraint, ...], path: str, errors: Errors
) -> bool:
    low, high = _find(constraints, MinLen), _find(constraints, MaxLen)
    if low is not None and size < low.n:
        _fail(
            errors,
            path,
            "must not be empty" if low.n == 1 else f"must have at least {low.n} {unit}",
        )
        return False
    if high is not None and size > high.n:
        _fail(errors, path, f"must have at most {high.n} {unit}")
        return False
    return True


def _str_converter(constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(str, constraints, (MaxLen, MinLen, Pattern))
    if _find(constraints, MaxLen) is None:
        constraints = (*constraints, MaxLen(DEFAULT_MAX_STRING))
    pattern = _find(constraints, Pattern)
    compiled = re.compile(pattern.regex) if pattern else None

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if not isinstance(value, str):
            return _fail(errors, path, "must be a string")
        if not _size_check(len(value), "characters", constraints, path, errors):
            return _INVALID
        if compiled is not None and not compiled.fullmatch(value):
            return _fail(errors, path, pattern.message or f"must match the pattern {pattern.regex}")
        return value

    return convert


def _int_converter(constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(int, constraints, (Range,))
    rng = _find(constraints, Range) or Range(*INT64)

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return _fail(errors, path, "must be an integer")
        return _range_check(value, rng, path, errors)

    return convert


def _float_converter(constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(float, constraints, (Range,))
    rng = _find(constraints, Range)

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _fail(errors, path, "must be a number")
        return _range_check(float(value), rng, path, errors)

    return convert


def _bool_converter(constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(bool, constraints, ())

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if not isinstance(value, bool):
            return _fail(errors, path, "must be true or false")
        return value

    return convert


def _decimal_converter(constraints: tuple[Constraint, ...]) -> Converter:
    """Money travels as a string: a JSON number may already have been rounded by a float."""
    _check_allowed(Decimal, constraints, (Range,))
    rng = _find(constraints, Range)

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if not isinstance(value, str) or not DECIMAL_RE.fullmatch(value):
            return _fail(errors, path, 'must be a decimal number as a string, like "12.50"')
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
            return _fail(errors, path, 'must be a decimal number as a string, like "12.50"')
        return _range_check(number, rng, path, errors)

    return convert


def _date_converter(constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(date, constraints, ())

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if not isinstance(value, str) or not DATE_RE.fullmatch(value):
            return _fail(errors, path, "must be a date YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            return _fail(errors, path, "is not a valid calendar date")

    return convert


def _datetime_converter(constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(datetime, constraints, ())

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        message = "must be an ISO 8601 date and time, like 2024-05-01T13:00:00+02:00"
        if not isinstance(value, str) or len(value) < 16 or len(value) > 40:
            return _fail(errors, path, message)
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return _fail(errors, path, message)

    return convert


def _any_converter(constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(Any, constraints, ())

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if _depth_of(value, MAX_DEPTH - depth) + depth > MAX_DEPTH:
            return _fail(errors, path, "is nested too deeply")
        return value

    return convert


def _literal_converter(tp: Any, constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(tp, constraints, ())
    choices = get_args(tp)
    shown = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        for choice in choices:
            # type check first: JSON true must not match Literal[1], nor 1 match Literal[True]
            if type(value) is type(choice) and value == choice:
                return choice
        return _fail(errors, path, f"must be one of: {shown}")

    return convert


def _union_converter(tp: Any, constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(tp, constraints, ())
    members = [m for m in get_args(tp) if m is not type(None)]
    nullable = len(members) < len(get_args(tp))
    converters = [compile_type(m) for m in members]

    if len(converters) == 1:
        only = converters[0]

        def convert_optional(value: Any, path: str, errors: Errors, depth: int) -> Any:
            return None if value is None else only(value, path, errors, depth)

        return convert_optional

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if value is None and nullable:
            return None
        messages: list[str] = []
        for converter in converters:
            attempt: Errors = []
            result = converter(value, path, attempt, depth)
            if result is not _INVALID:
                return result
            messages.extend(e["message"] for e in attempt if e["field"] == (path or "params"))
        unique = list(dict.fromkeys(messages))
        if not unique:
            return _fail(errors, path, "has the wrong type")
        rest = [m.removeprefix("must be ") for m in unique[1:]]
        return _fail(errors, path, " or ".join([unique[0], *rest]))

    return convert


def _list_converter(tp: Any, constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(tp, constraints, (MaxLen, MinLen))
    args = get_args(tp)
    item = compile_type(args[0] if args else Any)

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if not isinstance(value, list):
            return _fail(errors, path, "must be a list")
        if depth >= MAX_DEPTH:
            return _fail(errors, path, "is nested too deeply")
        if not _size_check(len(value), "items", constraints, path, errors):
            return _INVALID
        out = [item(v, f"{path}[{i}]", errors, depth + 1) for i, v in enumerate(value)]
        return _INVALID if any(v is _INVALID for v in out) else out

    return convert


def _dict_converter(tp: Any, constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(tp, constraints, (MaxLen, MinLen))
    args = get_args(tp)
    if args and args[0] is not str:
        raise TypeError(f"JSON object keys are strings: {tp!r} is not supported")
    item = compile_type(args[1] if args else Any)

    def convert(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if not isinstance(value, dict):
            return _fail(errors, path, "must be an object")
        if depth >= MAX_DEPTH:
            return _fail(errors, path, "is nested too deeply")
        if not _size_check(len(value), "entries", constraints, path, errors):
            return _INVALID
        out = {k: item(v, _join(path, k), errors, depth + 1) for k, v in value.items()}
        return _INVALID if any(v is _INVALID for v in out.values()) else out

    return convert


# Dataclass converters are cached, and a placeholder goes in first so that a dataclass that
# refers to itself (a tree) compiles without endless recursion.
_dataclass_cache: dict[type, Converter] = {}
_fields_cache: dict[type, tuple[ParamField, ...]] = {}


def param_fields(cls: type) -> tuple[ParamField, ...]:
    """The wire parameters of a params dataclass, in declaration order (the positional order)."""
    if cls not in _fields_cache:
        compile_type(cls)
    return _fields_cache[cls]


def _dataclass_converter(cls: type, constraints: tuple[Constraint, ...]) -> Converter:
    _check_allowed(cls, constraints, ())
    if cls in _dataclass_cache:
        return _dataclass_cache[cls]

    def late(value: Any, path: str, errors: Errors, depth: int) -> Any:
        return real(value, path, errors, depth)

    _dataclass_cache[cls] = late
    try:
        hints = get_type_hints(cls, include_extras=True)
        fields: list[ParamField] = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            fields.append(
                ParamField(
                    name=f.name,
                    wire=wire_name(f.name),
                    annotation=hints[f.name],
                    required=not has_default,
                    default=f.default,
                    description=str(f.metadata.get("description", "")),
                    converter=compile_type(hints[f.name]),
                )
            )
    except BaseException:
        del _dataclass_cache[cls]
        raise
    _fields_cache[cls] = field_tuple = tuple(fields)
    by_wire = {pf.wire: pf for pf in field_tuple}

    def real(value: Any, path: str, errors: Errors, depth: int) -> Any:
        if not isinstance(value, dict):
            return _fail(errors, path, "must be an object")
        if depth >= MAX_DEPTH:
            return _fail(errors, path, "is nested too deeply")
        ok = True
        kwargs: dict[str, Any] = {}
        for pf in field_tuple:
            if pf.wire in value:
                converted = pf.converter(value[pf.wire], _join(path, pf.wire), errors, depth + 1)
                if converted is _INVALID:
                    ok = False
                else:
                    kwargs[pf.name] = converted
            elif pf.required:
                _fail(errors, _join(path, pf.wire), "is required")
                ok = False
        for key in value:
            if key not in by_wire:
                _fail(errors, _join(path, str(key)), "unknown parameter")
                ok = False
        if not ok:
            return _INVALID
        instance = cls(**kwargs)
        # a slots dataclass has no room for it: provided_fields() then falls back
        with contextlib.suppress(AttributeError, TypeError):
            object.__setattr__(instance, _PROVIDED_ATTR, frozenset(kwargs))
        return instance

    return late


def compile_type(tp: Any) -> Converter:
    """Build the converter for an annotation; an unsupported one raises TypeError at import."""
    base, constraints = split_annotated(tp)
    origin = get_origin(base)
    if base is Any:
        return _any_converter(constraints)
    if base is str:
        return _str_converter(constraints)
    if base is bool:
        return _bool_converter(constraints)
    if base is int:
        return _int_converter(constraints)
    if base is float:
        return _float_converter(constraints)
    if base is Decimal:
        return _decimal_converter(constraints)
    if base is datetime:
        return _datetime_converter(constraints)
    if base is date:
        return _date_converter(constraints)
    if origin is Literal:
        return _literal_converter(base, constraints)
    if origin in (Union, types.UnionType):
        return _union_converter(base, constraints)
    if base is list or origin is list:
        return _list_converter(base, constraints)
    if base is dict or origin is dict:
        return _dict_converter(base, constraints)
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        return _dataclass_converter(base, constraints)
    raise TypeError(f"unsupported RPC parameter annotation: {tp!r}")


def _summary(errors: Errors) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"Invalid parameters: {first['field']} {first['message']}{more}."


def convert_params(cls: type | None, raw: Any) -> Any:
    """JSON params -> an instance of ``cls`` (or None for a method without params).

    ``raw`` may be an object, an array in field order, or None/absent (= ``{}``). Raises
    ``InvalidParams`` listing every problem found.
    """
    errors: Errors = []
    if raw is None:
        raw = {}
    if cls is None:
        if raw in ({}, []):
            return None
        if isinstance(raw, dict):
            errors = [{"field": _join("", str(k)), "message": "unknown parameter"} for k in raw]
        else:
            errors = [{"field": "params", "message": "this method takes no parameters"}]
        raise InvalidParams(_summary(errors), errors=errors)
    fields = param_fields(cls)
    if isinstance(raw, list):
        if len(raw) > len(fields):
            errors.append(
                {
                    "field": "params",
                    "message": f"too many positional parameters (at most {len(fields)})",
                }
            )
            raise InvalidParams(_summary(errors), errors=errors)
        raw = {pf.wire: value for pf, value in zip(fields, raw, strict=False)}
    if not isinstance(raw, dict):
        errors.append({"field": "params", "message": "must be an object or an array"})
        raise InvalidParams(_summary(errors), errors=errors)
    result = _dataclass_cache[cls](raw, "", errors, 0)
    if result is _INVALID:
        raise InvalidParams(_summary(errors), errors=errors)
    return result


def provided_fields(params: Any) -> frozenset[str]:
    """Names of the fields the client actually sent: tells "set to null" from "not given".

    ``configurations.update`` needs this: ``{"id": 3, "end_date": null}`` clears the end date,
    while ``{"id": 3}`` keeps it.
    """
    provided = getattr(params, _PROVIDED_ATTR, None)
    if provided is not None:
        return provided
    return frozenset(f.name for f in dataclasses.fields(params))


def check_params_type(cls: Any) -> None:
    """Fail at import time (TypeError) when a params dataclass uses an unsupported annotation."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"RPC params must be a dataclass, not {cls!r}")
    compile_type(cls)


__all__ = [
    "DEFAULT_MAX_STRING",
    "MAX_DEPTH",
    "Constraint",
    "MaxLen",
    "MinLen",
    "ParamField",
    "Pattern",
    "Range",
    "check_params_type",
    "compile_type",
    "convert_params",
    "is_optional",
    "param_fields",
    "provided_fields",
    "split_annotated",
    "wire_name",
]
