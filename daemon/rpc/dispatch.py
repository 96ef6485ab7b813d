"""JSON-RPC 2.0 semantics: requests, batches, notifications, error objects, calling handlers.

Knows nothing of sockets: the transport hands it one complete line at a time and writes what
it answers (the split systemd's varlink makes between its ``Service`` and its servers). A bad
line is answered at once; a call becomes an awaitable ``Reply`` that the transport runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeGuard

import msgspec

from daemon.errors import DaemonError
from providers.errors import ProviderError

from .codec import (
    NotJson,
    decode_message,
    encode_json,
    error_line,
    require_finite,
    result_line,
)
from .errors import (
    BatchTooLarge,
    InternalError,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    ProviderFailure,
    RpcError,
    rpc_error_for,
)
from .registry import AppT, CallContext, MethodInfo, Registry
from .transport import Connection, Incoming, Reply
from .validation import decode_params
from .wire import JSONValue, RequestId

log = logging.getLogger(__name__)

_MAX_NAME_SHOWN = 80
MAX_ID_LENGTH = 256
"""A string id longer than this is refused (-32600): ids are echoed, so they are bounded."""
MAX_SAFE_ID = 2**53
"""Integer ids within +-2^53 (what every JSON reader holds exactly); others are refused."""
DEFAULT_MAX_BATCH = 100
"""Members of one batch; a longer batch is refused as a whole (nothing runs)."""
DEFAULT_MAX_BATCH_REPLY = 4 * 1024 * 1024
"""Once a batch's answers reach this many bytes, its remaining members are answered with an
error without running: the reply stays bounded and nothing runs that is not answered."""


@dataclass(slots=True)
class Request:
    """One well-formed request of a message (or of a batch)."""

    id: RequestId
    method: str
    params: JSONValue
    is_notification: bool


def _shown(name: str) -> str:
    return name if len(name) <= _MAX_NAME_SHOWN else name[:_MAX_NAME_SHOWN] + "..."


def _internal_message(method: str) -> str:
    return (
        f"The daemon hit an internal error while running {_shown(method)}; its log has the details."
    )


def _is_id(value: JSONValue) -> TypeGuard[RequestId]:
    """Null, a string up to ``MAX_ID_LENGTH`` characters or an integer within +-2^53.

    Not true/false (JSON-RPC does not allow them) and not fractions or 1e400 (read as infinity,
    which no answer can carry): a request whose id cannot be echoed exactly is refused.
    """
    if value is None:
        return True
    if isinstance(value, str):
        return len(value) <= MAX_ID_LENGTH
    return type(value) is int and -MAX_SAFE_ID <= value <= MAX_SAFE_ID


def echo_id(message: JSONValue) -> RequestId:
    """The id to answer an invalid request with: its own if readable, else null (spec)."""
    if isinstance(message, dict):
        rid = message.get("id")
        if _is_id(rid):
            return rid
    return None


def parse_request(message: JSONValue) -> Request | RpcError:
    """The request in ``message``, or the InvalidRequest error that says what is wrong."""
    if not isinstance(message, dict):
        return InvalidRequest("A request must be a JSON object (or an array of them).")
    if message.get("jsonrpc") != "2.0":
        return InvalidRequest('The request must carry "jsonrpc": "2.0".')
    method = message.get("method")
    if not isinstance(method, str) or not method:
        return InvalidRequest('The request needs a "method" string.')
    is_notification = "id" not in message
    rid = message.get("id")  # None for a notification: it has no "id"
    if not _is_id(rid):
        return InvalidRequest(
            f'The "id" must be null, a string of at most {MAX_ID_LENGTH} characters or an '
            f"integer within +-2^53."
        )
    params = message.get("params")
    if params is not None and not isinstance(params, dict | list):
        return InvalidRequest('The "params" must be an object or an array.')
    return Request(id=rid, method=method, params=params, is_notification=is_notification)


def _after_sent(contexts: Sequence[CallContext[AppT]]) -> Callable[[], None] | None:
    """One callback running every context's after-response callbacks (None if there are none)."""
    pending = [ctx for ctx in contexts if ctx._after_response]
    if not pending:
        return None

    def run() -> None:
        for ctx in pending:
            for callback in ctx._after_response:
                try:
                    callback()
                except Exception:
                    log.exception("an after-response callback of %s failed", ctx.method)

    return run


