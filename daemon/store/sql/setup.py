"""What is set up before anything syncs: the PMS connection, its administrations, the
authorisations with their sealed credentials and logins in progress."""

from __future__ import annotations

from collections.abc import Sequence

from daemon.formats import dumps
from daemon.store.interface import (
    AdministrationRepository,
    AuthorisationRepository,
    CredentialRepository,
    PendingLoginRepository,
    PmsRepository,
)
from daemon.store.records import (
    Administration,
    Authorisation,
    JsonObject,
    NewNotification,
    NewPendingLogin,
    Notification,
    PendingLogin,
    PmsConnection,
    Sealed,
)
from daemon.store.sql import rows
from daemon.store.sql.base import Repository, add_notification


class SqlPms(Repository, PmsRepository):
    async def get(self) -> PmsConnection | None:
        row = await self._db.fetchone("SELECT * FROM pms_connection WHERE id = 1")
        return None if row is None else rows.pms_connection(row)

    async def pending_login(self) -> PendingLogin | None:
        row = await self._db.fetchone("SELECT data, expires_at FROM pms_pending_login WHERE id = 1")
        return None if row is None else rows.pending_login(row, authorisation_id=None)

    async def start_login(self, pending: NewPendingLogin) -> None:
        await self._db.execute(
            "INSERT INTO pms_pending_login (id, data, expires_at) VALUES (1, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            (pending.data, pending.expires_at),
        )

    async def save_token(self, token: Sealed) -> None:
        await self._db.execute(
            "UPDATE pms_connection SET token = ?, updated_at = ? WHERE id = 1 AND auth = 'oauth'",
            (token, self._now()),
        )

    async def connect(
        self,
        *,
        base_url: str,
        auth: str,
        api_key: Sealed | None,
        token: Sealed | None,
        message: str,
        administrations: Sequence[Administration],
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO pms_connection (id, kind, base_url, api_key, auth, token, status, "
                "message, updated_at) VALUES (1, 'bex', ?, ?, ?, ?, 'connected', ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET base_url = excluded.base_url, "
                "api_key = excluded.api_key, auth = excluded.auth, token = excluded.token, "
                "status = excluded.status, message = excluded.message, "
                "updated_at = excluded.updated_at",
                (base_url, api_key, auth, token, message, self._now()),
            )
            await tx.execute("DELETE FROM pms_pending_login")  # superseded by this one
            await tx.executemany(
                "INSERT INTO administrations (id, number, name, currency, timezone) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET number = excluded.number, "
                "name = excluded.name, currency = excluded.currency, timezone = excluded.timezone",
                [(a.id, a.number, a.name, a.currency, a.timezone) for a in administrations],
            )

    async def mark_lost(self, message: str, note: NewNotification) -> Notification:
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE pms_connection SET status = 'error', message = ?, updated_at = ? "
                "WHERE id = 1",
                (message, now),
            )
            return await add_notification(tx, note, now)


class SqlAdministrations(Repository, AdministrationRepository):
    async def all(self) -> list[Administration]:
        found = await self._db.fetchall("SELECT * FROM administrations ORDER BY number, id")
        return [rows.administration(r) for r in found]

    async def get(self, admin_id: str) -> Administration | None:
        row = await self._db.fetchone("SELECT * FROM administrations WHERE id = ?", (admin_id,))
        return None if row is None else rows.administration(row)

    async def set_access(
        self, admin_id: str, access: bool, note: NewNotification | None = None
    ) -> Notification | None:
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE administrations SET access = ? WHERE id = ?", (int(access), admin_id)
            )
            return None if note is None else await add_notification(tx, note, now)


