"""The OpenRPC 1.2.6 document (``rpc.discover``), generated from the registry.

Param and result schemas come from the very Structs that convert the params and the results
(msgspec writes the JSON schemas), so the document always says what the server really
accepts and sends. Nested Structs go to ``components.schemas``.
"""

from __future__ import annotations

import msgspec

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
from .registry import AppT, Registry
from .validation import ParamsSpec
from .wire import DECIMAL_MESSAGE, DECIMAL_RE, JSONValue, Money

OPENRPC_VERSION = "1.2.6"
REF_PREFIX = "#/components/schemas/"
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

Schema = dict[str, JSONValue]


def _schema_hook(tp: type) -> Schema:
    if tp is Money:
        return {
            "type": "string",
            "pattern": f"^{DECIMAL_RE.pattern}$",
            "description": DECIMAL_MESSAGE,
        }
    raise NotImplementedError(f"no JSON schema for {tp!r}")


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def _error_object(error: type[RpcError]) -> Schema:
    return {"code": error.code, "message": error.name}


def _inlined(schema: Schema, components: dict[str, Schema]) -> Schema:
    """A schema that is only a reference, replaced by what it refers to (one level), so a
    method's document shows its result's fields at once; deeper references stay."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and len(schema) == 1:
        return dict(components[ref.removeprefix(REF_PREFIX)])
    return schema


def _params(spec: ParamsSpec, schema: Schema) -> list[JSONValue]:
    """OpenRPC param descriptors of a params Struct, in positional order."""
    required = schema.get("required") or []
    properties = schema["properties"]
    assert isinstance(required, list) and isinstance(properties, dict)
    params: list[JSONValue] = []
    for name in spec.wire_names:
        field_schema = properties[name]
        assert isinstance(field_schema, dict)
        field_schema = dict(field_schema)
        descriptor: Schema = {"name": name, "required": name in required}
        description = field_schema.pop("description", None)
        if description:
            descriptor["description"] = description
        descriptor["schema"] = field_schema
        params.append(descriptor)
    return params


def _used_only(components: dict[str, Schema], roots: object) -> dict[str, Schema]:
    """The components ``roots`` refer to, directly or through other components."""

    def names(node: object) -> set[str]:
        return {r.removeprefix(REF_PREFIX) for r in _refs(node) if r.startswith(REF_PREFIX)}

    used: set[str] = set()
    pending = names(roots)
    while pending:
        name = pending.pop()
        used.add(name)
        pending |= names(components[name]) - used
    return {name: schema for name, schema in components.items() if name in used}


def build_openrpc(registry: Registry[AppT], *, title: str, version: str) -> Schema:
    """The OpenRPC document describing every registered method, params and result."""
    infos = list(registry)
    types: list[object] = [info.params.cls for info in infos if info.params is not None]
    types += [info.result for info in infos if info.result is not None]
    refs, components = msgspec.json.schema_components(
        types, schema_hook=_schema_hook, ref_template=REF_PREFIX + "{name}"
    )
    schemas = iter(refs)
    methods: list[Schema] = []
    for info in infos:
        params = (
            [] if info.params is None else _params(info.params, _inlined(next(schemas), components))
        )
        methods.append({"name": info.name, "paramStructure": "either", "params": params})
    for info, method in zip(infos, methods, strict=True):
        result = {} if info.result is None else _inlined(next(schemas), components)
        method["result"] = {"name": "result", "schema": result}
        method["errors"] = [{"$ref": f"#/components/errors/{e.name}"} for e in _APPLICATION_ERRORS]
        if info.summary:
            method["summary"] = info.summary
        if info.description and info.description != info.summary:
            method["description"] = info.description
    listed: list[JSONValue] = [*methods]
    used: Schema = {**_used_only(components, methods)}
    errors: Schema = {e.name: _error_object(e) for e in _APPLICATION_ERRORS}
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": title, "version": version},
        "methods": listed,
        "components": {"schemas": used, "errors": errors},
    }


__all__ = ["OPENRPC_VERSION", "build_openrpc"]