class Dispatcher(Generic[AppT]):
    """Answers the JSON-RPC messages of every connection from one ``Registry``.

    ``app`` is handed to every handler as ``ctx.app``.
    """

    def __init__(
        self,
        registry: Registry[AppT],
        app: AppT,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_batch_reply: int = DEFAULT_MAX_BATCH_REPLY,
    ) -> None:
        self.registry = registry
        self.app = app
        self.max_batch = max_batch
        self.max_batch_reply = max_batch_reply

    def receive(self, line: bytes, connection: Connection) -> Incoming:
        """The answer to one line: an error line at once, a pending reply, or nothing."""
        if not line.strip():
            return None  # blank lines are harmless keep-alives from hand-typed sessions
        try:
            message = decode_message(line)
        except NotJson:
            return error_line(None, ParseError("The message is not valid UTF-8 JSON."))
        if isinstance(message, list):
            if not message:
                return error_line(None, InvalidRequest("An empty batch is not a request."))
            if len(message) > self.max_batch:
                return error_line(
                    None,
                    BatchTooLarge(
                        f"A batch holds at most {self.max_batch} requests; this one has "
                        f"{len(message)}. Nothing of it was run."
                    ),
                )
            connection.batch_started()
            return self._batch(message, connection)
        request = parse_request(message)
        if isinstance(request, RpcError):
            return error_line(echo_id(message), request)
        return self._one(request, connection)

    async def _one(self, request: Request, connection: Connection) -> Reply:
        async with connection.slots:
            line, ctx = await self.call(request, connection)
        return Reply(line, _after_sent([ctx]) if ctx is not None else None)

    async def _batch(self, items: list[JSONValue], connection: Connection) -> Reply:
        """Each member in order, through the connection's in-flight slots like single calls.

        Members yield to the event loop one by one, so a batch of cheap calls cannot hold it;
        once the answers pass ``max_batch_reply`` bytes, the members not yet started are
        answered with an error instead of being run.
        """
        try:
            return await self._batch_members(items, connection)
        finally:
            connection.batch_finished()

    async def _batch_members(self, items: list[JSONValue], connection: Connection) -> Reply:
        answers: list[bytes | None] = [None] * len(items)
        contexts: list[CallContext[AppT]] = []
        size = 0
        running: set[asyncio.Task[None]] = set()

        async def member(index: int, request: Request) -> None:
            nonlocal size
            try:
                line, ctx = await self.call(request, connection)
            finally:
                connection.slots.release()
            if ctx is not None:
                contexts.append(ctx)
            if line is not None:
                answers[index] = line[:-1]
                size += len(line)

        for index, item in enumerate(items):
            request = parse_request(item)
            if isinstance(request, RpcError):
                answers[index] = error_line(echo_id(item), request)[:-1]
                continue
            if size >= self.max_batch_reply:
                if not request.is_notification:
                    answers[index] = error_line(request.id, self._too_large())[:-1]
                continue
            await connection.slots.acquire()
            task = asyncio.create_task(member(index, request))
            running.add(task)
            task.add_done_callback(running.discard)
            await asyncio.sleep(0)  # let the member, and every other client, have a turn
        if running:
            await asyncio.gather(*running)
        parts = [line for line in answers if line is not None]
        return Reply(b"[" + b",".join(parts) + b"]\n" if parts else None, _after_sent(contexts))

    def _too_large(self) -> RpcError:
        return BatchTooLarge(
            f"Not run: the batch's answers passed {self.max_batch_reply} bytes before this "
            "request's turn. Send it again, in a smaller batch."
        )

    @staticmethod
    def _encode_result(info: MethodInfo, result: object) -> bytes:
        """The result as its declared type, encoded; InternalError when it does not fit."""
        try:
            if info.result is None:
                require_finite(result)
                return encode_json(result)
            return encode_json(msgspec.convert(result, info.result, from_attributes=True))
        except ValueError as exc:  # msgspec.ValidationError is one
            log.error("the result of %s cannot be sent: %s", info.name, exc)
            raise InternalError(_internal_message(info.name)) from None

    async def call(
        self, request: Request, connection: Connection
    ) -> tuple[bytes | None, CallContext[AppT] | None]:
        """Run one request; the encoded response line (None for a notification) and context."""
        info = self.registry.get(request.method)
        ctx: CallContext[AppT] | None = None
        try:
            if info is None:
                raise MethodNotFound(f"Unknown method '{_shown(request.method)}'.")
            if request.is_notification and not info.notification_ok:
                log.debug("ignored %s sent as a notification", info.name)
                return None, None
            params = decode_params(info.params, request.params)
            ctx = CallContext(
                peer=connection.peer,
                connection=connection,
                app=self.app,
                request_id=request.id,
                method=info.name,
                is_notification=request.is_notification,
            )
            if info.params is None:
                result = await info.handler(ctx)
            else:
                result = await info.handler(ctx, params)
            if request.is_notification:
                return None, ctx
            return result_line(request.id, self._encode_result(info, result)), ctx
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
        return error_line(request.id, failure), ctx


__all__ = ["Dispatcher", "Request", "echo_id", "parse_request"]
