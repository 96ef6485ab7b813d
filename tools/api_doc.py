"""docs/API.md from ``rpc.discover``: the daemon's JSON-RPC API as the server describes it.

``make api-doc`` writes it; ``tests/test_api_doc.py`` fails when it is stale. The document is
built from the registry the daemon serves (``daemon.api.build_registry`` plus the event
methods), through the same ``build_openrpc`` that answers ``rpc.discover``, so it says exactly
what the server accepts and sends. ``--check`` exits 1 when the file differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "API.md"
REF = "#/components/schemas/"
INT64 = (-(2**63), 2**63 - 1)

HEADER = """\
# The bexsync daemon's API

Generated from `rpc.discover` by `make api-doc` (tools/api_doc.py); do not edit by hand, a test
fails when this file is stale. JSON-RPC 2.0 over the daemon's Unix socket (`bexsync --socket`,
else `$BEXSYNC_SOCKET`, else `$RUNTIME_DIRECTORY/bexsyncd.sock`, else `bexsyncd.sock` in the
user runtime dir), one JSON message a line. Params are by name (an object) or by position (an
array, in the order listed). Money is a decimal string (`"12.50"`). Try any method with
`bexsync call METHOD '{"param": value}'`; `bexsync call rpc.discover` prints the OpenRPC
document this page is made from.

Every method may answer one of the errors listed under [Errors](#errors); `data.name` names it
and `data.errors` lists field problems (`{field, message}`) when a param was refused.
"""


def discover() -> dict[str, Any]:
    """The OpenRPC document the daemon serves (its version fixed, so the page is stable)."""
    from daemon.api import build_registry
    from daemon.events import EventBus, register_event_methods
    from daemon.rpc.openrpc import build_openrpc
    from daemon.status import API_VERSION

    registry = build_registry()
    register_event_methods(registry, EventBus())
    return build_openrpc(registry, title="bexsyncd", version=API_VERSION)


def error_meanings() -> dict[str, str]:
    """Each error's ``data.name`` and the sentence it stands for."""
    from daemon.rpc import errors

    found = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.RpcError):
            found[value.name] = value.default_message
    return found


def default(schema: dict[str, Any]) -> str:
    return f" (default `{json.dumps(schema['default'])}`)" if "default" in schema else ""


def type_of(schema: dict[str, Any]) -> str:
    """A schema in a few words: ``integer``, ``string (YYYY-MM)``, ``[Run](#run) list``."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(REF)
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        kinds = [type_of(s) for s in schema["anyOf"]]
        return " or ".join(dict.fromkeys(kinds))
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object" and "properties" not in schema:
        extra = schema.get("additionalProperties")
        return f"object of {type_of(extra)}" if isinstance(extra, dict) and extra else "object"
    if kind == "object":
        return "object"
    text = str(kind or "any")
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low, high) != INT64 and (low is not None or high is not None):
        text += f" {'' if low is None else low}..{'' if high is None else high}"
    if "minLength" in schema or "maxLength" in schema:
        text += f" ({schema.get('minLength', 0)}..{schema.get('maxLength', '')} chars)"
    if "pattern" in schema and "description" not in schema:
        text += f" matching `{schema['pattern']}`"
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def fields(schema: dict[str, Any]) -> list[str]:
    """An object's fields as table rows: name, type, required, description."""
    required = set(schema.get("required", []))
    rows = []
    for name, sub in schema.get("properties", {}).items():
        rows.append(
            f"| `{name}` | {cell(type_of(sub))} | {'yes' if name in required else 'no'} | "
            f"{cell(sub.get('description', ''))}{default(sub)} |"
        )
    return rows


def method_section(method: dict[str, Any]) -> list[str]:
    lines = [f"### {method['name']}", ""]
    if method.get("summary"):
        lines += [cell(method["summary"]) + ".", ""]
    if method.get("description"):
        lines += [str(method["description"]), ""]
    params = method.get("params", [])
    if params:
        lines += ["| Param | Type | Required | About |", "|---|---|---|---|"]
        for param in params:
            schema = param.get("schema", {})
            about = param.get("description") or schema.get("description", "")
            lines.append(
                f"| `{param['name']}` | {cell(type_of(schema))} | "
                f"{'yes' if param.get('required') else 'no'} | {cell(about)}{default(schema)} |"
            )
        lines.append("")
    else:
        lines += ["No params.", ""]
    result = method.get("result", {}).get("schema", {})
    if result.get("type") == "object" and "properties" in result:
        title = result.get("title", "object")
        lines += [f"Result: {title}", "", "| Field | Type | Always | About |", "|---|---|---|---|"]
        lines += [*fields(result), ""]
    else:
        lines += [f"Result: {type_of(result) if result else 'null'}", ""]
    return lines


def render(document: dict[str, Any]) -> str:
    methods = sorted(document["methods"], key=lambda m: str(m["name"]))
    groups: dict[str, list[dict[str, Any]]] = {}
    for method in methods:
        groups.setdefault(str(method["name"]).split(".")[0], []).append(method)
    lines = [HEADER, f"API version {document['info']['version']}.", "", "## Methods", ""]
    for group, members in groups.items():
        names = ", ".join(f"[{m['name']}](#{str(m['name']).replace('.', '')})" for m in members)
        lines.append(f"- **{group}**: {names}")
    lines.append("")
    for group, members in groups.items():
        lines += [f"## {group}", ""]
        for method in members:
            lines += method_section(method)
    lines += ["## Types", ""]
    for name, schema in sorted(document["components"]["schemas"].items()):
        lines += [f"### {name}", ""]
        if schema.get("description"):
            lines += [cell(schema["description"]), ""]
        if "properties" in schema:
            lines += ["| Field | Type | Always | About |", "|---|---|---|---|"]
            lines += [*fields(schema), ""]
        else:
            lines += [type_of(schema), ""]
    lines += ["## Errors", "", "| Code | `data.name` | Meaning |", "|---|---|---|"]
    meanings = error_meanings()
    for name, error in document["components"]["errors"].items():
        meaning = meanings.get(name, error.get("message", ""))
        lines.append(f"| {error['code']} | `{name}` | {cell(meaning)} |")
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/API.md is stale")
    args = parser.parse_args()
    text = render(discover())
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print("docs/API.md is stale: run `make api-doc`", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
