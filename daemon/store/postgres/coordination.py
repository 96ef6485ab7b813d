"""``Coordination`` on PostgreSQL: several daemons, one database.

Liveness is each daemon's heartbeat in ``daemons``, stamped with the database's clock (hosts'
clocks may differ; the database's is the one all of them read). A configuration's lease is a
row of ``leases`` naming its holder. A daemon stamps its heartbeat every ``lease_seconds / 5``;
its peers look as often and count a holder silent for 4/5 of the lease as dead, so a dead
daemon's work is taken over at most ``lease_seconds`` after its last heartbeat, while a live
one has four intervals of margin. Claims read the lease row ``FOR UPDATE SKIP LOCKED``: of two
daemons claiming at once, one gets the row and the other moves on at once instead of queueing
behind it. Messages between daemons go over ``LISTEN``/``NOTIFY`` on one channel.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable

import psycopg

from daemon.formats import Clock, iso
from daemon.store.errors import StoreUnavailable
from daemon.store.postgres.database import PgDatabase, translated_errors
from daemon.store.records import DaemonRecord, Lease
from daemon.store.sql.rows import ACTIVE_SQL

CHANNEL = "bexsync"
NOW = "extract(epoch from clock_timestamp())::double precision"
SHOWN_FOR = 3600.0  # a dead daemon stays listed (not alive) for an hour
SILENT_SHARE = 0.8  # of the lease: see the module's docstring
MAX_MESSAGE = 7900  # NOTIFY's payload limit is 8000 bytes


class PgCoordination:
    shared = True

    def __init__(
        self, db: Callable[[], PgDatabase], node_id: str, clock: Clock, lease_seconds: float
    ) -> None:
        self._db = db
        self.node_id = node_id
        self.lease_seconds = lease_seconds
        self._silent = lease_seconds * SILENT_SHARE  # a heartbeat this old: its daemon is dead
        self._clock = clock

    async def join(self) -> None:
        db = self._db()
        await db.execute(
            f"DELETE FROM daemons WHERE heartbeat_at < {NOW} - 86400 AND NOT EXISTS "
            "(SELECT 1 FROM leases l WHERE l.daemon_id = daemons.id)"
        )
        await db.execute(
            "INSERT INTO daemons (id, host, pid, started_at, heartbeat_at, stopped) "
            f"VALUES (?, ?, ?, ?, {NOW}, 0) ON CONFLICT (id) DO UPDATE SET "
            "heartbeat_at = excluded.heartbeat_at, stopped = 0",
            (self.node_id, socket.gethostname(), os.getpid(), iso(self._clock())),
        )

    async def heartbeat(self) -> None:
        changed = await self._db().execute(
            f"UPDATE daemons SET heartbeat_at = {NOW} WHERE id = ? AND stopped = 0",
            (self.node_id,),
        )
        if not changed:  # removed as long dead (a very long pause): join again
            await self.join()

    async def claim(self, config_id: int, period: str | None) -> bool:
        async with self._db().transaction() as tx:
            await tx.execute(
                "INSERT INTO leases (configuration_id) VALUES (?) ON CONFLICT DO NOTHING",
                (config_id,),
            )
            row = await tx.fetchone(
                f"SELECT l.daemon_id, d.heartbeat_at, d.stopped, {NOW} AS now FROM leases l "
                "LEFT JOIN daemons d ON d.id = l.daemon_id WHERE l.configuration_id = ? "
                "FOR UPDATE OF l SKIP LOCKED",
                (config_id,),
            )
            if row is None:
                return False  # another daemon is claiming it this very moment
            holder = row["daemon_id"]
            dead = (
                row["heartbeat_at"] is None
                or row["stopped"]
                or row["now"] - row["heartbeat_at"] > self._silent
            )
            if holder is not None and holder != self.node_id and not dead:
                return False
            await tx.execute(
                f"UPDATE leases SET daemon_id = ?, period = ?, acquired_at = {NOW}, "
                "taken_from = ? WHERE configuration_id = ?",
                (
                    self.node_id,
                    period,
                    holder if holder not in (None, self.node_id) else None,
                    config_id,
                ),
            )
            return True

    async def release(self, config_id: int) -> None:
        await self._db().execute(
            "UPDATE leases SET daemon_id = NULL, period = NULL WHERE configuration_id = ? "
            "AND daemon_id = ? AND NOT EXISTS (SELECT 1 FROM runs r WHERE "
            f"r.configuration_id = leases.configuration_id AND r.state IN {ACTIVE_SQL})",
            (config_id, self.node_id),
        )

    async def take_over(self) -> list[int]:
        async with self._db().transaction() as tx:
            found = await tx.fetchall(
                "SELECT l.configuration_id, l.daemon_id FROM leases l LEFT JOIN daemons d "
                "ON d.id = l.daemon_id WHERE l.daemon_id IS NOT NULL AND l.daemon_id != ? AND "
                f"(d.id IS NULL OR d.stopped = 1 OR d.heartbeat_at < {NOW} - ?) "
                "ORDER BY l.configuration_id FOR UPDATE OF l SKIP LOCKED",
                (self.node_id, self._silent),
            )
            for row in found:
                await tx.execute(
                    f"UPDATE leases SET daemon_id = ?, acquired_at = {NOW}, taken_from = ? "
                    "WHERE configuration_id = ?",
                    (self.node_id, row["daemon_id"], row["configuration_id"]),
                )
        return [int(row["configuration_id"]) for row in found]

    async def leave(self) -> None:
        db = self._db()
        await db.execute(
            "UPDATE leases SET daemon_id = NULL, period = NULL WHERE daemon_id = ? AND NOT "
            "EXISTS (SELECT 1 FROM runs r WHERE r.configuration_id = leases.configuration_id "
            f"AND r.state IN {ACTIVE_SQL})",
            (self.node_id,),
        )
        await db.execute("UPDATE daemons SET stopped = 1 WHERE id = ?", (self.node_id,))

    async def daemons(self) -> list[DaemonRecord]:
        db = self._db()
        found = await db.fetchall(
            f"SELECT id, host, pid, started_at, stopped, {NOW} - heartbeat_at AS age "
            f"FROM daemons WHERE {NOW} - heartbeat_at < ? ORDER BY started_at, id",
            (SHOWN_FOR,),
        )
        leases = await db.fetchall(
            "SELECT daemon_id, configuration_id, period FROM leases "
            "WHERE daemon_id IS NOT NULL ORDER BY configuration_id"
        )
        held: dict[str, list[Lease]] = {}
        for row in leases:
            held.setdefault(row["daemon_id"], []).append(
                Lease(int(row["configuration_id"]), row["period"])
            )
        return [
            DaemonRecord(
                id=row["id"],
                host=row["host"],
                pid=int(row["pid"]),
                started_at=row["started_at"],
                heartbeat_age_s=round(float(row["age"]), 3),
                alive=not row["stopped"] and float(row["age"]) <= self._silent,
                leases=held.get(row["id"], []),
            )
            for row in found
        ]

    async def publish(self, message: str) -> None:
        payload = f"{self.node_id} {message}"
        if len(payload.encode()) > MAX_MESSAGE:
            return  # too big for NOTIFY; the others read it from the database instead
        await self._db().execute("SELECT pg_notify(?, ?)", (CHANNEL, payload))

    async def listen(self) -> AsyncIterator[str]:
        """Until the connection drops (``StoreUnavailable``: the caller listens again)."""
        conn = await self._db().connect_alone()
        try:
            with translated_errors():
                await conn.execute(f"LISTEN {CHANNEL}")
                async for note in conn.notifies():
                    sender, _, message = note.payload.partition(" ")
                    if sender != self.node_id:
                        yield message
        except psycopg.Error as exc:  # pragma: no cover - translated above
            raise StoreUnavailable(str(exc)) from exc
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
