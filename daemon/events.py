"""The event bus: live state changes pushed to subscribed RPC connections.

``publish()`` is synchronous and never blocks: it encodes the event once and hands it to every
matching subscription. Each subscription keeps its own small queue, so one slow client can
only hurt itself: ``sync.progress`` is rate-limited and coalesced per run (the latest state
always arrives), and when a client stops reading its ordered queue is bounded; if it overflows
the oldest events are dropped and the client gets an ``events.lost`` event (re-subscribe for a
fresh snapshot).

Snapshot ordering: ``events.subscribe`` registers the subscription in a holding state *before*
asking the app for the snapshot and releases it only after the response is written. So no
event published after the snapshot is lost, and none published before it is re-sent. (If the
snapshot provider awaits I/O, events published meanwhile are delivered after the snapshot even
though the snapshot may already reflect them: state-like events make that harmless.)

Besides ``topic`` and ``data``, each event's params carry ``seq`` (per topic, counting every
event the daemon published on it, so a gap means coalesced or dropped events) and
``emitted_at`` (Unix time of publication, so a client can tell how stale an update is and the
benchmarks can measure delivery latency).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, get_args

from daemon.rpc.codec import encode_message
from daemon.rpc.registry import AppT, CallContext, Registry
from daemon.rpc.wire import JSONObject, Meta, Params, Result

log = logging.getLogger(__name__)

Topic = Literal[
    "sync.progress",
    "sync.finished",
    "notification.created",
    "authorisation.updated",
    "configuration.updated",
    "administration.updated",
]
TOPICS: tuple[Topic, ...] = get_args(Topic)
PROGRESS: Topic = "sync.progress"
FINISHED: Topic = "sync.finished"
LOST = "events.lost"
"""Sent (whatever the filter) when events to this client were dropped: re-subscribe."""

SnapshotProvider = Callable[[list[str]], Awaitable[dict[str, Any]]]


class EventSink(Protocol):
    """What the bus needs from a connection (``daemon.rpc.transport.Connection`` is one)."""

    @property
    def closed(self) -> bool: ...

    def is_writable(self) -> bool: ...

    def send_raw(self, line: bytes) -> bool: ...

    def add_close_callback(self, callback: Callable[[], None]) -> None: ...

    def add_drain_callback(self, callback: Callable[[], None]) -> None: ...

    def remove_drain_callback(self, callback: Callable[[], None]) -> None: ...


@dataclass(slots=True)
class _Event:
    topic: str
    data: dict[str, Any]
    line: bytes


@dataclass(slots=True)
class _ProgressSlot:
    """The rate limiter of one (connection, run_id): the latest unsent update and a timer."""

    last_sent: float = -math.inf
    pending: _Event | None = None
    timer: asyncio.TimerHandle | None = None


class _Subscription:
    def __init__(self, bus: EventBus, sink: EventSink, topics: Iterable[str]) -> None:
        self.bus = bus
        self.sink = sink
        self.topics = frozenset(topics)
        self.holding = True
        self.queue: deque[_Event] = deque()
        self.progress: dict[Any, _ProgressSlot] = {}
        self.lost = 0
        self.active = True
        sink.add_drain_callback(self.flush)

    # -- intake ----------------------------------------------------------------------------------

    def offer(self, event: _Event) -> None:
        run_id = event.data.get("run_id")
        if event.topic == PROGRESS and _hashable(run_id):
            slot = self.progress.setdefault(run_id, _ProgressSlot())
            slot.pending = event  # coalesce: only the latest update of a run matters
            self._schedule(run_id, slot)
            return
        if event.topic == FINISHED and _hashable(run_id) and run_id in self.progress:
            # the run's last progress goes out before its end, whatever the rate limit says
            slot = self.progress.pop(run_id)
            if slot.timer is not None:
                slot.timer.cancel()
            if slot.pending is not None:
                self._enqueue(slot.pending)
        self._enqueue(event)
        self.flush()

    def _enqueue(self, event: _Event) -> None:
        self.queue.append(event)
        if len(self.queue) > self.bus.max_queue:
            self.queue.popleft()
            self.lost += 1

    # -- output ----------------------------------------------------------------------------------

    def release(self) -> None:
        """The snapshot response is out: deliver what was held back meanwhile."""
        self.holding = False
        self.flush()

    def flush(self) -> None:
        if self.holding or not self.active:
            return
        sink = self.sink
        if self.lost and sink.is_writable():
            data = {"dropped": self.lost}
            self.lost = 0
            sink.send_raw(_line(LOST, data))
        while self.queue and sink.is_writable():
            sink.send_raw(self.queue.popleft().line)
        if not self.queue and sink.is_writable():
            for run_id, slot in list(self.progress.items()):
                if slot.pending is not None and slot.timer is None:
                    self._schedule(run_id, slot)

    def _schedule(self, run_id: Any, slot: _ProgressSlot) -> None:
        if slot.timer is not None or self.holding or not self.active:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = slot.last_sent + self.bus.progress_interval
        if now >= due:
            self._send_progress(run_id, slot, now)
        else:
            slot.timer = loop.call_at(due, self._on_timer, run_id, slot)

    def _on_timer(self, run_id: Any, slot: _ProgressSlot) -> None:
        slot.timer = None
        if self.active and self.progress.get(run_id) is slot:
            self._send_progress(run_id, slot, asyncio.get_running_loop().time())

    def _send_progress(self, run_id: Any, slot: _ProgressSlot, now: float) -> None:
        if slot.pending is None:
            return
        if self.queue or not self.sink.is_writable():
            return  # stays pending (and keeps coalescing); flush() on drain picks it up
        self.sink.send_raw(slot.pending.line)
        slot.pending = None
        slot.last_sent = now

    def close(self) -> None:
        self.active = False
        self.queue.clear()
        for slot in self.progress.values():
            if slot.timer is not None:
                slot.timer.cancel()
        self.progress.clear()
        self.sink.remove_drain_callback(self.flush)


def _hashable(value: Any) -> bool:
    return value is not None and isinstance(value, str | int)


def _line(topic: str, data: dict[str, Any], seq: int | None = None) -> bytes:
    params: dict[str, Any] = {"topic": topic, "data": data}
    if seq is not None:
        params["seq"] = seq
    params["emitted_at"] = round(time.time(), 6)
    return encode_message({"jsonrpc": "2.0", "method": "event", "params": params})


class EventBus:
    """Topic-filtered fan-out of events to RPC connections."""

    def __init__(
        self,
        *,
        progress_rate: float = 10.0,
        max_queue: int = 1000,
        snapshot_provider: SnapshotProvider | None = None,
    ) -> None:
        self.topics: tuple[Topic, ...] = TOPICS
        self.progress_interval = 1.0 / progress_rate
        self.max_queue = max_queue
        self.snapshot_provider = snapshot_provider
        self._subs: dict[EventSink, _Subscription] = {}
        self._seq: dict[str, itertools.count[int]] = {t: itertools.count(1) for t in self.topics}

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Send ``data`` to every subscriber of ``topic``; never blocks, never awaits.

        The data is encoded right away, so later changes to the dict don't leak into events
        still queued, and an unserialisable value fails here, at the publisher.
        """
        counter = self._seq.get(topic)
        if counter is None:
            raise ValueError(f"unknown event topic {topic!r}")
        seq = next(counter)
        targets = [sub for sub in self._subs.values() if topic in sub.topics]
        if not targets:
            return
        event = _Event(topic, data, _line(topic, data, seq))
        for sub in targets:
            try:
                sub.offer(event)
            except Exception:  # one broken connection must not stop the others
                log.exception("delivering %s to a subscriber failed", topic)

    async def subscribe(self, sink: EventSink, topics: Iterable[str] | None) -> _Subscription:
        """Register ``sink`` (held back until ``release()``); replaces an earlier subscription."""
        chosen = self.topics if topics is None else tuple(dict.fromkeys(topics))
        unknown = [t for t in chosen if t not in self.topics]
        if unknown:
            raise ValueError(f"unknown event topics: {unknown}")
        old = self._subs.pop(sink, None)
        if old is not None:
            old.close()
        else:
            sink.add_close_callback(lambda: self._drop(sink))
        sub = _Subscription(self, sink, chosen)
        self._subs[sink] = sub
        return sub

    async def snapshot(self, topics: list[str]) -> dict[str, Any]:
        if self.snapshot_provider is None:
            return {}
        return await self.snapshot_provider(topics)

    def unsubscribe(self, sink: EventSink, topics: Iterable[str] | None = None) -> list[Topic]:
        """Drop some topics (or all); the topics still subscribed."""
        sub = self._subs.get(sink)
        if sub is None:
            return []
        remaining = frozenset() if topics is None else sub.topics - frozenset(topics)
        if not remaining:
            self._drop(sink)
            return []
        sub.topics = remaining
        return [t for t in self.topics if t in remaining]

    def _drop(self, sink: EventSink) -> None:
        sub = self._subs.pop(sink, None)
        if sub is not None:
            sub.close()


