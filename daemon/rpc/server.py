"""The JSON-RPC 2.0 server on a Unix stream socket (CONTRACT.md section 2).

One ``asyncio.Protocol`` per connection, because the framing rules need byte-level control:
a line is counted while it arrives (never buffered past ``max_message``), reading pauses when a
client has too many calls in flight or stops reading its answers, and every message goes out in
one ``transport.write`` so responses and events never interleave on the wire.

Peers are checked with SO_PEERCRED before a single byte of theirs is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import grp
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from daemon.errors import DaemonError
from providers.errors import ProviderError

from .errors import (
    InternalError,
    InvalidRequest,
    MessageTooLarge,
    MethodNotFound,
    ParseError,
    PermissionDenied,
    ProviderFailure,
    RpcError,
    rpc_error_for,
)
from .openrpc import build_openrpc
from .params import convert_params
from .registry import CallContext, MethodInfo, PeerCredentials, Registry

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE = 1024 * 1024
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux >= 4.13; Python lacks the constant
_MAX_NAME_SHOWN = 80


class SocketInUse(RuntimeError):
    """Another daemon answers on the socket path: two daemons must not share one state."""


class UnsafeSocketPath(RuntimeError):
    """The socket path holds something we must not replace (a symlink, a regular file...)."""


# --- JSON helpers -------------------------------------------------------------------------------


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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)  # built once: json.loads(...,
# parse_constant=...) would build a decoder per message


def _has_lone_surrogate(value: Any) -> bool:
    """A ``\\ud800`` escape decodes to a string UTF-8 cannot hold; it would fail deep inside
    (SQLite, the log, the TUI), so such a message is refused as not valid UTF-8 JSON."""
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


def _error_line(request_id: Any, error: RpcError) -> bytes:
    return encode_message({"jsonrpc": "2.0", "error": error.to_json(), "id": request_id})


def _shown(name: str) -> str:
    return name if len(name) <= _MAX_NAME_SHOWN else name[:_MAX_NAME_SHOWN] + "..."


# --- peer credentials ---------------------------------------------------------------------------


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return PeerCredentials(pid=pid, uid=uid, gid=gid)


def peer_groups(sock: socket.socket, peer: PeerCredentials) -> set[int]:
    """The peer's supplementary groups: as recorded at connect() where the kernel can say.

    Falls back to /proc/<pid>/status (checked against the peer's uid, in case the pid was
    reused) and then to the group database.
    """
    size = 4 * 64
    while size <= 4 * 65536:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size)
            return set(struct.unpack(f"{len(raw) // 4}I", raw))
        except OSError as exc:
            if exc.errno != errno.ERANGE:
                break
            size *= 4
    try:
        with open(f"/proc/{peer.pid}/status", encoding="ascii") as status:
            lines = dict(line.split(":", 1) for line in status if ":" in line)
        if int(lines["Uid"].split()[1]) == peer.uid:
            return {int(g) for g in lines["Groups"].split()}
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        import pwd

        return set(os.getgrouplist(pwd.getpwuid(peer.uid).pw_name, peer.gid))
    except (KeyError, OSError):
        return set()


# --- one client connection ----------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Request:
    id: Any
    method: str
    params: Any
    is_notification: bool


class Connection(asyncio.Protocol):
    """One client. Also the sink the event bus writes to (``send_raw``, ``is_writable``)."""

    _next_id = 0

    def __init__(self, server: Server) -> None:
        Connection._next_id += 1
        self.id = Connection._next_id
        self.server = server
        self.peer = PeerCredentials(pid=0, uid=-1, gid=-1)
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._scan = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._closed = False
        self._eof = False
        self._write_paused = False
        self._reading_paused = False
        self._shutting_down = False
        self._processing = False
        self._discarding = False
        self._close_callbacks: list[Callable[[], None]] = []
        self._drain_callbacks: list[Callable[[], None]] = []

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        try:
            self.peer = peer_credentials(sock)
        except OSError:
            log.warning("could not read the peer credentials of a new connection; refused")
            self._refuse(PermissionDenied("Permission denied: the daemon cannot identify you."))
            return
        if not self.server.is_allowed(self.peer, sock):
            log.warning("refused a connection from uid %d (pid %d)", self.peer.uid, self.peer.pid)
            self._refuse(PermissionDenied(self.server.refusal_message(self.peer)))
            return
        log.debug("connection %d from uid %d pid %d", self.id, self.peer.uid, self.peer.pid)
        self.server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # also while lingering after a final error: the rest is discarded
        self._buf += data
        self._process_buffer()

    def eof_received(self) -> bool:
        if self._discarding:
            return False  # it read our final error and hung up: close now
        # The client shut down its sending side (``printf ... | nc -U``): still answer it.
        self._eof = True
        self._process_buffer()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = self._closing = True
        self._buf.clear()
        self.server._connections.discard(self)
        callbacks, self._close_callbacks = self._close_callbacks, []
        self._drain_callbacks.clear()
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a close callback of connection %d failed", self.id)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()
        for callback in list(self._drain_callbacks):
            if self._write_paused or self._closing:
                break
            try:
                callback()
            except Exception:
                log.exception("a drain callback of connection %d failed", self.id)

    # -- what the event bus and handlers may use -------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the client (bounded by flow control)."""
        transport = self._transport
        return (
            0 if transport is None or transport.is_closing() else transport.get_write_buffer_size()
        )

    def is_writable(self) -> bool:
        """False while the client is not reading fast enough: queue or coalesce, don't write."""
        return not self._write_paused and not self._closing

    def send_raw(self, line: bytes) -> bool:
        """Write one complete, encoded message line; False if the connection is gone."""
        transport = self._transport
        if transport is None or self._closing or transport.is_closing():
            return False
        transport.write(line)
        return True

    def send_notification(self, method: str, params: Any) -> bool:
        return self.send_raw(encode_message({"jsonrpc": "2.0", "method": method, "params": params}))

    def add_close_callback(self, callback: Callable[[], None]) -> None:
        if self._closed:
            callback()
        else:
            self._close_callbacks.append(callback)

    def add_drain_callback(self, callback: Callable[[], None]) -> None:
        self._drain_callbacks.append(callback)

    def remove_drain_callback(self, callback: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._drain_callbacks.remove(callback)

    def close(self) -> None:
        """Close after what is already written has been sent."""
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    # -- framing ---------------------------------------------------------------------------------

    def _refuse(self, error: RpcError) -> None:
        self._send_final_error(error)

    def _send_final_error(self, error: RpcError) -> None:
        """Send one last error, then hang up without losing it on the way.

        Closing a socket that still has unread client data makes the kernel reset the
        connection, and the client may never see the error. So: send the error, send EOF,
        discard whatever the client still sends, and close when it hangs up or after
        ``linger`` seconds.
        """
        transport = self._transport
        self._buf.clear()
        if transport is None or self._closing:
            return
        transport.write(_error_line(None, error))
        self._closing = self._discarding = True
        if self._reading_paused and not self._eof:
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(self.server.linger, self._linger_over)

    def _linger_over(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.abort()

    def _process_buffer(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            max_message = self.server.max_message
            while not self._closing and not self._reading_paused:
                newline = self._buf.find(b"\n", self._scan)
                if newline < 0:
                    if len(self._buf) > max_message:
                        self._too_large()
                        return
                    self._scan = len(self._buf)
                    break
                line = bytes(self._buf[:newline])
                del self._buf[: newline + 1]
                self._scan = 0
                if len(line) > max_message:
                    self._too_large()
                    return
                self._handle_line(line)
            if self._eof and not self._closing and not self._reading_paused:
                if self._buf.strip():
                    line, self._buf = bytes(self._buf), bytearray()
                    self._handle_line(line)
                self._buf.clear()
                self._maybe_finish()
        finally:
            self._processing = False

    def _too_large(self) -> None:
        self._buf.clear()
        limit = self.server.max_message
        log.warning("connection %d sent a message over %d bytes; closing it", self.id, limit)
        error = MessageTooLarge(
            f"The message is larger than {limit} bytes; the daemon closes the connection."
        )
        self._send_final_error(error)

    def _maybe_finish(self) -> None:
        if self._eof and not self._tasks and not self._closing:
            self.close()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        pause = (
            self._write_paused
            or self._shutting_down
            or len(self._tasks) >= self.server.max_inflight
        )
        if pause and not self._reading_paused:
            self._reading_paused = True
            if not self._eof:
                transport.pause_reading()
        elif not pause and self._reading_paused:
            self._reading_paused = False
            if not self._eof:
                transport.resume_reading()
            self._process_buffer()

    def _stop_reading_for_shutdown(self) -> None:
        self._shutting_down = True
        self._update_reading()
        if not self._tasks:
            self.close()

    # -- requests --------------------------------------------------------------------------------

    def _handle_line(self, line: bytes) -> None:
        if not line.strip():
            return  # blank lines are harmless keep-alives from hand-typed sessions
        try:
            message = _decoder.decode(line.decode("utf-8"))
            if (b"\\ud" in line or b"\\uD" in line) and _has_lone_surrogate(message):
                raise ValueError("a lone surrogate escape is not Unicode")
        except (UnicodeDecodeError, ValueError, RecursionError):
            self.send_raw(_error_line(None, ParseError("The message is not valid UTF-8 JSON.")))
            return
        if isinstance(message, list):
            if not message:
                self.send_raw(_error_line(None, InvalidRequest("An empty batch is not a request.")))
                return
            self._spawn(self._serve_batch(message))
            return
        request = _validate(message)
        if isinstance(request, RpcError):
            self.send_raw(_error_line(_echo_id(message), request))
            return
        self._spawn(self._serve_one(request))

    def _spawn(self, coro: Any) -> None:
        # No done callback: the coroutine does its own bookkeeping (``_forget``) at its end,
        # which saves an event loop iteration per call (see benchmarks/bench_rpc_roundtrip.py).
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        self.server._tasks.add(task)
        if len(self._tasks) >= self.server.max_inflight:
            self._update_reading()

    def _forget(self) -> None:
        task = asyncio.current_task()
        self._tasks.discard(task)  # type: ignore[arg-type]
        self.server._tasks.discard(task)  # type: ignore[arg-type]
        if self._shutting_down and not self._tasks:
            self.close()
            return
        self._update_reading()
        self._maybe_finish()

    async def _serve_one(self, request: _Request) -> None:
        try:
            line, ctx = await self._call(request)
            if line is not None:
                self.send_raw(line)
            if ctx is not None:
                _run_after_response(ctx)
        finally:
            self._forget()

    async def _serve_batch(self, items: list[Any]) -> None:
        async def one(item: Any) -> tuple[bytes | None, CallContext | None]:
            request = _validate(item)
            if isinstance(request, RpcError):
                return _error_line(_echo_id(item), request)[:-1], None
            line, ctx = await self._call(request)
            return (line[:-1] if line is not None else None), ctx

        try:
            results = await asyncio.gather(*(one(item) for item in items))
            parts = [line for line, _ in results if line is not None]
            if parts:
                self.send_raw(b"[" + b",".join(parts) + b"]\n")
            for _, ctx in results:
                if ctx is not None:
                    _run_after_response(ctx)
        finally:
            self._forget()

    async def _call(self, request: _Request) -> tuple[bytes | None, CallContext | None]:
        """Run one request; the encoded response line (None for a notification) and context."""
        server = self.server
        info: MethodInfo | None = server.registry.get(request.method)
        ctx: CallContext | None = None
        try:
            if info is None:
                raise MethodNotFound(f"Unknown method '{_shown(request.method)}'.")
            if request.is_notification and not info.notification_ok:
                log.debug("ignored %s sent as a notification", info.name)
                return None, None
            params = convert_params(info.params_type, request.params)
            ctx = CallContext(
                peer=self.peer,
                connection=self,
                app=server.app,
                request_id=request.id,
                method=info.name,
                is_notification=request.is_notification,
            )
            if info.params_type is None:
                result = await info.handler(ctx)
            else:
                result = await info.handler(ctx, params)
            if request.is_notification:
                return None, ctx
            try:
                return encode_message({"jsonrpc": "2.0", "result": result, "id": request.id}), ctx
            except (TypeError, ValueError):
                log.exception("the result of %s cannot be sent as JSON", info.name)
                raise InternalError(_internal_message(info.name)) from None
        except RpcError as error:
            failure = error
        except DaemonError as error:
            failure = rpc_error_for(error)
        except ProviderError as error:
            failure = ProviderFailure.from_provider_error(error)
        except Exception:
            log.exception("%s failed", request.method)
            failure = InternalError(_internal_message(request.method))
        if request.is_notification:
            log.debug("notification %s failed: %s", _shown(request.method), failure.message)
            return None, ctx
        return _error_line(request.id, failure), ctx


def _internal_message(method: str) -> str:
    return (
        f"The daemon hit an internal error while running {_shown(method)}; its log has the details."
    )


def _run_after_response(ctx: CallContext) -> None:
    for callback in ctx._after_response:
        try:
            callback()
        except Exception:
            log.exception("an after-response callback of %s failed", ctx.method)


_ID_TYPES = (str, int, float)


def _echo_id(message: Any) -> Any:
    """The id to answer an invalid request with: its own if readable, else null (spec)."""
    if isinstance(message, dict):
        rid = message.get("id")
        if isinstance(rid, _ID_TYPES) and not isinstance(rid, bool):
            return rid
    return None


def _validate(message: Any) -> _Request | RpcError:
    if not isinstance(message, dict):
        return InvalidRequest("A request must be a JSON object (or an array of them).")
    if message.get("jsonrpc") != "2.0":
        return InvalidRequest('The request must carry "jsonrpc": "2.0".')
    method = message.get("method")
    if not isinstance(method, str) or not method:
        return InvalidRequest('The request needs a "method" string.')
    is_notification = "id" not in message
    rid = message.get("id")
    if (
        not is_notification
        and rid is not None
        and (isinstance(rid, bool) or not isinstance(rid, _ID_TYPES))
    ):
        return InvalidRequest('The "id" must be a string, a number or null.')
    params = message.get("params")
    if params is not None and not isinstance(params, dict | list):
        return InvalidRequest('The "params" must be an object or an array.')
    return _Request(id=rid, method=method, params=params, is_notification=is_notification)


# --- the server ---------------------------------------------------------------------------------


def _default_version() -> str:
    try:
        from importlib.metadata import version

        return version("bexsync")
    except Exception:
        return "0.0.0"


class Server:
    """Serves a ``Registry`` on a Unix socket; ``app`` is handed to every handler as ``ctx.app``.

    ``sock`` adopts an already listening socket (systemd socket activation); the server then
    neither binds nor unlinks the path.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        app: Any,
        socket_path: str | os.PathLike[str],
        socket_mode: int = 0o600,
        allowed_gid: int | None = None,
        max_message: int = DEFAULT_MAX_MESSAGE,
        max_inflight: int = 64,
        stop_timeout: float = 10.0,
        linger: float = 2.0,
        title: str = "bexsyncd",
        version: str | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.registry = registry
        self.app = app
        self.socket_path = os.fspath(socket_path)
        self.socket_mode = socket_mode
        self.allowed_gid = allowed_gid
        self.max_message = max_message
        self.max_inflight = max_inflight
        self.stop_timeout = stop_timeout
        self.linger = linger
        self.title = title
        self.version = version or _default_version()
        self._adopted_sock = sock
        self._aserver: asyncio.AbstractServer | None = None
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._bound_inode: tuple[int, int] | None = None
        self._stopped: asyncio.Event | None = None
        self._openrpc: dict[str, Any] | None = None
        self._openrpc_size = -1
        if "rpc.discover" not in registry:
            registry.add(
                "rpc.discover",
                _discover,
                summary="This API as an OpenRPC document",
                description="Every method with its params and result schemas (OpenRPC 1.2.6).",
                result={"type": "object", "description": "An OpenRPC 1.2.6 document"},
                notification_ok=False,
                _internal=True,
            )

    @property
    def clients(self) -> int:
        """Connected, authorised clients."""
        return len(self._connections)

    @property
    def connections(self) -> list[Connection]:
        """The connected, authorised clients (each has ``peer`` and ``write_buffer_size``)."""
        return list(self._connections)

    def openrpc_document(self) -> dict[str, Any]:
        if self._openrpc is None or self._openrpc_size != len(self.registry):
            self._openrpc = build_openrpc(self.registry, title=self.title, version=self.version)
            self._openrpc_size = len(self.registry)
        return self._openrpc

    # -- access control --------------------------------------------------------------------------

    def is_allowed(self, peer: PeerCredentials, sock: socket.socket) -> bool:
        if peer.uid in (0, os.geteuid()):
            return True
        if self.allowed_gid is None:
            return False
        return peer.gid == self.allowed_gid or self.allowed_gid in peer_groups(sock, peer)

    def refusal_message(self, peer: PeerCredentials) -> str:
        if self.allowed_gid is None:
            return f"Permission denied: uid {peer.uid} may not use this daemon."
        try:
            group = grp.getgrgid(self.allowed_gid).gr_name
        except KeyError:
            group = str(self.allowed_gid)
        return (
            f"Permission denied: uid {peer.uid} may not use this daemon; "
            f"members of the group '{group}' may."
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._aserver is not None:
            return
        self._stopped = asyncio.Event()
        sock = self._adopted_sock or self._bind()
        loop = asyncio.get_running_loop()
        try:
            self._aserver = await loop.create_unix_server(
                lambda: Connection(self), sock=sock, backlog=128
            )
        except BaseException:
            if self._adopted_sock is None:
                sock.close()
                self._unlink()
            raise
        log.info("listening on %s", self.socket_path)

    async def serve_forever(self) -> None:
        await self.start()
        assert self._stopped is not None
        await self._stopped.wait()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let in-flight calls finish (up to ``timeout``), then disconnect."""
        if self._aserver is None:
            return
        timeout = self.stop_timeout if timeout is None else timeout
        self._aserver.close()
        if self._adopted_sock is None:
            self._unlink()
        for conn in list(self._connections):
            conn._stop_reading_for_shutdown()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
                self._tasks.discard(task)
            if pending:
                log.warning("%d calls did not finish in %.1f s; cancelled", len(pending), timeout)
                await asyncio.gather(*pending, return_exceptions=True)
        for conn in list(self._connections):
            conn.close()
        await asyncio.sleep(0)
        deadline = asyncio.get_running_loop().time() + 1.0
        while self._connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self._connections):  # clients that never read what we wrote
            conn.abort()
        await self._aserver.wait_closed()
        self._aserver = None
        if self._stopped is not None:
            self._stopped.set()
        log.info("stopped listening on %s", self.socket_path)

    # -- the socket file -------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        path = self.socket_path
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            dir_mode = 0o700
            if self.socket_mode & 0o070:
                dir_mode |= 0o050
            if self.socket_mode & 0o007:
                dir_mode |= 0o005
            os.makedirs(parent, mode=dir_mode, exist_ok=True)
        self._replace_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o777 & ~self.socket_mode)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise SocketInUse(f"{path} appeared while the daemon was starting.") from None
            raise
        finally:
            os.umask(old_umask)
        st = os.lstat(path)
        if not stat.S_ISSOCK(st.st_mode):  # pragma: no cover - replaced under our feet
            sock.close()
            raise UnsafeSocketPath(f"{path} was replaced while the daemon was starting.")
        if stat.S_IMODE(st.st_mode) != self.socket_mode:
            os.chmod(path, self.socket_mode)
        self._bound_inode = (st.st_dev, st.st_ino)
        return sock

    @staticmethod
    def _replace_stale(path: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeSocketPath(
                f"{path} is a symbolic link; the daemon will not follow it. "
                "Remove it or choose another socket path."
            )
        if not stat.S_ISSOCK(st.st_mode):
            raise UnsafeSocketPath(
                f"{path} exists and is not a socket; the daemon will not replace it."
            )
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            log.info("removing the stale socket %s", path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        except OSError as exc:
            raise SocketInUse(
                f"Cannot tell whether a daemon listens on {path} ({exc.strerror}); "
                "not replacing it."
            ) from None
        finally:
            probe.close()
        raise SocketInUse(
            f"Another daemon is already listening on {path}; stop it first or use another socket."
        )

    def _unlink(self) -> None:
        """Remove our socket file, but not one a newer daemon has put at the same path."""
        if self._bound_inode is None:
            return
        try:
            st = os.lstat(self.socket_path)
            if (st.st_dev, st.st_ino) == self._bound_inode:
                os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        self._bound_inode = None


async def _discover(ctx: CallContext) -> dict[str, Any]:
    """This API as an OpenRPC 1.2.6 document."""
    return ctx.connection.server.openrpc_document()


__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "Connection",
    "Server",
    "SocketInUse",
    "UnsafeSocketPath",
    "encode_message",
    "peer_credentials",
    "peer_groups",
]
