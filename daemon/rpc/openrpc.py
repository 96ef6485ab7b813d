"""The OpenRPC 1.2.6 document (``rpc.discover``), generated from the registry.

Param and result schemas come from the very Structs that convert the params and the results
(msgspec writes the JSON schemas), so the document always says what the server really
accepts and sends. Nested Structs go to ``components.schemas``.
"""

from __future__ import annotations

from typing import Any

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
from .registry import Registry
from .wire import DECIMAL_MESSAGE, DECIMAL_RE, Money

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

Schema = dict[str, Any]


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


def _error_object(error: type[RpcError]) -> dict[str, Any]:
    return {"code": error.code, "message": error.name}


def build_openrpc(registry: Registry, *, title: str, version: str) -> dict[str, Any]:
    """The OpenRPC document describing every registered method, params and result."""
    methods_info = list(registry)
    params_types = [info.params.cls for info in methods_info if info.params is not None]
    params_refs, components = msgspec.json.schema_components(
        params_types, schema_hook=_schema_hook, ref_template=REF_PREFIX + "{name}"
    )
    params_components = {ref["$ref"].removeprefix(REF_PREFIX) for ref in params_refs}
    by_type = dict(zip(params_types, params_refs, strict=True))
    methods: list[dict[str, Any]] = []
    for info in methods_info:
        params: list[dict[str, Any]] = []
        if info.params is not None:
            component = components[by_type[info.params.cls]["$ref"].removeprefix(REF_PREFIX)]
            required = set(component.get("required", ()))
            for name in info.params.wire_names:
                schema = dict(component["properties"][name])
                descriptor: dict[str, Any] = {"name": name, "required": name in required}
                description = schema.pop("description", None)
                if description:
                    descriptor["description"] = description
                descriptor["schema"] = schema
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
    # A params Struct is described by its method's params; keep it only if something refers to it.
    used = _refs(methods) | _refs(components)
    for name in params_components:
        if REF_PREFIX + name not in used:
            del components[name]
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": title, "version": version},
        "methods": methods,
        "components": {
            "schemas": components,
            "errors": {e.name: _error_object(e) for e in _APPLICATION_ERRORS},
        },
    }


__all__ = ["OPENRPC_VERSION", "build_openrpc"]
