"""Authorisations: a named login at one provider, inactive until Activate verifies it."""

from __future__ import annotations

import sqlite3
from typing import Any

from daemon.errors import (
    AuthorisationRequired,
    Conflict,
    NotFound,
    ProviderFailure,
    ValidationFailed,
)
from daemon.model import FieldProblem, validate_authorisation_name
from daemon.services.common import dumps, iso, loads
from providers import registry
from providers.errors import ProviderError
from providers.login import LoginContext, LoginStart


def shape(row: sqlite3.Row) -> dict[str, Any]:
    settings = loads(row["settings"], {})
    return {
        "id": row["id"],
        "name": row["name"],
        "provider": row["provider"],
        "status": row["status"],
        "status_message": row["status_message"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "configuration_count": row["configuration_count"],
        "tenant_id": settings.get("tenant_id"),
        "tenant_name": settings.get("tenant_name"),
        "login_pending": bool(row["login_pending"]),
        "logged_in": bool(row["logged_in"]),
    }


SELECT = (
    "SELECT a.*, (SELECT count(*) FROM configurations c WHERE c.authorisation_id = a.id) "
    "AS configuration_count, EXISTS (SELECT 1 FROM pending_logins p "
    "WHERE p.authorisation_id = a.id) AS login_pending, EXISTS (SELECT 1 FROM credentials k "
    "WHERE k.authorisation_id = a.id) AS logged_in FROM authorisations a"
)


class Authorisations:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def list(self) -> list[dict[str, Any]]:
        rows = await self.app.db.fetchall(SELECT + " ORDER BY a.name")
        return [shape(r) for r in rows]

    async def row(self, auth_id: int) -> sqlite3.Row:
        row = await self.app.db.fetchone(SELECT + " WHERE a.id = ?", (auth_id,))
        if row is None:
            raise NotFound(f"No authorisation with id {auth_id}.")
        return row

    async def get(self, auth_id: int) -> dict[str, Any]:
        return shape(await self.row(auth_id))

    async def require_active(self, auth_id: int) -> sqlite3.Row:
        row = await self.row(auth_id)
        if row["status"] != "active":
            raise AuthorisationRequired(
                f"Authorisation {row['name']!r} is {row['status']}; activate it first."
                + (f" ({row['status_message']})" if row["status_message"] else ""),
                details={"authorisation_id": auth_id, "status": row["status"]},
            )
        return row

    def login_context(self, provider: str, options: dict[str, Any] | None = None) -> LoginContext:
        return LoginContext(
            provider_id=provider,
            settings=self.app.config.provider(provider),
            redirect_uri=self.app.oauth_redirect_uri(),
            now=self.app.clock().timestamp(),
            options=options or {},
            transport=self.app.provider_transport,
        )

    def _provider_problems(self, provider: str) -> list[FieldProblem]:
        """Why a login to ``provider`` cannot start: unknown, or its app is not registered."""
        spec = registry.get(provider)
        if spec is None:
            known = ", ".join(s.info.id for s in registry.all_specs())
            return [FieldProblem("provider", f"unknown provider {provider!r}; one of {known}")]
        if spec.needs_app_registration and not self.app.config.provider(provider).registered:
            return [
                FieldProblem(
                    "provider",
                    f"register a {spec.info.title} app first: set client_id and "
                    f"client_secret_file in [providers.{provider}] of the config file",
                )
            ]
        return []

    async def _begin_login(self, provider: str, options: dict[str, Any]) -> LoginStart:
        """The provider's first login step (URL, device code, form or nothing)."""
        spec = registry.get(provider)
        assert spec is not None  # checked by _provider_problems
        try:
            return await spec.login.begin(self.login_context(provider, options))
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None

    async def _save_pending(self, conn: Any, auth_id: int, start: LoginStart) -> None:
        """The login's secret state (PKCE verifier, device code) replaces any older one."""
        await conn.execute("DELETE FROM pending_logins WHERE authorisation_id = ?", (auth_id,))
        if start.pending is not None:
            await conn.execute(
                "INSERT INTO pending_logins VALUES (?, ?, ?)",
                (auth_id, self.app.seal(start.pending), start.expires_at or 0),
            )

    async def _login_started(self, auth_id: int, start: LoginStart) -> dict[str, Any]:
        """Announce the login, let the daemon finish it by itself where it can, and answer."""
        auth = await self.get(auth_id)
        self.app.bus.publish("authorisation.updated", auth)
        if start.next_step.get("kind") == "open_url":
            self.app.expect_redirect(auth_id, start.pending)
        if start.next_step.get("kind") == "device_code":
            self.app.poll_device_login(auth_id)
        return {"authorisation": auth, "next_step": start.next_step}

    async def create(
        self, name: str, provider: str, settings: dict[str, Any] | None
    ) -> dict[str, Any]:
        problems = validate_authorisation_name(name) + self._provider_problems(provider)
        if problems:
            raise ValidationFailed("The authorisation cannot be created.", errors=problems)
        name = name.strip()
        existing = await self.app.db.fetchone(
            "SELECT id FROM authorisations WHERE name = ?", (name,)
        )
        if existing is not None:
            raise Conflict(f"An authorisation named {name!r} already exists.")
        options = dict(settings or {})
        start = await self._begin_login(provider, options)
        now = iso(self.app.clock())
        try:
            async with self.app.db.transaction() as conn:
                cur = await conn.execute(
                    "INSERT INTO authorisations (name, provider, status, status_message, "
                    "settings, created_at, updated_at) VALUES (?, ?, 'inactive', ?, ?, ?, ?)",
                    (name, provider, "Not verified yet: activate it.", dumps(options), now, now),
                )
                auth_id = int(cur.lastrowid or 0)
                await self._save_pending(conn, auth_id, start)
        except sqlite3.IntegrityError:
            raise Conflict(f"An authorisation named {name!r} already exists.") from None
        return await self._login_started(auth_id, start)

    async def login(self, auth_id: int) -> dict[str, Any]:
        """Log in again (a refused or expired login): the same steps as ``create``.

        The old credentials stay until ``complete`` replaces them; the status stays as it is
        until then, and ``complete`` leaves it inactive for ``activate`` to verify, as after
        ``create``.
        """
        row = await self.row(auth_id)
        problems = self._provider_problems(row["provider"])
        if problems:
            raise ValidationFailed("This authorisation cannot log in again.", errors=problems)
        start = await self._begin_login(row["provider"], loads(row["settings"], {}))
        async with self.app.db.transaction() as conn:
            await self._save_pending(conn, auth_id, start)
        return await self._login_started(auth_id, start)

    async def complete(
        self,
        auth_id: int,
        redirect_url: str | None,
        code: str | None,
        credentials: dict[str, Any] | None,
    ) -> dict[str, Any]:
        row = await self.row(auth_id)
        spec = registry.get(row["provider"])
        if spec is None:
            raise ValidationFailed(
                "This authorisation's provider is no longer known.",
                errors=[FieldProblem("provider", f"unknown provider {row['provider']!r}")],
            )
        pending_row = await self.app.db.fetchone(
            "SELECT data FROM pending_logins WHERE authorisation_id = ?", (auth_id,)
        )
        pending = self.app.unseal(pending_row["data"]) if pending_row else None
        options = loads(row["settings"], {})
        try:
            result = await spec.login.complete(
                self.login_context(row["provider"], options),
                pending,
                redirect_url=redirect_url,
                code=code,
                credentials=credentials,
            )
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None
        await self.store_login(auth_id, result.credentials, {**options, **result.options})
        return await self.get(auth_id)

    async def store_login(
        self, auth_id: int, credentials: dict[str, Any], options: dict[str, Any]
    ) -> None:
        now = iso(self.app.clock())
        async with self.app.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO credentials VALUES (?, ?, ?) ON CONFLICT(authorisation_id) "
                "DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (auth_id, self.app.seal(credentials), now),
            )
            await conn.execute("DELETE FROM pending_logins WHERE authorisation_id = ?", (auth_id,))
            await conn.execute(
                "UPDATE authorisations SET settings = ?, status = 'inactive', "
                "status_message = 'Logged in; activate it to verify the connection.', "
                "updated_at = ? WHERE id = ?",
                (dumps(options), now, auth_id),
            )
        self.app.forget_provider(auth_id)
        self.app.bus.publish("authorisation.updated", await self.get(auth_id))

    async def activate(self, auth_id: int, tenant_id: str | None) -> dict[str, Any]:
        row = await self.row(auth_id)
        spec = registry.get(row["provider"])
        needs_login = spec is not None and spec.login.kind != "none"
        if needs_login and not row["logged_in"]:
            raise AuthorisationRequired(
                f"Authorisation {row['name']!r} has no login yet: complete the login first.",
                details={"authorisation_id": auth_id, "status": row["status"]},
            )
        options = loads(row["settings"], {})
        self.app.forget_provider(auth_id)
        try:
            provider = await self.app.provider_for(auth_id)
            result = await provider.verify()
            tenants = list(result.tenants)
        except ProviderError as exc:
            await self.set_status(auth_id, "error", exc.message)
            return await self.get(auth_id)
        if tenant_id is not None:
            match = [t for t in tenants if t.id == tenant_id]
            if not match:
                raise ValidationFailed(
                    "That tenant is not one this login can reach.",
                    errors=[FieldProblem("tenant_id", f"unknown tenant {tenant_id!r}")],
                    details={"tenants": [{"id": t.id, "name": t.name} for t in tenants]},
                )
            options.update(tenant_id=match[0].id, tenant_name=match[0].name)
        elif len(tenants) == 1:
            options.update(tenant_id=tenants[0].id, tenant_name=tenants[0].name)
        elif len(tenants) > 1 and options.get("tenant_id") not in {t.id for t in tenants}:
            raise ValidationFailed(
                "This login reaches several organisations; say which one with tenant_id.",
                errors=[
                    FieldProblem("tenant_id", "choose one of the tenants listed in data.tenants")
                ],
                details={"tenants": [{"id": t.id, "name": t.name} for t in tenants]},
            )
        await self.app.db.execute(
            "UPDATE authorisations SET settings = ? WHERE id = ?", (dumps(options), auth_id)
        )
        await self.set_status(auth_id, "active", result.message)
        await self._fill_ledger_names(auth_id, options.get("tenant_id"))
        return await self.get(auth_id)

    async def _fill_ledger_names(self, auth_id: int, tenant: str | None) -> None:
        """Configurations made before activation show the ledger's name once it can be read."""
        rows = await self.app.db.fetchall(
            "SELECT id, ledger_id, tenant_id FROM configurations "
            "WHERE authorisation_id = ? AND ledger_name = ''",
            (auth_id,),
        )
        for row in rows:
            name = await self.app.configurations.ledger_name(
                auth_id, row["ledger_id"], row["tenant_id"] or tenant
            )
            if name:
                await self.app.db.execute(
                    "UPDATE configurations SET ledger_name = ? WHERE id = ?", (name, row["id"])
                )

    async def set_status(self, auth_id: int, status: str, message: str) -> None:
        await self.app.db.execute(
            "UPDATE authorisations SET status = ?, status_message = ?, updated_at = ? WHERE id = ?",
            (status, message[:500], iso(self.app.clock()), auth_id),
        )
        self.app.wake_scheduler()  # an authorisation's status decides what may be scheduled
        self.app.bus.publish("authorisation.updated", await self.get(auth_id))

    async def auth_lost(self, auth_id: int, message: str) -> None:
        """A login can no longer refresh: mark it, and tell the user to log in again."""
        row = await self.row(auth_id)
        await self.set_status(auth_id, "error", message)
        await self.app.notifications.create(
            "error",
            f"Log in again to {row['name']}",
            f"The {row['provider']} login of {row['name']!r} stopped working: {message} "
            "Open the authorisation and log in again; syncs wait until then.",
            {"kind": "authorisations", "authorisation_id": auth_id},
        )

    async def delete(self, auth_id: int) -> dict[str, Any]:
        row = await self.row(auth_id)
        if row["configuration_count"]:
            raise Conflict(
                f"Authorisation {row['name']!r} still has {row['configuration_count']} "
                "configuration(s); delete those first."
            )
        await self.app.db.execute("DELETE FROM authorisations WHERE id = ?", (auth_id,))
        self.app.forget_provider(auth_id)
        self.app.bus.publish("authorisation.updated", {"id": auth_id, "deleted": True})
        return {"deleted": True}
