"""The method registry: each RPC method is declared once, with its typed params and result.

A handler is ``async def handler(ctx: CallContext[App], p: SomeParams) -> result`` (or just
``ctx`` for a method without params); ``App`` is what the server hands every handler as
``ctx.app`` (the registry and the server are generic in it). The params Struct
(``daemon.rpc.wire.Params``) is read from the annotation of the second parameter, checked when
the module is imported, and used both to convert the client's JSON before the handler runs and
to describe the method in ``rpc.discover``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar, get_type_hints

import msgspec

from .transport import Connection
from .unix_socket import PeerCredentials
from .validation import ParamsSpec, compile_params
from .wire import RequestId

AppT = TypeVar("AppT")
Handler: TypeAlias = Callable[..., Awaitable[object]]
"""``(ctx) -> result`` or ``(ctx, params) -> result``; the registry reads which it is."""
HandlerT = TypeVar("HandlerT", bound=Handler)


@dataclass
class CallContext(Generic[AppT]):
    """What a handler knows about the call besides its params."""

    peer: PeerCredentials
    connection: Connection
    app: AppT
    request_id: RequestId
    method: str = ""
    is_notification: bool = False
    _after_response: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def after_response(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` right after this call's response was written (or dropped).

        ``events.subscribe`` uses it so that no event can overtake the snapshot it answers with.
        """
        self._after_response.append(callback)


@dataclass(frozen=True)
class MethodInfo:
    """Everything the server and the OpenRPC generator need to know about one method."""

    name: str
    handler: Handler
    params: ParamsSpec | None
    summary: str
    description: str
    result: object
    """The result's type (a Struct, ``list[Struct]``...); None: sent as the handler returns it."""
    notification_ok: bool

    @property
    def params_type(self) -> type | None:
        return None if self.params is None else self.params.cls


def _params_of(handler: Handler) -> ParamsSpec | None:
    parameters = list(inspect.signature(handler).parameters.values())
    if not parameters or len(parameters) > 2:
        raise TypeError(f"{handler.__qualname__}: a handler takes (ctx) or (ctx, params)")
    if len(parameters) == 1:
        return None
    try:
        annotation = get_type_hints(handler, include_extras=True).get(parameters[1].name)
    except NameError as exc:
        raise TypeError(
            f"{handler.__qualname__}: cannot resolve the params annotation ({exc}); define the "
            "params Struct at module level"
        ) from exc
    if annotation is None:
        raise TypeError(f"{handler.__qualname__}: annotate the params argument with a Struct")
    try:
        return compile_params(annotation)
    except TypeError as exc:
        raise TypeError(f"{handler.__qualname__}: {exc}") from None


def _checked_result(name: str, result: object) -> object:
    """Fail at import time for a result type msgspec cannot convert or describe."""
    if result is not None:
        try:
            msgspec.json.schema(result)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: the result type {result!r} cannot be sent: {exc}") from None
    return result


class Registry(Generic[AppT]):
    """Name -> MethodInfo. Method names are ``noun.verb``; ``rpc.*`` is reserved to the server."""

    def __init__(self) -> None:
        self._methods: dict[str, MethodInfo] = {}

    def method(
        self,
        name: str,
        *,
        summary: str | None = None,
        description: str | None = None,
        result: object = None,
        notification_ok: bool = True,
        _internal: bool = False,
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator registering ``handler`` under ``name``; returns the handler unchanged.

        ``summary`` defaults to the docstring's first line, ``description`` to the docstring.
        ``result`` is the result's type: what the handler returns is converted to it (fields of
        dicts or of objects, by name) before it is sent, and ``rpc.discover`` publishes its
        schema. Without it the result goes out as returned. ``notification_ok=False`` makes
        the server ignore (not run) the method when it comes as a notification, for methods whose
        only point is their answer.
        """

        def decorator(handler: HandlerT) -> HandlerT:
            self.add(
                name,
                handler,
                summary=summary,
                description=description,
                result=result,
                notification_ok=notification_ok,
                _internal=_internal,
            )
            return handler

        return decorator

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        summary: str | None = None,
        description: str | None = None,
        result: object = None,
        notification_ok: bool = True,
        _internal: bool = False,
    ) -> MethodInfo:
        if not name or not isinstance(name, str):
            raise ValueError("a method needs a name")
        if name.startswith("rpc.") and not _internal:
            raise ValueError(f"{name}: method names starting with 'rpc.' are reserved")
        if name in self._methods:
            raise ValueError(f"{name}: method registered twice")
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"{name}: the handler must be an async function")
        doc = inspect.getdoc(handler) or ""
        info = MethodInfo(
            name=name,
            handler=handler,
            params=_params_of(handler),
            summary=summary if summary is not None else (doc.splitlines()[0] if doc else ""),
            description=description if description is not None else doc,
            result=_checked_result(name, result),
            notification_ok=notification_ok,
        )
        self._methods[name] = info
        return info

    def include(self, other: Registry[AppT]) -> None:
        """Merge another registry's methods (one registry per API area, one server)."""
        for info in other:
            if info.name in self._methods:
                raise ValueError(f"{info.name}: method registered twice")
            self._methods[info.name] = info

    def get(self, name: str) -> MethodInfo | None:
        return self._methods.get(name)

    def names(self) -> list[str]:
        return sorted(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __iter__(self) -> Iterator[MethodInfo]:
        return iter(sorted(self._methods.values(), key=lambda m: m.name))

    def __len__(self) -> int:
        return len(self._methods)


__all__ = ["CallContext", "Handler", "MethodInfo", "PeerCredentials", "Registry"]
