"""Backup and restore of the daemon's SQLite database, and the state dir lock they respect.

The copying is the SQLite backend's (``daemon.store.backup``): one consistent snapshot, while
the daemon keeps writing (WAL): no need to stop the service. The copy is checked with
an integrity check, converted to a self-contained file (no -wal) and only then renamed
into place, mode 0600 (it holds tokens).

A restore replaces the database under the state dir and so must never happen under a running
daemon: the daemon holds an exclusive `flock` on `state_dir/bexsyncd.lock` for its lifetime
(`lock_state_dir`), and a restore takes the same lock or refuses.

    python -m daemon.backup backup  --state-dir /var/lib/bexsync /var/backups/bexsync/
    python -m daemon.backup restore --state-dir /var/lib/bexsync /var/backups/bexsync/X.sqlite3
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from daemon.statelock import LOCK_NAME, StateDirLocked, lock_state_dir
from daemon.store.backup import (
    BackupError,
    backup_database,
    backup_database_sync,
    restore_database_file,
)
from daemon.store.db import DB_NAME

__all__ = [
    "LOCK_NAME",
    "BackupError",
    "StateDirLocked",
    "backup_database",
    "backup_database_sync",
    "lock_state_dir",
    "main",
    "restore_database",
]


def restore_database(backup: Path, state_dir: Path) -> Path | None:
    """Replace the state dir's database with `backup`; the daemon must be stopped.

    The current database (with its -wal) is kept beside it as
    `bexsync.sqlite3.pre-restore-<time>`; that path is returned (None if there was none).
    """
    backup, state_dir = Path(backup), Path(state_dir)
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    if not state_dir.is_dir():
        raise BackupError(f"state dir {state_dir} does not exist")
    with lock_state_dir(state_dir):
        return restore_database_file(backup, state_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m daemon.backup backup|restore ...`: exit 0 done, 1 refused or failed."""
    from daemon.config import default_state_dir

    parser = argparse.ArgumentParser(prog="python -m daemon.backup", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None, help="default: as bexsyncd")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="copy the live database (the daemon may keep running)")
    b.add_argument("dest", type=Path, help="a file, or a directory for a timestamped name")
    r = sub.add_parser("restore", help="replace the database with a backup (daemon stopped)")
    r.add_argument("backup", type=Path)
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir or default_state_dir()
    try:
        if args.command == "backup":
            done = backup_database_sync(state_dir / DB_NAME, args.dest)
            print(f"backup written to {done}")
        else:
            kept = restore_database(args.backup, state_dir)
            print(f"restored {args.backup} into {state_dir / DB_NAME}")
            if kept is not None:
                print(f"the previous database was kept as {kept}")
    except (BackupError, StateDirLocked, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
