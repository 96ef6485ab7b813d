"""Where the state lives: ``[store] url`` and the backend it selects.

``sqlite:///path/to/bexsync.sqlite3`` (the default: ``bexsync.sqlite3`` in the state dir) or
``postgresql://user@host[:port]/database[?host=/run/postgresql]``. A password never goes in
the URL (it would reach logs, ``daemon.status`` and ``ps``): it comes from ``password_file``
(a bare name is looked up in ``$CREDENTIALS_DIRECTORY``) or libpq's own ``~/.pgpass``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from daemon.formats import Clock
from daemon.store.coordination import DEFAULT_LEASE_SECONDS, Coordination, LocalCoordination
from daemon.store.db import DB_NAME
from daemon.store.interface import Store
from providers.redact import register_secret
from providers.tokens import resolve_credential_path

SCHEMES = ("sqlite", "postgresql", "postgres")


class StoreUrlError(ValueError):
    """The URL or its password file cannot be used; the message never holds a password."""


@dataclass(frozen=True)
class StoreLocation:
    backend: str
    """``sqlite`` or ``postgresql``."""
    sqlite_path: Path | None = None
    conninfo: str = ""
    """The PostgreSQL URL as given: no password in it."""
    password_file: str | None = None
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    """How long a silent daemon's leases stay its own before its peers take over."""

    @property
    def shown(self) -> str:
        """What logs and ``daemon.status`` show."""
        return f"sqlite://{self.sqlite_path}" if self.sqlite_path else self.conninfo

    def password(self) -> str | None:
        """The password file's content (registered for log redaction), or None."""
        if self.password_file is None:
            return None
        path = resolve_credential_path(self.password_file)
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StoreUrlError(
                f"store password_file {str(path)!r} cannot be read: {exc.strerror}"
            ) from None
        if not secret:
            raise StoreUrlError(f"store password_file {str(path)!r} is empty")
        register_secret(secret)
        return secret

    def open_store(self, state_dir: Path, clock: Clock) -> Store:
        """The (unopened) store of this location."""
        if self.backend == "sqlite":
            from daemon.store.sqlite import SqliteStore

            path = self.sqlite_path or state_dir / DB_NAME
            return SqliteStore(path.parent, clock, name=path.name)
        from daemon.store.postgres import PostgresStore

        return PostgresStore(self.conninfo, clock, password=self.password())

    def coordination(self, store: Store, node_id: str, clock: Clock) -> Coordination:
        """How this daemon shares the work: alone on SQLite, with its peers on PostgreSQL."""
        from daemon.store.postgres import PostgresStore
        from daemon.store.postgres.coordination import PgCoordination

        if isinstance(store, PostgresStore):
            return PgCoordination(lambda: store.db, node_id, clock, self.lease_seconds)
        return LocalCoordination(node_id, clock, self.lease_seconds)


def parse_store_url(
    url: str | None,
    password_file: str | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> StoreLocation:
    """``StoreUrlError`` for an unknown scheme, a relative SQLite path or a password in a URL."""
    if url is None or url == "":
        if password_file is not None:
            raise StoreUrlError("password_file goes with a postgresql:// url")
        return StoreLocation("sqlite")
    scheme, _, rest = url.partition("://")
    if scheme not in SCHEMES or not _:
        raise StoreUrlError("must start with sqlite:/// or postgresql://")
    if scheme == "sqlite":
        if password_file is not None:
            raise StoreUrlError("password_file goes with a postgresql:// url")
        path = Path(rest)
        if not path.is_absolute() or path.name in ("", ".", ".."):
            raise StoreUrlError("sqlite:/// needs an absolute path to the database file")
        return StoreLocation("sqlite", sqlite_path=path)
    parts = urlsplit(url)
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise StoreUrlError(
            "must not hold a password (it would show in logs and status): use password_file"
        )
    if not parts.path.strip("/"):
        raise StoreUrlError("postgresql:// needs a database name: postgresql://user@host/db")
    return StoreLocation(
        "postgresql", conninfo=url, password_file=password_file, lease_seconds=lease_seconds
    )
