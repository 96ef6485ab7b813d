"""JSON on the wire: one compact UTF-8 line per message, encoded and decoded by msgspec.

A leaf module (it imports only ``errors`` and ``wire``), so the transport and the dispatcher
share one encoder without importing each other. Money (``Decimal``) goes out as a decimal
string and dates as ISO strings; a float that is not a number (NaN, infinity) is refused
rather than sent as null.
"""

from __future__ import annotations

import json
import math

import msgspec

from .errors import RpcError
from .wire import JSONValue


class NotJson(ValueError):
    """The line is not valid UTF-8 JSON (a parse error, -32700)."""


_decoder = msgspec.json.Decoder(float_hook=float)  # 1e400 is inf, as Python's json reads it
_encoder = msgspec.json.Encoder()


def decode_message(line: bytes) -> JSONValue:
    """The JSON value of one line; ``NotJson`` when it is not valid UTF-8 JSON.

    A lone surrogate escape (``"\\ud800"``) is refused too: no UTF-8 can hold it, and it would
    fail deep inside (SQLite, the log, the TUI).
    """
    try:
        return _decoder.decode(line)  # type: ignore[no-any-return]
    except (msgspec.DecodeError, RecursionError) as exc:
        raise NotJson(str(exc)) from None


def encode_json(value: object) -> bytes:
    """The compact JSON of ``value``; ValueError for what JSON cannot carry."""
    try:
        return _encoder.encode(value)
    except UnicodeEncodeError:
        # a lone surrogate from elsewhere (a provider's name...): escaped, as Python's json does
        return _escaped(value)
    except (TypeError, msgspec.EncodeError) as exc:
        raise ValueError(str(exc)) from None


def _escaped(value: object) -> bytes:
    builtins = msgspec.to_builtins(value)
    return json.dumps(builtins, separators=(",", ":"), allow_nan=False).encode("ascii")


def require_finite(value: object) -> None:
    """ValueError if free-form data holds NaN or an infinity (msgspec would send null)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{item} is not a JSON number")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def encode_message(message: object) -> bytes:
    """One complete message line of free-form data (an event, a notification)."""
    require_finite(message)
    return encode_json(message) + b"\n"


def result_line(request_id: JSONValue, result: bytes) -> bytes:
    """The response line carrying an already encoded ``result``."""
    return b'{"jsonrpc":"2.0","result":' + result + b',"id":' + encode_json(request_id) + b"}\n"


def error_line(request_id: JSONValue, error: RpcError) -> bytes:
    """The response line carrying ``error`` for the request ``request_id``."""
    body = {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}
    return encode_json(body) + b"\n"


__all__ = [
    "NotJson",
    "decode_message",
    "encode_json",
    "encode_message",
    "error_line",
    "require_finite",
    "result_line",
]
