"""The daemon's state behind one typed interface (``Store``): every SQL statement lives here.

What the rest of the daemon imports: the interface (``interface``), its records (``records``)
and errors (``errors``). The SQLite backend is ``sqlite`` (with ``db`` and ``migrations``).
"""

from daemon.store.errors import (
    AlreadySynced,
    Duplicate,
    StateDirError,
    StoreError,
    StoreUnavailable,
    Superseded,
)
from daemon.store.interface import Store

__all__ = [
    "AlreadySynced",
    "Duplicate",
    "StateDirError",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Superseded",
]
