"""The JSON-RPC server: a registry's methods, dispatched (``dispatch``) over a Unix socket
(``transport``), with ``rpc.discover`` describing them (``openrpc``).

This module only assembles the three; each can be read (and tested) without the others.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated, Generic

from .dispatch import DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH_REPLY, Dispatcher
from .openrpc import build_openrpc
from .registry import AppT, CallContext, Registry
from .transport import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    DEFAULT_MAX_MESSAGE,
    DEFAULT_MAX_WRITE_BUFFER,
    Connection,
    Listener,
)
from .wire import JSONValue, Meta

OpenRpcDocument = Annotated[dict[str, JSONValue], Meta(description="An OpenRPC 1.2.6 document")]


def _default_version() -> str:
    try:
        from importlib.metadata import version

        return version("bexsync")
    except Exception:
        return "0.0.0"


class Server(Generic[AppT]):
    """Serves a ``Registry`` on a Unix socket; ``app`` is handed to every handler as ``ctx.app``.

    ``sock`` adopts an already listening socket (systemd socket activation); the server then
    neither binds nor unlinks the path.
    """

    def __init__(
        self,
        registry: Registry[AppT],
        *,
        app: AppT,
        socket_path: str | os.PathLike[str],
        socket_mode: int = 0o600,
        allowed_gid: int | None = None,
        max_message: int = DEFAULT_MAX_MESSAGE,
        max_inflight: int = 64,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_batch_reply: int = DEFAULT_MAX_BATCH_REPLY,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_connections_per_client: int = DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        stop_timeout: float = 10.0,
        linger: float = 2.0,
        title: str = "bexsyncd",
        version: str | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.registry = registry
        self.app = app
        self.title = title
        self.version = version or _default_version()
        self._openrpc: dict[str, JSONValue] | None = None
        self._openrpc_size = -1
        if "rpc.discover" not in registry:
            registry.add(
                "rpc.discover",
                self._discover,
                summary="This API as an OpenRPC document",
                description="Every method with its params and result schemas (OpenRPC 1.2.6).",
                result=OpenRpcDocument,
                notification_ok=False,
                _internal=True,
            )
        self.dispatcher = Dispatcher(
            registry, app, max_batch=max_batch, max_batch_reply=max_batch_reply
        )
        self.listener = Listener(
            self.dispatcher,
            socket_path=socket_path,
            socket_mode=socket_mode,
            allowed_gid=allowed_gid,
            max_message=max_message,
            max_inflight=max_inflight,
            max_write_buffer=max_write_buffer,
            max_connections=max_connections,
            max_connections_per_client=max_connections_per_client,
            idle_timeout=idle_timeout,
            stop_timeout=stop_timeout,
            linger=linger,
            sock=sock,
        )

    @property
    def socket_path(self) -> str:
        return self.listener.socket_path

    @property
    def max_message(self) -> int:
        return self.listener.max_message

    @property
    def clients(self) -> int:
        """Connected, authorised clients."""
        return len(self.listener.connections)

    @property
    def connections(self) -> list[Connection]:
        """The connected, authorised clients (each has ``peer`` and ``write_buffer_size``)."""
        return list(self.listener.connections)

    def openrpc_document(self) -> dict[str, JSONValue]:
        if self._openrpc is None or self._openrpc_size != len(self.registry):
            self._openrpc = build_openrpc(self.registry, title=self.title, version=self.version)
            self._openrpc_size = len(self.registry)
        return self._openrpc

    async def _discover(self, ctx: CallContext[AppT]) -> dict[str, JSONValue]:
        """This API as an OpenRPC 1.2.6 document."""
        return self.openrpc_document()

    async def start(self) -> None:
        await self.listener.start()

    async def serve_forever(self) -> None:
        await self.listener.serve_forever()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let in-flight calls finish (up to ``timeout``), then disconnect."""
        await self.listener.stop(timeout)


__all__ = ["Server"]
