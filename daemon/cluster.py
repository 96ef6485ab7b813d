"""This daemon among its peers on one PostgreSQL database (``[store] url``): its heartbeat, the
takeover of a dead peer's leases, and the events and cancels that travel between daemons.

On SQLite the daemon is alone (``LocalCoordination``): the heartbeat is local, nothing is taken
over and nothing is relayed. On PostgreSQL every ``lease_seconds / 5`` the daemon stamps its
heartbeat and takes the leases of any peer silent longer than ``lease_seconds``, then recovers
that peer's runs (``Recovery.take_over``: interrupted ones recorded failed, posting ones looked
up by reference). Every event this daemon publishes goes to the peers too (``NOTIFY``), so a
TUI on any daemon sees every run; a ``sync.finished`` from a peer wakes the scheduler, and a
cancel of a run that runs elsewhere is sent to the daemon that runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import orjson

from daemon.publisher import EventPublisher
from daemon.store.coordination import Coordination
from daemon.store.errors import StoreError

log = logging.getLogger("bexsync.cluster")

RELISTEN_AFTER = 2.0  # seconds before listening again after the connection dropped


class TakeOver(Protocol):
    async def take_over(self, config_ids: list[int]) -> None: ...


class Relay:
    """An ``EventPublisher`` that publishes here and, in the background, to the peers."""

    def __init__(self, local: EventPublisher, coordination: Coordination) -> None:
        self._local = local
        self._coordination = coordination
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        self._local.publish(topic, data)
        self.send({"event": topic, "data": data})

    def send(self, message: dict[str, Any]) -> None:
        if not self._coordination.shared:
            return
        with contextlib.suppress(asyncio.QueueFull):  # peers miss a burst, never block here
            self._outbox.put_nowait(orjson.dumps(message, default=str).decode())

    async def drain_forever(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await self._coordination.publish(message)
            except StoreError as exc:
                log.warning("event not relayed to the other daemons: %s", exc)


class Cluster:
    def __init__(
        self,
        *,
        coordination: Coordination,
        relay: Relay,
        local: EventPublisher,
        recovery: TakeOver,
        wake: Callable[[], None],
        cancel_here: Callable[[int], Coroutine[Any, Any, bool]],
    ) -> None:
        self.coordination = coordination
        self._relay = relay
        self._local = local
        self._recovery = recovery
        self._wake = wake
        self._cancel_here = cancel_here
        self._tasks: list[asyncio.Task[None]] = []
        self._cancels: set[asyncio.Task[bool]] = set()
        self.takeovers = 0

    @property
    def interval(self) -> float:
        return self.coordination.lease_seconds / 5

    async def start(self) -> None:
        await self.coordination.join()
        if self.coordination.shared:
            for name, job in (
                ("heartbeat", self._beat_forever()),
                ("takeover", self._take_over_forever()),
                ("listen", self._listen_forever()),
                ("relay", self._relay.drain_forever()),
            ):
                self._tasks.append(asyncio.create_task(job, name=f"cluster-{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.coordination.leave()

    async def beat(self) -> None:
        """One heartbeat, and the takeover of any dead peer's leases."""
        await self.coordination.heartbeat()
        await self.take_over()

    async def take_over(self) -> None:
        taken = await self.coordination.take_over()
        if taken:
            self.takeovers += 1
            log.warning("took over configurations %s from a daemon that stopped answering", taken)
            await self._recovery.take_over(taken)

    async def _beat_forever(self) -> None:
        """The heartbeat alone: a takeover's recovery may wait on a provider, and this
        daemon must not look dead to its peers meanwhile."""
        while True:
            try:
                await self.coordination.heartbeat()
            except Exception:  # the database is away: try again next beat
                log.exception("heartbeat failed")
            await asyncio.sleep(self.interval)

    async def _take_over_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.take_over()
            except Exception:
                log.exception("taking over a silent daemon's work failed; trying again")

    async def _listen_forever(self) -> None:
        while True:
            try:
                async for message in self.coordination.listen():
                    self._receive(message)
            except StoreError as exc:
                log.warning("listening to the other daemons stopped (%s); again shortly", exc)
            await asyncio.sleep(RELISTEN_AFTER)

    def _receive(self, message: str) -> None:
        try:
            body = orjson.loads(message)
        except orjson.JSONDecodeError:
            return
        if "event" in body:
            self._local.publish(body["event"], body.get("data") or {})
            if body["event"] == "sync.finished":
                self._wake()  # a peer finished a period: what is due next may be ours
        elif "cancel" in body and isinstance(body["cancel"], int):
            task = asyncio.get_running_loop().create_task(self._cancel_here(body["cancel"]))
            self._cancels.add(task)
            task.add_done_callback(self._cancels.discard)
