"""The daemon's state: one SQLite database (WAL, foreign keys) with versioned migrations."""

from daemon.store.db import Database, open_database

__all__ = ["Database", "open_database"]