# --- RPC methods: events.subscribe / events.unsubscribe -----------------------------------------


class EventsTopics(Params):
    topics: Annotated[
        list[Topic] | None, Meta(description="Topics to receive; all when absent.")
    ] = None


class Subscribed(Result):
    topics: list[Topic]
    snapshot: JSONObject
    """The current state to start from, as the daemon's snapshot provider gives it."""


class Unsubscribed(Result):
    topics: list[Topic]
    """The topics still subscribed."""


def register_event_methods(registry: Registry[AppT], bus: EventBus) -> None:
    """Register ``events.subscribe`` and ``events.unsubscribe`` for ``bus`` (the lead calls it)."""

    async def subscribe(ctx: CallContext[AppT], p: EventsTopics) -> Subscribed:
        """Receive events; the result's snapshot is the current state to start from.

        Events follow as notifications {"method":"event","params":{"topic","data"}}, beginning
        with the first change after the snapshot.
        """
        topics = list(bus.topics) if p.topics is None else list(dict.fromkeys(p.topics))
        sub = await bus.subscribe(ctx.connection, topics)
        try:
            snapshot = await bus.snapshot([*topics])
        except BaseException:
            if bus._subs.get(ctx.connection) is sub:
                bus._drop(ctx.connection)
            raise
        ctx.after_response(sub.release)
        return Subscribed(topics=topics, snapshot=snapshot)

    async def unsubscribe(ctx: CallContext[AppT], p: EventsTopics) -> Unsubscribed:
        """Stop receiving some topics, or all when none are given."""
        return Unsubscribed(topics=bus.unsubscribe(ctx.connection, p.topics))

    registry.add("events.subscribe", subscribe, result=Subscribed)
    registry.add("events.unsubscribe", unsubscribe, result=Unsubscribed)


__all__ = [
    "FINISHED",
    "LOST",
    "PROGRESS",
    "TOPICS",
    "EventBus",
    "EventSink",
    "SnapshotProvider",
    "register_event_methods",
]
