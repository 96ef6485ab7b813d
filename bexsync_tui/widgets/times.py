"""Timestamps as a user reads them: in this computer's local time, always with the year.

The daemon sends UTC (ISO 8601); a bookkeeper thinks in local time, and a period a year old
must not look like this year's ("due 10-04 00:00").
"""

from __future__ import annotations

from datetime import UTC, datetime


def local_time(value: object, *, seconds: bool = False) -> str:
    """``2025-04-06 02:00`` (local) for a UTC ISO timestamp; the text unchanged if it is not one."""
    text = str(value or "")
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_zone() -> str:
    """This computer's time zone's short name (``CET``), to say once what the times are in."""
    return datetime.now().astimezone().tzname() or "local time"
