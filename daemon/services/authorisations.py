"""Authorisations: a named login at one provider, inactive until Activate verifies it."""

from __future__ import annotations

from typing import Any

from daemon.errors import (
    AuthorisationRequired,
    Conflict,
    NotFound,
    ValidationFailed,
)
from daemon.model import FieldProblem, validate_authorisation_name
from daemon.store.errors import Duplicate
from daemon.store.records import Authorisation, NewNotification
from providers import registry
from providers.errors import ProviderError
from providers.login import LoginStart


def shape(auth: Authorisation) -> dict[str, Any]:
    return {
        "id": auth.id,
        "name": auth.name,
        "provider": auth.provider,
        "status": auth.status,
        "status_message": auth.status_message,
        "created_at": auth.created_at,
        "updated_at": auth.updated_at,
        "configuration_count": auth.configuration_count,
        "tenant_id": auth.settings.get("tenant_id"),
        "tenant_name": auth.settings.get("tenant_name"),
        "login_pending": auth.login_pending,
        "logged_in": auth.logged_in,
    }


class Authorisations:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def list(self) -> list[dict[str, Any]]:
        return [shape(a) for a in await self.app.store.authorisations.all()]

    async def row(self, auth_id: int) -> Authorisation:
        auth = await self.app.store.authorisations.get(auth_id)
        if auth is None:
            raise NotFound(f"No authorisation with id {auth_id}.")
        return auth

    async def get(self, auth_id: int) -> dict[str, Any]:
        return shape(await self.row(auth_id))

    async def require_active(self, auth_id: int) -> Authorisation:
        auth = await self.row(auth_id)
        if auth.status != "active":
            raise AuthorisationRequired(
                f"Authorisation {auth.name!r} is {auth.status}; activate it first."
                + (f" ({auth.status_message})" if auth.status_message else ""),
                details={"authorisation_id": auth_id, "status": auth.status},
            )
        return auth

    def _provider_problems(self, provider: str) -> list[FieldProblem]:
        """Why a login to ``provider`` cannot start: unknown, or its app is not registered."""
        spec = registry.get(provider)
        if spec is None:
            known = ", ".join(s.info.id for s in registry.all_specs())
            return [FieldProblem("provider", f"unknown provider {provider!r}; one of {known}")]
        if spec.needs_app_registration and not self.app.provider_settings.get(provider).registered:
            return [
                FieldProblem(
                    "provider",
                    f"register a {spec.info.title} app first: set client_id and "
                    f"client_secret_file in [providers.{provider}] of the config file",
                )
            ]
        return []

    async def _login_started(self, auth_id: int, start: LoginStart) -> dict[str, Any]:
        """Announce the login, let the daemon finish it by itself where it can, and answer."""
        auth = await self.get(auth_id)
        self.app.bus.publish("authorisation.updated", auth)
        self.app.logins.watch(auth_id, start)
        return {"authorisation": auth, "next_step": start.next_step}

    async def create(
        self, name: str, provider: str, settings: dict[str, Any] | None
    ) -> dict[str, Any]:
        problems = validate_authorisation_name(name) + self._provider_problems(provider)
        if problems:
            raise ValidationFailed("The authorisation cannot be created.", errors=problems)
        name = name.strip()
        existing = await self.app.store.authorisations.find_by_name(name)
        if existing is not None:
            raise Conflict(f"An authorisation named {name!r} already exists.")
        options = dict(settings or {})
        start = await self.app.logins.begin(provider, options)
        try:
            auth_id = await self.app.store.authorisations.create(
                name=name,
                provider=provider,
                status_message="Not verified yet: activate it.",
                settings=options,
                pending=self.app.logins.pending(start),
            )
        except Duplicate:
            raise Conflict(f"An authorisation named {name!r} already exists.") from None
        return await self._login_started(auth_id, start)

    async def login(self, auth_id: int) -> dict[str, Any]:
        """Log in again (a refused or expired login): the same steps as ``create``.

        The old credentials stay until ``complete`` replaces them; the status stays as it is
        until then, and ``complete`` leaves it inactive for ``activate`` to verify, as after
        ``create``.
        """
        auth = await self.row(auth_id)
        problems = self._provider_problems(auth.provider)
        if problems:
            raise ValidationFailed("This authorisation cannot log in again.", errors=problems)
        start = await self.app.logins.begin(auth.provider, auth.settings)
        await self.app.store.logins.replace(auth_id, self.app.logins.pending(start))
        return await self._login_started(auth_id, start)

    async def complete(
        self,
        auth_id: int,
        redirect_url: str | None,
        code: str | None,
        credentials: dict[str, Any] | None,
    ) -> dict[str, Any]:
        await self.app.logins.complete(await self.row(auth_id), redirect_url, code, credentials)
        return await self.get(auth_id)

    async def activate(self, auth_id: int, tenant_id: str | None) -> dict[str, Any]:
        auth = await self.row(auth_id)
        spec = registry.get(auth.provider)
        needs_login = spec is not None and spec.login.kind != "none"
        if needs_login and not auth.logged_in:
            raise AuthorisationRequired(
                f"Authorisation {auth.name!r} has no login yet: complete the login first.",
                details={"authorisation_id": auth_id, "status": auth.status},
            )
        options = dict(auth.settings)
        self.app.providers.forget(auth_id)
        try:
            provider = await self.app.providers.provider_for(auth_id)
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
        await self.app.store.authorisations.set_settings(auth_id, options)
        await self.set_status(auth_id, "active", result.message)
        await self._fill_ledger_names(auth_id, options.get("tenant_id"))
        return await self.get(auth_id)

    async def _fill_ledger_names(self, auth_id: int, tenant: str | None) -> None:
        """Configurations made before activation show the ledger's name once it can be read."""
        for cfg in await self.app.store.configurations.without_ledger_name(auth_id):
            name = await self.app.configurations.ledger_name(
                auth_id, cfg.ledger_id, cfg.tenant_id or tenant
            )
            if name:
                await self.app.store.configurations.set_ledger_name(cfg.id, name)

    async def set_status(
        self, auth_id: int, status: str, message: str, note: NewNotification | None = None
    ) -> None:
        created = await self.app.store.authorisations.set_status(
            auth_id, status, message[:500], note
        )
        self.app.wake_scheduler()  # an authorisation's status decides what may be scheduled
        self.app.bus.publish("authorisation.updated", await self.get(auth_id))
        self.app.notifications.publish(created)

    async def auth_lost(self, auth_id: int, message: str) -> None:
        """A login can no longer refresh: mark it, and tell the user to log in again."""
        auth = await self.row(auth_id)
        note = NewNotification(
            "error",
            f"Log in again to {auth.name}",
            f"The {auth.provider} login of {auth.name!r} stopped working: {message} "
            "Open the authorisation and log in again; syncs wait until then.",
            {"kind": "authorisations", "authorisation_id": auth_id},
        )
        await self.set_status(auth_id, "error", message, note)

    async def delete(self, auth_id: int) -> dict[str, Any]:
        auth = await self.row(auth_id)
        if auth.configuration_count:
            raise Conflict(
                f"Authorisation {auth.name!r} still has {auth.configuration_count} "
                "configuration(s); delete those first."
            )
        await self.app.store.authorisations.delete(auth_id)
        self.app.providers.forget(auth_id)
        self.app.bus.publish("authorisation.updated", {"id": auth_id, "deleted": True})
        return {"deleted": True}
