"""The daemon's JSON-RPC 2.0 framework: typed method registry, errors, OpenRPC and the server.

Layers, each importing only those below it (no cycle)::

    server      assembles the three below and serves rpc.discover
    dispatch    JSON-RPC 2.0: requests, batches, notifications, errors, calling handlers
    openrpc     the OpenRPC document of a registry
    registry    method declarations (CallContext, MethodInfo, Registry)
    transport   the Unix socket: framing, back-pressure, in-flight limit, peer check
    unix_socket, codec, params, errors   leaves

Handlers (written elsewhere) import from here::

    from daemon.rpc import CallContext, NotFound, Registry, ValidationFailed
"""

from .codec import encode_message
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
from .registry import CallContext, MethodInfo, Registry
from .server import Server
from .transport import Connection
from .unix_socket import PeerCredentials, SocketInUse, UnsafeSocketPath

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
