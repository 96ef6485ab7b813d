"""JSON schemas of the result shapes, for rpc.discover (CONTRACT.md section 3 "Shapes")."""

from __future__ import annotations

from typing import Any, get_args

from daemon.model import AUTHORISATION_STATUSES, FREQUENCIES, RUN_STATES, RunTrigger


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
DATE = {"type": "string", "format": "date"}
MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$"}
NULLABLE_STR = {"type": ["string", "null"]}
ANY_OBJ = {"type": "object"}

DELETED = obj({"deleted": BOOL}, ["deleted"])
ADMINISTRATION = obj(
    {"id": STR, "number": STR, "name": STR, "currency": STR, "timezone": STR, "access": BOOL},
    ["id", "number", "name", "access"],
)
AUTHORISATION = obj(
    {
        "id": INT,
        "name": STR,
        "provider": STR,
        "status": {"enum": list(AUTHORISATION_STATUSES)},
        "status_message": STR,
        "created_at": STR,
        "configuration_count": INT,
    },
    ["id", "name", "provider", "status", "status_message", "created_at", "configuration_count"],
)
RUN = obj(
    {
        "id": INT,
        "configuration_id": INT,
        "period": STR,
        "trigger": {"enum": list(get_args(RunTrigger))},
        "state": {"enum": list(RUN_STATES)},
        "progress": obj({"stage": STR, "done": INT, "total": {"type": ["integer", "null"]}}),
        "error": NULLABLE_STR,
        "entry_id": {"type": ["integer", "null"]},
        "started_at": NULLABLE_STR,
        "finished_at": NULLABLE_STR,
    },
    ["id", "configuration_id", "period", "trigger", "state", "progress"],
)
CONFIGURATION = obj(
    {
        "id": INT,
        "authorisation_id": INT,
        "administration_id": STR,
        "administration_number": STR,
        "frequency": {"enum": list(FREQUENCIES)},
        "ledger_id": STR,
        "ledger_name": STR,
        "start_date": DATE,
        "end_date": {"type": ["string", "null"], "format": "date"},
        "delay_days": {"type": "integer", "minimum": 0, "maximum": 14},
        "automatic": BOOL,
        "active": BOOL,
        "state": STR,
        "next_due": {"type": ["object", "null"]},
        "last_run": {"type": ["object", "null"]},
    },
    ["id", "authorisation_id", "administration_id", "frequency", "ledger_id", "start_date"],
)
DRAFT_LINE = obj(
    {
        "account": STR,
        "account_name": STR,
        "description": STR,
        "vat_code": NULLABLE_STR,
        "debit": MONEY,
        "credit": MONEY,
    },
    ["account", "description", "debit", "credit"],
)
DRAFT = obj(
    {
        "id": INT,
        "configuration_id": INT,
        "period": STR,
        "date": DATE,
        "narration": STR,
        "lines": array(DRAFT_LINE),
        "totals": obj({"debit": MONEY, "credit": MONEY}),
        "balanced": BOOL,
        "warnings": array(ANY_OBJ),
        "errors": array(ANY_OBJ),
        "sources": ANY_OBJ,
    },
    ["id", "configuration_id", "period", "lines", "totals", "balanced"],
)
ENTRY = obj(
    {
        "id": INT,
        "configuration_id": {"type": ["integer", "null"]},
        "administration_number": STR,
        "period": STR,
        "date": DATE,
        "provider": STR,
        "external_id": STR,
        "total": MONEY,
        "line_count": INT,
        "posted_at": STR,
        "run_id": {"type": ["integer", "null"]},
    },
    ["id", "period", "provider", "external_id", "total"],
)
NOTIFICATION = obj(
    {
        "id": INT,
        "level": STR,
        "title": STR,
        "body": STR,
        "created_at": STR,
        "read": BOOL,
        "link": {"type": ["object", "null"]},
    },
    ["id", "level", "title", "body", "created_at", "read"],
)
