"""The OpenRPC 1.2.6 document (``rpc.discover``), generated from the registry.

Param schemas come from the same dataclasses that convert the params, so the document always
says what the server really accepts. Nested dataclasses go to ``components.schemas``.
"""

from __future__ import annotations

import dataclasses
import types
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

from .errors import (
    AuthorisationRequired,
    Conflict,
    InternalError,
    InvalidParams,
    NotFound,
    PermissionDenied,
    ProviderFailure,
    RpcError,
    ValidationFailed,
)
from .params import (
    DECIMAL_RE,
    DEFAULT_MAX_STRING,
    MaxLen,
    MinLen,
    Pattern,
    Range,
    param_fields,
    split_annotated,
)
from .registry import Registry

OPENRPC_VERSION = "1.2.6"
_APPLICATION_ERRORS: tuple[type[RpcError], ...] = (
    InvalidParams,
    InternalError,
    NotFound,
    ValidationFailed,
    Conflict,
    ProviderFailure,
    AuthorisationRequired,
    PermissionDenied,
)


def _number(value: Any) -> int | float:
    return int(value) if isinstance(value, int) or value == int(value) else float(value)


class _SchemaBuilder:
    """Turns annotations into JSON schemas, collecting nested dataclasses as components."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}

    def schema(self, tp: Any) -> dict[str, Any]:
        base, constraints = split_annotated(tp)
        schema = self._base(base)
        low = next((c for c in reversed(constraints) if isinstance(c, MinLen)), None)
        high = next((c for c in reversed(constraints) if isinstance(c, MaxLen)), None)
        size_keys = {"string": ("minLength", "maxLength"), "array": ("minItems", "maxItems")}
        keys = size_keys.get(schema.get("type", ""), ("minProperties", "maxProperties"))
        if low is not None:
            schema[keys[0]] = low.n
        if high is not None:
            schema[keys[1]] = high.n
        for c in constraints:
            if isinstance(c, Range):
                if c.min is not None:
                    schema["minimum"] = _number(c.min)
                if c.max is not None:
                    schema["maximum"] = _number(c.max)
            elif isinstance(c, Pattern):
                schema["pattern"] = f"^(?:{c.regex})$"
        return schema

    def _base(self, tp: Any) -> dict[str, Any]:
        origin = get_origin(tp)
        if tp is Any:
            return {}
        if tp is str:
            return {"type": "string", "maxLength": DEFAULT_MAX_STRING}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is Decimal:
            return {
                "type": "string",
                "pattern": f"^{DECIMAL_RE.pattern}$",
                "description": 'a decimal number as a string, like "12.50"',
            }
        if tp is datetime:
            return {"type": "string", "format": "date-time"}
        if tp is date:
            return {"type": "string", "format": "date"}
        if origin is Literal:
            choices = list(get_args(tp))
            kinds = sorted({_json_type(c) for c in choices})
            return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": choices}
        if origin in (Union, types.UnionType):
            members = [self.schema(m) for m in get_args(tp) if m is not type(None)]
            if type(None) in get_args(tp):
                members.append({"type": "null"})
            return members[0] if len(members) == 1 else {"oneOf": members}
        if tp is list or origin is list:
            args = get_args(tp)
            return {"type": "array", "items": self.schema(args[0] if args else Any)}
        if tp is dict or origin is dict:
            args = get_args(tp)
            return {"type": "object", "additionalProperties": self.schema(args[1] if args else Any)}
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._ref(tp)
        raise TypeError(f"no JSON schema for {tp!r}")  # pragma: no cover - params.py refuses it

    def _ref(self, cls: type) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.components:
            self.components[name] = {}  # placeholder first: a dataclass may refer to itself
            self.components[name] = self.object_schema(cls)
        return {"$ref": f"#/components/schemas/{name}"}

    def object_schema(self, cls: type) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for pf in param_fields(cls):
            properties[pf.wire] = self.field_schema(pf.annotation, pf.description, pf.default)
            if pf.required:
                required.append(pf.wire)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        doc = (cls.__doc__ or "").strip()
        if doc and not doc.startswith(f"{cls.__name__}("):  # skip dataclass's generated doc
            schema["description"] = doc
        return schema

    def field_schema(self, annotation: Any, description: str, default: Any) -> dict[str, Any]:
        schema = self.schema(annotation)
        if "$ref" in schema and (description or default is not dataclasses.MISSING):
            schema = {"allOf": [schema]}  # siblings of $ref are ignored by JSON schema draft 7
        if description:
            schema["description"] = description
        if default is not dataclasses.MISSING and _jsonable(default):
            schema["default"] = default.isoformat() if isinstance(default, date) else default
        return schema


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string"


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | date)


def _error_object(error: type[RpcError]) -> dict[str, Any]:
    return {"code": error.code, "message": error.name}


def build_openrpc(registry: Registry, *, title: str, version: str) -> dict[str, Any]:
    """The OpenRPC document describing every registered method, params and result."""
    builder = _SchemaBuilder()
    methods: list[dict[str, Any]] = []
    for info in registry:
        params: list[dict[str, Any]] = []
        if info.params_type is not None:
            for pf in param_fields(info.params_type):
                descriptor: dict[str, Any] = {
                    "name": pf.wire,
                    "required": pf.required,
                    "schema": builder.field_schema(pf.annotation, "", pf.default),
                }
                if pf.description:
                    descriptor["description"] = pf.description
                params.append(descriptor)
        method: dict[str, Any] = {
            "name": info.name,
            "paramStructure": "either",
            "params": params,
            "result": {"name": "result", "schema": info.result},
            "errors": [{"$ref": f"#/components/errors/{e.name}"} for e in _APPLICATION_ERRORS],
        }
        if info.summary:
            method["summary"] = info.summary
        if info.description and info.description != info.summary:
            method["description"] = info.description
        methods.append(method)
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": title, "version": version},
        "methods": methods,
        "components": {
            "schemas": builder.components,
            "errors": {e.name: _error_object(e) for e in _APPLICATION_ERRORS},
        },
    }


__all__ = ["OPENRPC_VERSION", "build_openrpc"]
