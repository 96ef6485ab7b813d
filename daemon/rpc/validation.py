"""JSON params -> a handler's params Struct, with every problem reported at once.

The conversion and its explanation are ``explain``'s; this module adds what is particular to
RPC params: positional params, a method without params, the ``InvalidParams`` error
(``data.errors = [{"field", "message"}]``), and ``compile_params``, which runs when a method
is registered and refuses a params type the wire cannot carry safely (a string without a cap,
an integer without bounds...) at import time.
"""

from __future__ import annotations

import dataclasses
from typing import NoReturn

import msgspec
import msgspec.inspect as mi

from .errors import InvalidParams
from .explain import Errors, Invalid, StructSpec, convert, join_path, struct_spec
from .wire import INT64_MAX, INT64_MIN, JSONValue, Money

ParamsSpec = StructSpec[msgspec.Struct]


def compile_params(cls: object) -> ParamsSpec:
    """Check a params Struct (TypeError at import time) and prepare its conversion."""
    if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
        raise TypeError(
            f"RPC params must be a msgspec Struct (daemon.rpc.wire.Params), not {cls!r}"
        )
    spec = struct_spec(cls)
    return dataclasses.replace(spec, unbounded=_check_type(spec.info, cls.__name__, set()))


def _check_type(t: mi.Type, where: str, seen: set[type]) -> bool:
    """Refuse what the wire cannot carry; True when nesting is not bounded by the type."""
    if isinstance(t, mi.Metadata):
        return _check_type(t.type, where, seen)
    if isinstance(t, mi.StrType):
        if t.max_length is None:
            raise TypeError(f"{where}: a string needs a max_length (daemon.rpc.wire.Text)")
        return False
    if isinstance(t, mi.IntType):
        if t.gt is not None or t.lt is not None or t.multiple_of is not None:
            raise TypeError(f"{where}: bound integers with ge/le only")
        if t.ge is None or t.le is None or t.ge < INT64_MIN or t.le > INT64_MAX:
            raise TypeError(f"{where}: an integer needs ge and le within int64 (wire.Int64)")
        return False
    if isinstance(t, mi.FloatType):
        if t.gt is not None or t.lt is not None or t.multiple_of is not None:
            raise TypeError(f"{where}: bound numbers with ge/le only")
        return False
    if isinstance(t, mi.BoolType | mi.DateType | mi.DateTimeType | mi.NoneType | mi.LiteralType):
        return False
    if isinstance(t, mi.CustomType) and t.cls is Money:
        return False
    if isinstance(t, mi.AnyType):
        return True
    if isinstance(t, mi.UnionType):
        return any([_check_type(m, where, seen) for m in t.types])
    if isinstance(t, mi.ListType):
        return _check_type(t.item_type, f"{where}[]", seen)
    if isinstance(t, mi.DictType):
        if not isinstance(t.key_type, mi.StrType):
            raise TypeError(f"{where}: JSON object keys are strings")
        return _check_type(t.value_type, f"{where}{{}}", seen)
    if isinstance(t, mi.StructType):
        if t.cls in seen:
            return True  # a tree: its depth is the data's
        if not t.forbid_unknown_fields:
            raise TypeError(f"{where}: a params Struct must forbid unknown fields (wire.Params)")
        inner = seen | {t.cls}
        return any([_check_type(f.type, f"{where}.{f.name}", inner) for f in t.fields])
    if isinstance(t, mi.DecimalType):
        raise TypeError(f"{where}: a decimal param is daemon.rpc.wire.Money (strings only)")
    raise TypeError(f"{where}: unsupported RPC parameter annotation {t!r}")


def decode_params(spec: ParamsSpec | None, raw: JSONValue) -> msgspec.Struct | None:
    """JSON params -> an instance of ``spec.cls`` (None for a method without params).

    ``raw`` may be an object, an array in field order, or None/absent (= ``{}``). Raises
    ``InvalidParams`` listing every problem found.
    """
    if raw is None:
        raw = {}
    if spec is None:
        if raw == {} or raw == []:
            return None
        if isinstance(raw, dict):
            _refuse([{"field": join_path("", str(k)), "message": "unknown parameter"} for k in raw])
        _refuse([{"field": "params", "message": "this method takes no parameters"}])
    if isinstance(raw, list):
        if len(raw) > len(spec.wire_names):
            message = f"too many positional parameters (at most {len(spec.wire_names)})"
            _refuse([{"field": "params", "message": message}])
        raw = dict(zip(spec.wire_names, raw, strict=False))
    if not isinstance(raw, dict):
        _refuse([{"field": "params", "message": "must be an object or an array"}])
    try:
        return convert(spec, raw)
    except Invalid as exc:
        _refuse(exc.errors)


def _refuse(errors: Errors) -> NoReturn:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    summary = f"Invalid parameters: {first['field']} {first['message']}{more}."
    raise InvalidParams(summary, errors=errors) from None


__all__ = ["ParamsSpec", "compile_params", "decode_params"]
