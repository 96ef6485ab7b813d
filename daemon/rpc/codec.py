"""JSON on the wire: one compact line per message, and the error line every layer may send.

A leaf module (it imports only ``errors``), so the transport and the dispatcher share one
encoder without importing each other.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .errors import RpcError


def _json_default(value: Any) -> Any:
    """Money and dates have one wire form each: decimal strings and ISO strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_json_default)


def encode_message(message: Any) -> bytes:
    """One compact JSON line (ASCII, so any string is safe inside a line)."""
    return _encoder.encode(message).encode("ascii") + b"\n"


def error_line(request_id: Any, error: RpcError) -> bytes:
    """The response line carrying ``error`` for the request ``request_id``."""
    return encode_message({"jsonrpc": "2.0", "error": error.to_json(), "id": request_id})


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)  # built once: json.loads(...,
# parse_constant=...) would build a decoder per message


class NotJson(ValueError):
    """The line is not valid UTF-8 JSON (a parse error, -32700)."""


def decode_message(line: bytes) -> Any:
    """The JSON value of one line; ``NotJson`` when it is not valid UTF-8 JSON."""
    try:
        message = _decoder.decode(line.decode("utf-8"))
        if (b"\\ud" in line or b"\\uD" in line) and _has_lone_surrogate(message):
            # it would fail deep inside (SQLite, the log, the TUI): refused as not UTF-8 JSON
            raise ValueError("a lone surrogate escape is not Unicode")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotJson(str(exc)) from None
    return message


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


__all__ = ["NotJson", "decode_message", "encode_message", "error_line"]
