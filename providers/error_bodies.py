"""Reading a provider's error answer: its JSON body, or nothing when it is not JSON.

Error mappers must never crash on an HTML proxy page or a truncated body, so they all decode
the same way and then look for their provider's own shape.
"""

from __future__ import annotations

from typing import Any

import httpx


def json_or_none(response: httpx.Response) -> Any:
    """The decoded JSON body, or ``None`` when the body is not JSON (or not UTF-8)."""
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of the ``{"error": {"code", "message"}}`` shape (OData, MyUnisoft)."""
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""
