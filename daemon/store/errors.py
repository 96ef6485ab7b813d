"""What can go wrong in the store, whatever the backend: the engine retries on these, never on a
driver's own exceptions."""

from __future__ import annotations


class StoreError(Exception):
    """The store refused or failed a read or a write; nothing of that write was kept."""


class StoreUnavailable(StoreError):
    """The store cannot be written or read right now (disk full, I/O error, locked): the same
    write may succeed later."""


class Duplicate(StoreError):
    """A uniqueness rule refused the write (a second active run, a name already taken, ...)."""


class AlreadySynced(StoreError):
    """The period already has an entry (or was settled as empty) and no correction was allowed."""


class StateDirError(StoreError):
    """The state directory or database cannot be used safely (wrong owner, a symlink, a schema
    newer than this bexsync understands, ...)."""


class DatabaseDamaged(StateDirError):
    """The database file exists but is empty, truncated or corrupt: the daemon must not start
    on it (nor on a fresh one in its place); the message names the file and the restore."""
