"""JSON-RPC 2.0 client for the bexsyncd Unix socket, shared by the TUI and the CLI.

It speaks only the wire protocol (docs/API.md) and must never import ``daemon``.

- ``Client``: one connection; ``call``/``notify``/``subscribe`` and an event stream.
- ``ReconnectingClient``: survives daemon restarts: reconnects with backoff, re-sends
  ``daemon.hello``, re-subscribes and puts the fresh snapshot into its event stream, and exposes
  a connection state (connecting / connected / reconnecting / down) for the TUI to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import logging
import os
import random
import warnings
from collections.abc import Callable
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

SOCKET_NAME = "bexsyncd.sock"
READ_LIMIT = 64 * 1024 * 1024
"""Largest answer line accepted (a big ``entries.list``): far above any sane result."""
EVENT_BUFFER = 10_000
"""Events kept for a consumer that is not iterating; the oldest go first."""

STATE_TOPIC = "client.state"
"""Synthetic event from ReconnectingClient: ``{"state", "error"}`` when the state changes."""
SNAPSHOT_TOPIC = "client.snapshot"
"""Synthetic event from ReconnectingClient: ``{"topics", "snapshot", "instance_id",
"restarted"}``, in stream order: the events after it apply on top of this snapshot."""
LOST_TOPIC = "events.lost"


def default_socket_path() -> str:
    """$BEXSYNC_SOCKET, else $RUNTIME_DIRECTORY/bexsyncd.sock, else the user runtime dir."""
    explicit = os.environ.get("BEXSYNC_SOCKET")
    if explicit:
        return explicit
    runtime = os.environ.get("RUNTIME_DIRECTORY")
    if runtime:
        # systemd joins several RuntimeDirectory= entries with ':'; ours is the first
        return os.path.join(runtime.split(":")[0], SOCKET_NAME)
    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: its /tmp fallback, said once
        warnings.simplefilter("ignore")  # by the "no daemon" line naming the path, not twice
        runtime = platformdirs.user_runtime_dir("bexsync")
    return os.path.join(runtime, SOCKET_NAME)


class DaemonUnavailable(ConnectionError):
    """No daemon answers on the socket (missing, refused, or the connection closed);
    ``reason``, when known, says why in a few words ("no such socket; ...")."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class RpcCallError(Exception):
    """The daemon answered with a JSON-RPC error; ``name`` is the stable ``data.name``."""

    def __init__(self, code: int, name: str, message: str, data: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message
        self.data = data or {}

    @classmethod
    def from_error(cls, error: Any) -> RpcCallError:
        if not isinstance(error, dict):
            return cls(-32603, "InternalError", "The daemon sent a malformed error.", {})
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else -32603
        return cls(code, str(data.get("name", "")), str(error.get("message", "")), data)

    def to_json(self) -> dict[str, Any]:
        """The error object as the daemon sent it (``bexsync call`` prints this)."""
        return {
            "code": self.code,
            "message": self.message,
            "data": {**self.data, "name": self.name},
        }

    def __repr__(self) -> str:
        return f"RpcCallError({self.code}, {self.name!r}, {self.message!r})"


_END: Any = object()


class EventStream:
    """One consumer's events: ``async for topic, data in stream``; bounded, oldest dropped first.

    It is registered when ``events()`` returns it, not when iteration starts, so a consumer can
    take its stream, then connect or subscribe, and miss nothing emitted in between. ``close()``
    (or leaving ``async with``) unregisters it; the end of the source ends the iteration.
    """

    def __init__(self, streams: set[EventStream], size: int) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.size = size
        self._streams = streams
        self._closed = False
        streams.add(self)

    def put(self, item: Any) -> None:
        if item is not _END and self.queue.qsize() >= self.size:
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(item)

    def end(self) -> None:
        """The source is gone: iteration ends once what is queued has been read."""
        self.put(_END)

    def close(self) -> None:
        self._closed = True
        self._streams.discard(self)

    async def aclose(self) -> None:
        self.close()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> tuple[str, dict[str, Any]]:
        if self._closed:
            raise StopAsyncIteration
        item = await self.queue.get()
        if item is _END:
            self.close()
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


def _describe(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such socket; is bexsyncd running?"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused; bexsyncd is not running"
    if isinstance(exc, PermissionError):
        return "permission denied on the socket; ask for access to the daemon's group"
    return exc.strerror or str(exc)


class Client:
    """One connection to the daemon."""

    def __init__(self, *, read_limit: int = READ_LIMIT, event_buffer: int = EVENT_BUFFER) -> None:
        self._read_limit = read_limit
        self._event_buffer = event_buffer
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._on_result: dict[int, Callable[[Any], None]] = {}
        self._ids = itertools.count(1)
        self._queues: set[EventStream] = set()
        self._callbacks: list[Callable[[str, dict[str, Any]], None]] = []
        self._closed = asyncio.Event()
        self._fatal: RpcCallError | None = None
        self.socket_path: str | None = None

    # -- connection ------------------------------------------------------------------------------

    async def connect(self, socket_path: str | os.PathLike[str] | None = None) -> Client:
        path = os.fspath(socket_path) if socket_path is not None else default_socket_path()
        self.socket_path = path
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=self._read_limit)
        except OSError as exc:
            reason = _describe(exc)
            raise DaemonUnavailable(f"No daemon answers at {path}: {reason}", reason) from None
        self._reader, self._writer = reader, writer
        self._closed.clear()
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())
        return self

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._closed.is_set()

    async def wait_closed(self) -> None:
        """Return once the connection is gone (the daemon stopped, or ``close()``)."""
        await self._closed.wait()

    def close(self) -> None:
        """Close the connection; pending calls fail with DaemonUnavailable."""
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None and not self._reader_task.done():
            self._reader_task.cancel()
        self._finish()

    async def aclose(self) -> None:
        self.close()
        if self._reader_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def __aenter__(self) -> Client:
        if not self.connected:
            await self.connect(self.socket_path)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- calls -----------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: Any = None,
        *,
        timeout: float | None = None,
        on_result: Callable[[Any], None] | None = None,
    ) -> Any:
        """Call ``method`` and return its result.

        Raises ``RpcCallError`` for an error answer, ``DaemonUnavailable`` when the connection is
        or goes away, ``TimeoutError`` after ``timeout`` seconds. ``on_result`` runs in stream
        order, before any later message of the daemon is handled.
        """
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        if on_result is not None:
            self._on_result[request_id] = on_result
        try:
            await self._send(message)
            async with asyncio.timeout(timeout):  # None: no limit
                return await future
        finally:
            self._pending.pop(request_id, None)
            self._on_result.pop(request_id, None)

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification: the daemon runs it and answers nothing."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def subscribe(
        self, topics: list[str] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Subscribe to events (all topics when None) and return the daemon's snapshot."""
        params = {} if topics is None else {"topics": list(topics)}
        result = await self.call("events.subscribe", params, timeout=timeout)
        return result["snapshot"]

    async def unsubscribe(self, topics: list[str] | None = None) -> list[str]:
        params = {} if topics is None else {"topics": list(topics)}
        result = await self.call("events.unsubscribe", params)
        return result["topics"]

    # -- events ----------------------------------------------------------------------------------

    def on_event(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``callback(topic, data)`` for each event, from the reading task (keep it short)."""
        self._callbacks.append(callback)

    def events(self) -> EventStream:
        """``async for topic, data in client.events()``; ends when the connection closes.

        The stream receives every event from this call on, iterated or not yet.
        """
        stream = EventStream(self._queues, self._event_buffer)
        if self._closed.is_set():
            stream.end()
        return stream

    # -- internals -------------------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        writer = self._writer
        if writer is None or self._closed.is_set():
            raise self._unavailable()
        line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        try:
            writer.write(line)
            await writer.drain()
        except (ConnectionError, OSError):
            self.close()
            raise self._unavailable() from None

    def _unavailable(self) -> Exception:
        if self._fatal is not None:
            return self._fatal
        return DaemonUnavailable(f"The connection to the daemon at {self.socket_path} closed.")

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                if line.strip():
                    self._dispatch(line)
        except (ConnectionError, OSError):
            pass
        except ValueError:
            log.error("the daemon sent a line over %d bytes; disconnecting", self._read_limit)
        finally:
            if self._writer is not None:
                self._writer.close()
            self._finish()

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            log.warning("ignored a malformed line from the daemon")
            return
        for item in message if isinstance(message, list) else [message]:
            if isinstance(item, dict):
                self._dispatch_one(item)

    def _dispatch_one(self, message: dict[str, Any]) -> None:
        if "method" in message:
            if message["method"] == "event" and isinstance(message.get("params"), dict):
                topic = message["params"].get("topic")
                data = message["params"].get("data")
                if isinstance(topic, str):
                    self._deliver(topic, data if isinstance(data, dict) else {})
            return
        request_id = message.get("id")
        if request_id is None:
            if "error" in message:  # PermissionDenied or MessageTooLarge: the daemon will close
                self._fatal = RpcCallError.from_error(message["error"])
                log.debug("daemon error without id: %s", self._fatal.message)
            return
        future = self._pending.get(request_id)
        if future is None or future.done():
            return
        if "error" in message:
            future.set_exception(RpcCallError.from_error(message["error"]))
            return
        result = message.get("result")
        callback = self._on_result.get(request_id)
        if callback is not None:
            try:
                callback(result)
            except Exception:
                log.exception("an on_result callback failed")
        future.set_result(result)

    def _deliver(self, topic: str, data: dict[str, Any]) -> None:
        for callback in list(self._callbacks):
            try:
                callback(topic, data)
            except Exception:
                log.exception("an event callback failed")
        for queue in list(self._queues):
            queue.put((topic, data))

    def _finish(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        error = self._unavailable()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        for queue in list(self._queues):
            queue.end()


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DOWN = "down"


class ReconnectingClient:
    """A client that outlives daemon restarts; made for the TUI.

    Its ``events()`` stream never ends before ``close()`` and carries, besides the daemon's
    events, ``client.state`` on every state change and ``client.snapshot`` after every
    (re)subscription, in stream order, so a consumer rebuilds its view from the snapshot and
    applies the events after it.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        client_name: str = "bexsync",
        client_version: str = "",
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        call_timeout: float = 30.0,
        event_buffer: int = EVENT_BUFFER,
    ) -> None:
        self.socket_path = os.fspath(socket_path) if socket_path is not None else None
        self.client_name = client_name
        self.client_version = client_version
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.call_timeout = call_timeout
        self.state = ConnectionState.DOWN
        self.error: str | None = None
        self.hello: dict[str, Any] | None = None
        self._event_buffer = event_buffer
        self._client: Client | None = None
        self._topics: list[str] | None = None
        self._subscribed = False
        self._queues: set[EventStream] = set()
        self._listeners: list[Callable[[ConnectionState], None]] = []
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._resubscribing = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, *, wait: float | None = None) -> None:
        """Start connecting in the background; with ``wait``, wait that long for the first
        connection and raise DaemonUnavailable if it does not come."""
        if self._task is None:
            self._closing = False
            self._set_state(ConnectionState.CONNECTING)
            self._task = asyncio.get_running_loop().create_task(self._supervise())
        if wait is not None:
            await self.wait_connected(wait)

    async def wait_connected(self, timeout: float | None = None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise DaemonUnavailable(self.error or "No daemon answered in time.") from None

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._connected.clear()
        self._set_state(ConnectionState.DOWN)
        for queue in list(self._queues):
            queue.end()

    def add_state_listener(self, callback: Callable[[ConnectionState], None]) -> None:
        self._listeners.append(callback)

    @property
    def instance_id(self) -> str | None:
        return (self.hello or {}).get("instance_id")

    # -- calls -----------------------------------------------------------------------------------

    def _current(self) -> Client:
        client = self._client
        if client is None or not client.connected:
            raise DaemonUnavailable(self.error or "Not connected to the daemon; reconnecting.")
        return client

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Like Client.call; raises DaemonUnavailable at once while not connected."""
        return await self._current().call(method, params, timeout=timeout)

    async def notify(self, method: str, params: Any = None) -> None:
        await self._current().notify(method, params)

    async def subscribe(self, topics: list[str] | None = None) -> dict[str, Any]:
        """Subscribe (remembered across reconnects); the snapshot is returned and also put
        into the event stream as ``client.snapshot``."""
        self._topics = None if topics is None else list(topics)
        self._subscribed = True
        return await self._subscribe_on(self._current(), restarted=False)

    async def unsubscribe(self) -> None:
        self._subscribed = False
        await self._current().unsubscribe(None)

    def events(self) -> EventStream:
        """The stream of events, ``client.state`` and ``client.snapshot``, from this call on:
        take it before ``start()`` to see the first state and snapshot."""
        stream = EventStream(self._queues, self._event_buffer)
        if self._closing and self._task is None:
            stream.end()
        return stream

    # -- internals -------------------------------------------------------------------------------

    def _emit(self, topic: str, data: dict[str, Any]) -> None:
        for queue in list(self._queues):
            queue.put((topic, data))

    def _set_state(self, state: ConnectionState) -> None:
        if state == self.state:
            return
        self.state = state
        self._emit(STATE_TOPIC, {"state": state.value, "error": self.error})
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("a connection state listener failed")

    async def _subscribe_on(self, client: Client, *, restarted: bool) -> dict[str, Any]:
        params = {} if self._topics is None else {"topics": self._topics}

        def in_order(result: Any) -> None:  # runs before any event that follows the answer
            self._emit(
                SNAPSHOT_TOPIC,
                {
                    "topics": result.get("topics"),
                    "snapshot": result.get("snapshot"),
                    "instance_id": self.instance_id,
                    "restarted": restarted,
                },
            )

        result = await client.call(
            "events.subscribe", params, timeout=self.call_timeout, on_result=in_order
        )
        return result["snapshot"]

    def _on_event(self, topic: str, data: dict[str, Any]) -> None:
        self._emit(topic, data)
        if topic == LOST_TOPIC and self._subscribed and not self._resubscribing:
            # the daemon dropped events for us: start again from a fresh snapshot
            client = self._client
            if client is not None:
                self._resubscribing = True
                asyncio.get_running_loop().create_task(self._resubscribe(client))

    async def _resubscribe(self, client: Client) -> None:
        try:
            await self._subscribe_on(client, restarted=False)
        except (DaemonUnavailable, RpcCallError, TimeoutError):
            pass  # the supervisor handles a lost connection
        finally:
            self._resubscribing = False

    async def _connect_once(self) -> Client:
        client = Client(event_buffer=self._event_buffer)
        await client.connect(self.socket_path)
        try:
            previous = self.instance_id
            try:
                self.hello = await client.call(
                    "daemon.hello",
                    {"client": self.client_name, "version": self.client_version},
                    timeout=self.call_timeout,
                )
            except RpcCallError as exc:
                if exc.code != -32601:
                    raise
                self.hello = None
            client.on_event(self._on_event)
            if self._subscribed:
                restarted = previous is not None and previous != self.instance_id
                await self._subscribe_on(client, restarted=restarted)
        except BaseException:
            await client.aclose()
            raise
        return client

    async def _supervise(self) -> None:
        delay = self.backoff_initial
        ever_connected = False
        while not self._closing:
            try:
                client = await self._connect_once()
            except (DaemonUnavailable, TimeoutError) as exc:
                self.error = str(exc) or "The daemon did not answer in time."
                self._set_state(
                    ConnectionState.RECONNECTING if ever_connected else ConnectionState.CONNECTING
                )
            except RpcCallError as exc:  # e.g. PermissionDenied: retrying will not help soon
                self.error = exc.message
                self._set_state(ConnectionState.DOWN)
                delay = self.backoff_max
            else:
                self._client = client
                self.error = None
                ever_connected = True
                delay = self.backoff_initial
                self._connected.set()
                self._set_state(ConnectionState.CONNECTED)
                await client.wait_closed()
                self._connected.clear()
                self._client = None
                if self._closing:
                    return
                self.error = "The connection to the daemon closed; reconnecting."
                self._set_state(ConnectionState.RECONNECTING)
                continue  # try at once: a restarted daemon is usually back quickly
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.backoff_max)


__all__ = [
    "LOST_TOPIC",
    "SNAPSHOT_TOPIC",
    "STATE_TOPIC",
    "Client",
    "ConnectionState",
    "DaemonUnavailable",
    "EventStream",
    "ReconnectingClient",
    "RpcCallError",
    "default_socket_path",
]
