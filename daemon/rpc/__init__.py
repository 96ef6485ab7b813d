"""The daemon's JSON-RPC 2.0 framework: typed method registry, errors, OpenRPC and the server.

Handlers (written elsewhere) import from here::

    from daemon.rpc import CallContext, NotFound, Registry, ValidationFailed
"""

from .errors import (
    AuthorisationRequired,
    Conflict,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MessageTooLarge,
    MethodNotFound,
    NotFound,
    ParseError,
    PermissionDenied,
    ProviderFailure,
    RpcError,
    ValidationFailed,
)
from .openrpc import build_openrpc
from .params import MaxLen, MinLen, Pattern, Range, convert_params, provided_fields
from .registry import CallContext, MethodInfo, PeerCredentials, Registry
from .server import Connection, Server, SocketInUse, UnsafeSocketPath, encode_message

__all__ = [
    "AuthorisationRequired",
    "CallContext",
    "Conflict",
    "Connection",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "MaxLen",
    "MessageTooLarge",
    "MethodInfo",
    "MethodNotFound",
    "MinLen",
    "NotFound",
    "ParseError",
    "Pattern",
    "PeerCredentials",
    "PermissionDenied",
    "ProviderFailure",
    "Range",
    "Registry",
    "RpcError",
    "Server",
    "SocketInUse",
    "UnsafeSocketPath",
    "ValidationFailed",
    "build_openrpc",
    "convert_params",
    "encode_message",
    "provided_fields",
]
