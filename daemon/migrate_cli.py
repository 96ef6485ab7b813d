"""``bexsyncd migrate --to postgresql://user@host/db``: move a daemon's SQLite state to
PostgreSQL (``daemon.store.copy``), with the daemon stopped, then point ``[store] url`` at it.

The URL never holds the password (``--password-file``, or libpq's ``~/.pgpass``); what is
printed names tables and counts, never a value.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from daemon.config import default_state_dir
from daemon.statelock import StateDirLocked, lock_state_dir
from daemon.store.copy import copy_state
from daemon.store.db import DB_NAME, open_database
from daemon.store.errors import StoreError
from daemon.store.location import StoreUrlError, parse_store_url
from daemon.store.postgres import PostgresStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bexsyncd migrate",
        description="Copy the SQLite state of a stopped daemon into an empty PostgreSQL "
        "database and compare the counts of every table.",
    )
    parser.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host/db")
    parser.add_argument("--password-file", help="the database password (not in the URL)")
    parser.add_argument(
        "--state-dir", type=Path, help="default: $BEXSYNC_STATE_DIR or the user data dir"
    )
    return parser


async def migrate(url: str, password_file: str | None, state_dir: Path) -> int:
    try:
        location = parse_store_url(url, password_file)
    except StoreUrlError as exc:
        print(f"bexsyncd migrate: --to {exc}", file=sys.stderr)
        return 2
    if location.backend != "postgresql":
        print("bexsyncd migrate: --to must be a postgresql:// URL", file=sys.stderr)
        return 2
    if not (state_dir / DB_NAME).exists():
        print(f"bexsyncd migrate: no state in {state_dir}", file=sys.stderr)
        return 2
    try:
        lock = lock_state_dir(state_dir)
    except StateDirLocked:
        print("bexsyncd migrate: the daemon is running on that state dir; stop it first",
              file=sys.stderr)  # fmt: skip
        return 3
    try:
        source = await open_database(state_dir)
        target = PostgresStore(location.conninfo, _now, password=location.password())
        try:
            await target.open()
            counts = await copy_state(source, target.db)
        finally:
            await source.close()
            await target.close()
    except (StoreError, StoreUrlError) as exc:
        print(f"bexsyncd migrate: {exc}", file=sys.stderr)
        return 1
    finally:
        lock.release()
    wrong = [c for c in counts if c.source != c.target]
    for c in counts:
        print(f"{c.table:18} {c.source:8} -> {c.target:8}{'  MISMATCH' if c in wrong else ''}")
    if wrong:
        print("bexsyncd migrate: the counts differ; keep using the SQLite state", file=sys.stderr)
        return 1
    print(f"copied to {location.shown}; set [store] url to it and start the daemons")
    return 0


def _now() -> datetime:
    return datetime.now(UTC)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return asyncio.run(migrate(args.to, args.password_file, args.state_dir or default_state_dir()))
