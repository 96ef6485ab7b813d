"""The text forms the daemon stores and shows: ISO-8601 UTC timestamps and canonical JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], datetime]
"""What tells the daemon the time (aware, UTC); tests pass a frozen one to the composition root."""


def utc_now() -> datetime:
    return datetime.now(UTC)


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
    """Compact, key-sorted JSON: the same value always gives the same text (and hash)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
