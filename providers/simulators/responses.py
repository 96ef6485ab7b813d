"""Simulator answers with amounts as exact JSON numbers, as the real APIs send them."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from providers.wire import dumps_decimal


def decimal_json(
    doc: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = "application/json",
) -> Response:
    """A JSON response whose ``Decimal`` amounts are written digit for digit (no float)."""
    return Response(dumps_decimal(doc), status_code=status, media_type=media_type, headers=headers)
