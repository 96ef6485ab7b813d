"""The state dir lock: one bexsyncd per state dir, and no restore under a running one.

The daemon takes an exclusive ``flock`` on ``state_dir/bexsyncd.lock`` at start-up (before
opening the database) and keeps it until exit; the kernel drops it if the process dies, so a
crash never leaves a stale lock. ``python -m daemon.backup restore`` takes the same lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from daemon.store.backup import match_owner

LOCK_NAME = "bexsyncd.lock"


class StateDirLocked(Exception):
    """Another process (a running bexsyncd) holds the state dir lock."""


class StateLock:
    """An exclusive flock on `state_dir/bexsyncd.lock`, held until `release()`.

    The daemon takes it at start-up (before opening the database) and keeps it until exit;
    the kernel drops it if the process dies, so a crash never leaves a stale lock.
    """

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_state_dir(state_dir: Path) -> StateLock:
    """Take the state dir lock without waiting; StateDirLocked if a daemon holds it."""
    path = Path(state_dir) / LOCK_NAME
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise StateDirLocked(
            f"{state_dir} is in use by a running bexsyncd{who}; stop it first "
            "(systemctl stop bexsyncd)"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    if created:
        match_owner(path, Path(state_dir))
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return StateLock(path, fd)