class SqlAuthorisations(Repository, AuthorisationRepository):
    async def all(self) -> list[Authorisation]:
        found = await self._db.fetchall(rows.AUTHORISATIONS + " ORDER BY a.name")
        return [rows.authorisation(r) for r in found]

    async def get(self, auth_id: int) -> Authorisation | None:
        row = await self._db.fetchone(rows.AUTHORISATIONS + " WHERE a.id = ?", (auth_id,))
        return None if row is None else rows.authorisation(row)

    async def find_by_name(self, name: str) -> Authorisation | None:
        # The column is COLLATE NOCASE (both backends): "Books" and "books" are the same name.
        row = await self._db.fetchone(rows.AUTHORISATIONS + " WHERE a.name = ?", (name,))
        return None if row is None else rows.authorisation(row)

    async def create(
        self,
        *,
        name: str,
        provider: str,
        status_message: str,
        settings: JsonObject,
        pending: NewPendingLogin | None,
    ) -> int:
        now = self._now()
        async with self._db.transaction() as tx:
            auth_id = await tx.insert(
                "INSERT INTO authorisations (name, provider, status, status_message, settings, "
                "created_at, updated_at) VALUES (?, ?, 'inactive', ?, ?, ?, ?)",
                (name, provider, status_message, dumps(settings), now, now),
            )
            if pending is not None:
                await tx.execute(
                    "INSERT INTO pending_logins VALUES (?, ?, ?)",
                    (auth_id, pending.data, pending.expires_at),
                )
        return auth_id

    async def record_login(
        self, auth_id: int, *, credentials: Sealed, settings: JsonObject, status_message: str
    ) -> None:
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO credentials VALUES (?, ?, ?) ON CONFLICT(authorisation_id) "
                "DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (auth_id, credentials, now),
            )
            await tx.execute("DELETE FROM pending_logins WHERE authorisation_id = ?", (auth_id,))
            await tx.execute(
                "UPDATE authorisations SET settings = ?, status = 'inactive', "
                "status_message = ?, updated_at = ? WHERE id = ?",
                (dumps(settings), status_message, now, auth_id),
            )

    async def set_settings(self, auth_id: int, settings: JsonObject) -> None:
        await self._db.execute(
            "UPDATE authorisations SET settings = ? WHERE id = ?", (dumps(settings), auth_id)
        )

    async def set_status(
        self, auth_id: int, status: str, message: str, note: NewNotification | None = None
    ) -> Notification | None:
        now = self._now()
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE authorisations SET status = ?, status_message = ?, updated_at = ? "
                "WHERE id = ?",
                (status, message, now, auth_id),
            )
            return None if note is None else await add_notification(tx, note, now)

    async def delete(self, auth_id: int) -> None:
        await self._db.execute("DELETE FROM authorisations WHERE id = ?", (auth_id,))


class SqlCredentials(Repository, CredentialRepository):
    async def get(self, auth_id: int) -> Sealed | None:
        value = await self._db.fetchval(
            "SELECT data FROM credentials WHERE authorisation_id = ?", (auth_id,)
        )
        return None if value is None else str(value)

    async def replace(self, auth_id: int, credentials: Sealed) -> None:
        await self._db.execute(
            "UPDATE credentials SET data = ?, updated_at = ? WHERE authorisation_id = ?",
            (credentials, self._now(), auth_id),
        )


class SqlPendingLogins(Repository, PendingLoginRepository):
    async def get(self, auth_id: int) -> PendingLogin | None:
        row = await self._db.fetchone(
            "SELECT data, expires_at FROM pending_logins WHERE authorisation_id = ?", (auth_id,)
        )
        return None if row is None else rows.pending_login(row, authorisation_id=auth_id)

    async def all(self) -> list[PendingLogin]:
        found = await self._db.fetchall(
            "SELECT authorisation_id, data, expires_at FROM pending_logins"
        )
        return [rows.pending_login(r) for r in found]

    async def replace(self, auth_id: int, pending: NewPendingLogin | None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM pending_logins WHERE authorisation_id = ?", (auth_id,))
            if pending is not None:
                await tx.execute(
                    "INSERT INTO pending_logins VALUES (?, ?, ?)",
                    (auth_id, pending.data, pending.expires_at),
                )
