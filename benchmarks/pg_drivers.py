"""psycopg 3 (with psycopg_pool, as the store uses it) against asyncpg on the same PostgreSQL:
one-row reads, 8 concurrent reads, one-INSERT transactions. Not a ``bench_*`` (``make bench``
skips it): asyncpg is not a dependency; to rerun, install it by hand
(``pip install --target /tmp/apg asyncpg``) and run with ``BEXSYNC_ASYNCPG=/tmp/apg``.
The psycopg side goes through the store's own seam (``?`` placeholders, rows by name), so it
pays what the daemon pays; the asyncpg side is the bare driver. Best of 3 rounds each.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if os.environ.get("BEXSYNC_ASYNCPG"):
    sys.path.insert(0, os.environ["BEXSYNC_ASYNCPG"])

import asyncpg

from daemon.store.postgres import open_postgres
from tests.support.postgres import running_postgres

READS, WRITES, ROUNDS = 2000, 500, 3


async def best(step: Callable[[int], Awaitable[object]], n: int, concurrent: bool = False) -> float:
    """Best microseconds per operation over ROUNDS rounds."""
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        if concurrent:
            for i in range(0, n, 8):
                await asyncio.gather(*(step(j) for j in range(i, min(n, i + 8))))
        else:
            for i in range(n):
                await step(i)
        times.append((time.perf_counter() - t) / n * 1e6)
    return min(times)


async def main() -> None:
    with running_postgres() as server:
        url = server.create_database()
        db = await open_postgres(url, None)
        await db.execute("CREATE TABLE bench (id SERIAL PRIMARY KEY, v TEXT)")
        await db.execute("INSERT INTO bench (v) SELECT 'x' || g FROM generate_series(1, 1000) g")

        async def pg_write(i: int) -> None:
            async with db.transaction() as tx:
                await tx.insert("INSERT INTO bench (v) VALUES (?)", (f"w{i}",))

        async def pg_read(i: int) -> None:
            await db.fetchone("SELECT id, v FROM bench WHERE id = ?", (i % 1000 + 1,))

        host = url.split("host=")[1]
        name = url.split("/")[3].split("?")[0]
        pool = await asyncpg.create_pool(
            user="bexsync", database=name, host=host, min_size=1, max_size=8
        )

        async def a_write(i: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.fetchval("INSERT INTO bench (v) VALUES ($1) RETURNING id", f"a{i}")

        async def a_read(i: int) -> None:
            await pool.fetchrow("SELECT id, v FROM bench WHERE id = $1", i % 1000 + 1)

        figures = {}
        for label, read, write in (("psycopg", pg_read, pg_write), ("asyncpg", a_read, a_write)):
            figures[label] = (
                await best(read, READS),
                await best(read, READS, concurrent=True),
                await best(write, WRITES),
            )
        await pool.close()
        await db.close()
    for label, (read, read8, write) in figures.items():
        print(f"{label:8} read {read:6.0f} us   8-way read {read8:6.0f} us   "
              f"write tx {write:6.0f} us")  # fmt: skip
    p, a = figures["psycopg"], figures["asyncpg"]
    print(
        f"RESULT pg_drivers: psycopg_read={p[0]:.0f}us asyncpg_read={a[0]:.0f}us "
        f"ratio={p[0] / a[0]:.2f}x psycopg_write={p[2]:.0f}us asyncpg_write={a[2]:.0f}us "
        f"ratio={p[2] / a[2]:.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
