"""The daemon's JSON-RPC 2.0 framework: typed method registry, errors, OpenRPC and the server.

Layers, each importing only those below it (no cycle)::

    server      assembles the three below and serves rpc.discover
    dispatch    JSON-RPC 2.0: requests, batches, notifications, errors, calling handlers
    openrpc     the OpenRPC document of a registry
    registry    method declarations (CallContext, MethodInfo, Registry)
    transport   the Unix socket: framing, back-pressure, in-flight limit, peer check
    validation  JSON params -> Struct, every error at once
    wire        the schema vocabulary: Params, Result, Text, Int64, Money, JSONValue...
    unix_socket, codec, errors   leaves

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
from .registry import CallContext, MethodInfo, Registry
from .server import Server
from .transport import Connection
from .unix_socket import PeerCredentials, SocketInUse, UnsafeSocketPath
from .validation import decode_params
from .wire import (
    UNSET,
    Int64,
    JSONObject,
    JSONValue,
    Meta,
    Money,
    MoneyText,
    Params,
    Result,
    Text,
    UnsetType,
    pattern,
    provided,
)

__all__ = [
    "UNSET",
    "AuthorisationRequired",
    "CallContext",
    "Conflict",
    "Connection",
    "Int64",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "JSONObject",
    "JSONValue",
    "MessageTooLarge",
    "Meta",
    "MethodInfo",
    "MethodNotFound",
    "Money",
    "MoneyText",
    "NotFound",
    "Params",
    "ParseError",
    "PeerCredentials",
    "PermissionDenied",
    "ProviderFailure",
    "Registry",
    "Result",
    "RpcError",
    "Server",
    "SocketInUse",
    "Text",
    "UnsafeSocketPath",
    "UnsetType",
    "ValidationFailed",
    "build_openrpc",
    "decode_params",
    "encode_message",
    "pattern",
    "provided",
]
