"""The byte side of the RPC socket: framing, back-pressure and who may connect.

One ``asyncio.Protocol`` per connection, because the framing rules (CONTRACT.md section 2)
need byte-level control: a line is counted while it arrives (never buffered past
``max_message``), reading pauses while a client has ``max_inflight`` calls running or stops
reading its answers, and every message goes out in one ``transport.write`` so responses and
events never interleave on the wire. Peers are checked with SO_PEERCRED before a single byte
of theirs is read.

What a line *means* is not decided here: each complete line goes to a ``MessageHandler`` (the
JSON-RPC dispatcher), which answers at once (bytes) or with an awaitable ``Reply`` that this
module runs as a task, counting it against the connection's in-flight limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .codec import error_line
from .errors import (
    InternalError,
    MessageTooLarge,
    PermissionDenied,
    RpcError,
    TooManyConnections,
)
from .throttled_log import ThrottledLog
from .unix_socket import (
    UNKNOWN_PEER,
    Inode,
    PeerCredentials,
    bind_unix_socket,
    peer_credentials,
    peer_groups,
    unlink_if_ours,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE = 1024 * 1024
DEFAULT_MAX_WRITE_BUFFER = 16 * 1024 * 1024
"""Answers a client has not read; past this the client is disconnected as a slow reader."""
DEFAULT_MAX_CONNECTIONS = 512
"""Connections in all (the units' LimitNOFILE leaves room for the database and HTTP); when
full, the longest idle connection makes room for a new one, else the new one is refused."""
DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 64
"""Connections from one process: a flood from one client cannot take every slot."""
DEFAULT_IDLE_TIMEOUT = 900.0
"""Seconds a connection may sit with nothing sent, no call running and no event subscription."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a call produced: the line to write (None: nothing to say) and what to run after."""

    line: bytes | None
    after_sent: Callable[[], None] | None = None


Incoming = bytes | Awaitable[Reply] | None
"""A handler's answer to one line: an immediate line, a reply still being worked out, nothing."""


class MessageHandler(Protocol):
    """The protocol layer, as the transport sees it."""

    def receive(self, line: bytes, connection: Connection) -> Incoming: ...


class Connection(asyncio.Protocol):
    """One client. Also the sink the event bus writes to (``send_raw``, ``is_writable``)."""

    _next_id = 0

    def __init__(self, listener: Listener) -> None:
        Connection._next_id += 1
        self.id = Connection._next_id
        self.listener = listener
        self.peer = UNKNOWN_PEER
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
        self.slots = asyncio.Semaphore(listener.max_inflight)
        """One per call running (a single call or a batch member): the in-flight limit."""
        self.last_active = 0.0
        """Event loop time of the last message received or call finished."""
        self._batches = 0

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        listener = self.listener
        try:
            self.peer = peer_credentials(sock)
        except OSError:
            log.warning("could not read the peer credentials of a new connection; refused")
            self._send_final_error(
                PermissionDenied("Permission denied: the daemon cannot identify you.")
            )
            return
        if not listener.is_allowed(self.peer, sock):
            log.warning("refused a connection from uid %d (pid %d)", self.peer.uid, self.peer.pid)
            self._send_final_error(PermissionDenied(listener.refusal_message(self.peer)))
            return
        refusal = listener.admit(self)
        if refusal is not None:
            # No lingering here: under a flood the file descriptor is what must be freed now.
            transport.write(error_line(None, TooManyConnections(refusal)))
            self.close()
            return
        log.debug("connection %d from uid %d pid %d", self.id, self.peer.uid, self.peer.pid)
        self.last_active = asyncio.get_running_loop().time()
        listener.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # also while lingering after a final error: the rest is discarded
        self.last_active = asyncio.get_running_loop().time()
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
        self.listener.connections.discard(self)
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

    @property
    def idle(self) -> bool:
        """Nothing running and nothing depending on it (an event subscription registers a close
        callback): closing it loses nothing."""
        return not self._tasks and not self._close_callbacks and not self._closing

    @property
    def inflight(self) -> int:
        """Calls of this client still running."""
        return len(self._tasks)

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
        transport.write(error_line(None, error))
        self._closing = self._discarding = True
        if self._reading_paused and not self._eof:
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(self.listener.linger, self._linger_over)

    def _linger_over(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.abort()

    def _process_buffer(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            max_message = self.listener.max_message
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
        limit = self.listener.max_message
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
            or self._batches > 0
            or len(self._tasks) >= self.listener.max_inflight
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

    def batch_started(self) -> None:
        """A batch is being answered: read nothing more from this client until it is (one
        batch's answers at a time in memory, not one per call slot)."""
        self._batches += 1
        self._update_reading()

    def batch_finished(self) -> None:
        self._batches -= 1
        self._update_reading()

    def stop_reading_for_shutdown(self) -> None:
        """Read no more requests; close once the calls in flight have answered."""
        self._shutting_down = True
        self._update_reading()
        if not self._tasks:
            self.close()

    # -- handing lines to the protocol layer -----------------------------------------------------

    def _handle_line(self, line: bytes) -> None:
        try:
            incoming = self.listener.handler.receive(line, self)
        except Exception:  # a bug in the protocol layer must not take the connection down
            log.exception("connection %d: a message could not be handled", self.id)
            self.send_raw(error_line(None, InternalError("The daemon could not read the message.")))
            return
        if incoming is None:
            return
        if isinstance(incoming, bytes):
            self.send_raw(incoming)
            return
        # No done callback: the coroutine does its own bookkeeping (``_forget``) at its end,
        # which saves an event loop iteration per call (see benchmarks/bench_rpc_roundtrip.py).
        task = asyncio.get_running_loop().create_task(self._serve(incoming))
        self._tasks.add(task)
        self.listener.tasks.add(task)
        if len(self._tasks) >= self.listener.max_inflight:
            self._update_reading()

    async def _serve(self, pending: Awaitable[Reply]) -> None:
        try:
            reply = await pending
            if reply.line is not None:
                if self.write_buffer_size > self.listener.max_write_buffer:
                    self._drop_slow_reader()
                    return
                self.send_raw(reply.line)
            if reply.after_sent is not None:
                reply.after_sent()
        finally:
            self._forget()

    def _drop_slow_reader(self) -> None:
        """The client lets answers pile up unread: hang up rather than hold them in memory."""
        log.warning(
            "connection %d (pid %d) left %d bytes of answers unread; disconnected",
            self.id,
            self.peer.pid,
            self.write_buffer_size,
        )
        self.abort()

    def _forget(self) -> None:
        self.last_active = asyncio.get_running_loop().time()
        task = asyncio.current_task()
        if task is not None:
            self._tasks.discard(task)
            self.listener.tasks.discard(task)
        if self._shutting_down and not self._tasks:
            self.close()
            return
        self._update_reading()
        self._maybe_finish()


class Listener:
    """Accepts connections on a Unix socket and feeds their lines to ``handler``.

    ``sock`` adopts an already listening socket (systemd socket activation); the listener then
    neither binds nor unlinks the path.
    """

    def __init__(
        self,
        handler: MessageHandler,
        *,
        socket_path: str | os.PathLike[str],
        socket_mode: int = 0o600,
        allowed_gid: int | None = None,
        max_message: int = DEFAULT_MAX_MESSAGE,
        max_inflight: int = 64,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_connections_per_client: int = DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        stop_timeout: float = 10.0,
        linger: float = 2.0,
        sock: socket.socket | None = None,
    ) -> None:
        self.handler = handler
        self.max_write_buffer = max_write_buffer
        self.max_connections = max_connections
        self.max_connections_per_client = max_connections_per_client
        self.idle_timeout = idle_timeout
        self._throttled = ThrottledLog(log)
        self._sweeper: asyncio.Task[None] | None = None
        self.socket_path = os.fspath(socket_path)
        self.socket_mode = socket_mode
        self.allowed_gid = allowed_gid
        self.max_message = max_message
        self.max_inflight = max_inflight
        self.stop_timeout = stop_timeout
        self.linger = linger
        self.connections: set[Connection] = set()
        """The connected, authorised clients."""
        self.tasks: set[asyncio.Task[None]] = set()
        """Every call in flight, on any connection."""
        self._adopted_sock = sock
        self._aserver: asyncio.AbstractServer | None = None
        self._bound_inode: Inode | None = None
        self._stopped: asyncio.Event | None = None

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

    # -- how many, and for how long --------------------------------------------------------------

    def admit(self, conn: Connection) -> str | None:
        """None if ``conn`` may stay (making room if need be), else why not."""
        pid = conn.peer.pid
        if sum(1 for c in self.connections if c.peer.pid == pid) >= self.max_connections_per_client:
            self._throttled.log(
                logging.WARNING,
                f"per-client:{pid}",
                "refused a connection from pid %d: it has %d already",
                pid,
                self.max_connections_per_client,
            )
            return f"Too many connections: one process may hold {self.max_connections_per_client}."
        if len(self.connections) < self.max_connections:
            return None
        idle = [c for c in self.connections if c.idle]
        if not idle:
            self._throttled.log(
                logging.WARNING, "full", "refused a connection: %d are open", len(self.connections)
            )
            return f"Too many connections: the daemon holds {self.max_connections}; try later."
        oldest = min(idle, key=lambda c: c.last_active)
        self._throttled.log(
            logging.INFO, "evicted", "closed idle connection %d to make room", oldest.id
        )
        self.connections.discard(oldest)
        oldest.close()
        return None

    async def _close_idle_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.05, self.idle_timeout / 4))
            cutoff = loop.time() - self.idle_timeout
            for conn in [c for c in self.connections if c.idle and c.last_active <= cutoff]:
                log.debug("connection %d idle for %g s; closed", conn.id, self.idle_timeout)
                conn.close()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._aserver is not None:
            return
        self._stopped = asyncio.Event()
        if self._adopted_sock is not None:
            sock = self._adopted_sock
        else:
            sock, self._bound_inode = bind_unix_socket(
                self.socket_path, self.socket_mode, self.allowed_gid
            )
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
        if self.idle_timeout > 0:
            self._sweeper = loop.create_task(self._close_idle_forever(), name="idle-connections")
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
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._aserver.close()
        self._unlink()
        for conn in list(self.connections):
            conn.stop_reading_for_shutdown()
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
            for task in pending:
                task.cancel()
                self.tasks.discard(task)
            if pending:
                log.warning("%d calls did not finish in %.1f s; cancelled", len(pending), timeout)
                await asyncio.gather(*pending, return_exceptions=True)
        for conn in list(self.connections):
            conn.close()
        await asyncio.sleep(0)
        deadline = asyncio.get_running_loop().time() + 1.0
        while self.connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self.connections):  # clients that never read what we wrote
            conn.abort()
        await self._aserver.wait_closed()
        self._aserver = None
        if self._stopped is not None:
            self._stopped.set()
        log.info("stopped listening on %s", self.socket_path)

    def _unlink(self) -> None:
        if self._bound_inode is not None:
            unlink_if_ours(self.socket_path, self._bound_inode)
            self._bound_inode = None


__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "Connection",
    "Incoming",
    "Listener",
    "MessageHandler",
    "Reply",
]
