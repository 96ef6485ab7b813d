"""Small shared pieces of the services: timestamps and JSON columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The inverse of :func:`iso` (Python 3.11 reads the trailing ``Z``)."""
    return datetime.fromisoformat(text)


def loads(text: str | None, default: Any = None) -> Any:
    if not text:
        return default
    return json.loads(text)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
