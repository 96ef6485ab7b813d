"""Deterministic fault injection for any simulator: 429s, 5xx, slow answers, bad pages, resets.

A ``FaultPlan`` is a list of ``Fault`` rules plus a seed. Each rule picks requests by path and
either by their number (the Nth matching request) or by a seeded fraction, so a failing test is
replayed exactly. ``plan.wrap(app)`` (or ``Middleware(FaultMiddleware, plan=plan)`` in a
Starlette app) puts it in front of any ASGI app; ``plan.injected`` records what was done.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[int, str], Any]

FaultKind = Literal["status", "slow", "malformed", "reset", "hook"]


class SimulatedReset(httpx.RemoteProtocolError):
    """Raised by the app to drop the connection without a response.

    Under uvicorn the connection is closed after the response head, so the client sees a
    broken response; through ``httpx.ASGITransport`` the client sees this transport error.
    """

    def __init__(self) -> None:
        super().__init__("simulated connection reset: the server closed without a response")


class _QuietResets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedReset)


_quiet_installed = False


def _quiet_uvicorn() -> None:
    """Keep uvicorn from logging a traceback for every deliberate reset."""
    global _quiet_installed
    if not _quiet_installed:
        logging.getLogger("uvicorn.error").addFilter(_QuietResets())
        _quiet_installed = True


def default_error_body(status: int, detail: str) -> Any:
    return {"errors": [{"status": status, "title": _TITLES.get(status, "Error"), "detail": detail}]}


_TITLES = {
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def _not_json(body: Any) -> bytes:
    text = json.dumps(body)
    return text[: max(len(text) // 2, 1)].encode()  # a truncated document


@dataclass
class Fault:
    """One rule. Build it with the class methods; ``nth`` and ``fraction`` select requests.

    ``nth`` counts only requests whose path contains ``path`` (1-based). ``limit`` caps how
    often the rule fires in total.
    """

    kind: FaultKind
    nth: Collection[int] = ()
    fraction: float = 0.0
    path: str | None = None
    status: int = 500
    retry_after: float | str | None = None
    delay: float = 0.0
    mutate: Callable[[Any], Any] | None = None
    limit: int | None = None
    after: bool = False  # slow/reset: let the app handle the request first (it took effect)
    action: Callable[[], Any] | None = None
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    @classmethod
    def rate_limit(cls, retry_after: float | str = 1, **select: Any) -> Fault:
        return cls("status", status=429, retry_after=retry_after, **select)

    @classmethod
    def error(
        cls, status: int = 500, retry_after: float | str | None = None, **select: Any
    ) -> Fault:
        return cls("status", status=status, retry_after=retry_after, **select)

    @classmethod
    def slow(cls, delay: float, *, after: bool = False, **select: Any) -> Fault:
        """Delay the answer. ``after=True``: the app handles the request at once and only the
        response is late, so a client that times out leaves an effect behind (the ambiguous
        case exactly-once posting must survive)."""
        return cls("slow", delay=delay, after=after, **select)

    @classmethod
    def malformed(cls, mutate: Callable[[Any], Any] | None = None, **select: Any) -> Fault:
        """Corrupt the app's JSON answer: ``mutate(doc)`` returns the new document (it may edit
        ``doc`` in place and return it); without ``mutate`` the body is truncated (not JSON)."""
        return cls("malformed", mutate=mutate, **select)

    @classmethod
    def reset(cls, *, after: bool = False, **select: Any) -> Fault:
        """Drop the connection. ``after=True``: the app handles the request first, then the
        response is lost (the server did the work; the client cannot know)."""
        return cls("reset", after=after, **select)

    @classmethod
    def hook(cls, action: Callable[[], Any], **select: Any) -> Fault:
        """Run ``action()`` (awaited when it returns an awaitable) when the request arrives,
        then let it through: something changes in the world at a precise point of a sync
        (a token revoked, a period locked, the PMS's data edited, a disk filling up)."""
        return cls("hook", action=action, **select)


class FaultPlan:
    """A seeded list of faults, evaluated in order for each request (the first that fires wins,
    except ``slow``, which delays and lets the others still apply)."""

    def __init__(
        self,
        faults: Collection[Fault] = (),
        *,
        seed: int = 0,
        error_body: ErrorBody = default_error_body,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.faults = list(faults)
        self.error_body = error_body
        self.sleep = sleep
        self._rngs = [random.Random(seed * 1_000_003 + i) for i in range(len(self.faults))]
        self.injected: list[tuple[str, str]] = []  # (kind or status, path)
        if any(f.kind == "reset" for f in self.faults):
            _quiet_uvicorn()

    def add(self, fault: Fault) -> Fault:
        """Add a rule while the app runs (tests that break a server midway)."""
        self._rngs.append(random.Random(len(self._rngs) * 7919 + 17))
        self.faults.append(fault)
        if fault.kind == "reset":
            _quiet_uvicorn()
        return fault

    def clear(self) -> None:
        """Remove every rule (the outage is over); ``injected`` keeps the history."""
        self.faults.clear()
        self._rngs.clear()

    def count(self, kind: str | None = None) -> int:
        """How many faults were injected (of one kind or status, e.g. ``"429"``)."""
        return sum(1 for k, _ in self.injected if kind is None or k == kind)

    def select(self, path: str) -> list[Fault]:
        """The faults that fire for this request (advances counters and random streams)."""
        chosen = []
        for fault, rng in zip(self.faults, self._rngs, strict=True):
            if fault.path is not None and fault.path not in path:
                continue
            fault.seen += 1
            draw = rng.random()
            if fault.limit is not None and fault.fired >= fault.limit:
                continue
            if fault.seen in fault.nth or (fault.fraction > 0 and draw < fault.fraction):
                fault.fired += 1
                chosen.append(fault)
        return chosen

    def wrap(self, app: ASGIApp) -> FaultMiddleware:
        return FaultMiddleware(app, plan=self)


class FaultMiddleware:
    """The ASGI side of a ``FaultPlan``."""

    def __init__(self, app: ASGIApp, plan: FaultPlan) -> None:
        self.app = app
        self.plan = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        for fault in self.plan.select(path):
            if fault.kind == "hook":
                self.plan.injected.append(("hook", path))
                assert fault.action is not None
                result = fault.action()
                if inspect.isawaitable(result):
                    await result
                continue
            if fault.kind == "slow" and fault.after:
                self.plan.injected.append(("slow", path))
                start, body = await self._handled(scope, receive)
                await self.plan.sleep(fault.delay)
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            if fault.kind == "slow":
                self.plan.injected.append(("slow", path))
                await self.plan.sleep(fault.delay)
                continue
            if fault.kind == "reset" and fault.after:
                self.plan.injected.append(("reset", path))
                await self._handled(scope, receive)
                await send(
                    {"type": "http.response.start", "status": 200, "headers": [(b"x-fault", b"1")]}
                )
                raise SimulatedReset()
            if fault.kind == "status":
                self.plan.injected.append((str(fault.status), path))
                await self._error(send, fault)
                return
            if fault.kind == "reset":
                self.plan.injected.append(("reset", path))
                await send(
                    {"type": "http.response.start", "status": 200, "headers": [(b"x-fault", b"1")]}
                )
                raise SimulatedReset()
            if fault.kind == "malformed":
                self.plan.injected.append(("malformed", path))
                await self._malformed(scope, receive, send, fault)
                return
        await self.app(scope, receive, send)

    async def _handled(self, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
        """Run the app to the end and keep its response (start message, whole body)."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        return start, b"".join(chunks)

    async def _error(self, send: Send, fault: Fault) -> None:
        body = json.dumps(self.plan.error_body(fault.status, "simulated fault")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if fault.retry_after is not None:
            value = fault.retry_after
            text = value if isinstance(value, str) else f"{value:g}"
            headers.append((b"retry-after", text.encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _malformed(self, scope: Scope, receive: Receive, send: Send, fault: Fault) -> None:
        start, raw = await self._handled(scope, receive)
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if fault.mutate is not None and doc is not None:
            new = fault.mutate(doc)
            body = json.dumps(doc if new is None else new).encode()
        else:
            body = _not_json(doc) if doc is not None else raw[: len(raw) // 2]
        headers = [
            (k, v)
            for k, v in start.get("headers", [])
            if k.lower() not in (b"content-length", b"content-encoding")
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})
