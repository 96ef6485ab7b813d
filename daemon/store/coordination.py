"""How daemons that share one database divide the work (``Coordination``), and the single-host
implementation: a SQLite state dir belongs to one daemon (its state-dir lock), so there is
nothing to divide and every claim succeeds. PostgreSQL's is ``daemon.store.postgres.coordination``.

The rules every implementation keeps:
- a configuration's lease is held by one daemon while it runs or recovers one of its periods;
  ``claim`` takes it when it is free, already this daemon's, or its holder's heartbeat is older
  than ``lease_seconds`` (the holder died: its peers take over);
- ``release`` lets it go only when the configuration has no active run left;
- ``take_over`` claims every lease of a dead daemon, for the caller to recover its runs;
- ``publish`` reaches the other daemons' ``listen`` (events and cancels between daemons).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Protocol

from daemon.formats import Clock, iso
from daemon.store.records import DaemonRecord, Lease

DEFAULT_LEASE_SECONDS = 30.0


class Coordination(Protocol):
    node_id: str
    lease_seconds: float

    @property
    def shared(self) -> bool:
        """True when other daemons may share the database."""

    async def join(self) -> None:
        """Announce this daemon (its first heartbeat)."""

    async def heartbeat(self) -> None: ...

    async def claim(self, config_id: int, period: str | None) -> bool: ...

    async def release(self, config_id: int) -> None: ...

    async def take_over(self) -> list[int]:
        """Claim the leases of daemons whose heartbeat stopped; their configuration ids."""

    async def leave(self) -> None:
        """A clean stop: every lease released, this daemon no longer alive."""

    async def daemons(self) -> list[DaemonRecord]: ...

    async def publish(self, message: str) -> None: ...

    def listen(self) -> AsyncIterator[str]:
        """Messages the other daemons publish, as they arrive (never this daemon's own)."""


class LocalCoordination:
    """One daemon alone on its SQLite database: every claim is granted, nothing is shared."""

    shared = False

    def __init__(
        self, node_id: str, clock: Clock, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> None:
        self.node_id = node_id
        self.lease_seconds = lease_seconds
        self._started_at = iso(clock())
        self._beat = time.monotonic()

    async def join(self) -> None:
        self._beat = time.monotonic()

    async def heartbeat(self) -> None:
        self._beat = time.monotonic()

    async def claim(self, config_id: int, period: str | None) -> bool:
        return True

    async def release(self, config_id: int) -> None:
        return None

    async def take_over(self) -> list[int]:
        return []

    async def leave(self) -> None:
        return None

    async def daemons(self) -> list[DaemonRecord]:
        age = time.monotonic() - self._beat
        return [
            DaemonRecord(
                self.node_id, socket.gethostname(), os.getpid(), self._started_at, age, True, []
            )
        ]

    async def publish(self, message: str) -> None:
        return None

    async def listen(self) -> AsyncIterator[str]:
        await asyncio.Event().wait()  # nobody else to hear from
        yield ""  # pragma: no cover - never reached


__all__ = ["DEFAULT_LEASE_SECONDS", "Coordination", "Lease", "LocalCoordination"]
