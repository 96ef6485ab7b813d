"""Authorisations: a named login at one provider, inactive until Activate verifies it."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from daemon.errors import (
    AuthorisationRequired,
    Conflict,
    NotFound,
    ValidationFailed,
)
from daemon.logins import LoginCoordinator
from daemon.model import FieldProblem, fold_name, name_key, validate_authorisation_name
from daemon.provider_pool import ProviderPool
from daemon.provider_settings import ProviderSettingsBook
from daemon.publisher import EventPublisher
from daemon.services.ledgers import ledger_name
from daemon.services.notifications import Notifications
from daemon.store.errors import Duplicate
from daemon.store.interface import Store
from daemon.store.records import Authorisation, NewNotification
from daemon.views import authorisation_view
from providers import registry
from providers.errors import ProviderError
from providers.login import LoginStart


async def find_authorisation(store: Store, auth_id: int) -> Authorisation:
    auth = await store.authorisations.get(auth_id)
    if auth is None:
        raise NotFound(f"No authorisation with id {auth_id}.")
    return auth


async def active_authorisation(store: Store, auth_id: int) -> Authorisation:
    """The authorisation, if it is active: syncs and configurations need a verified login."""
    auth = await find_authorisation(store, auth_id)
    if auth.status != "active":
        raise AuthorisationRequired(
            f"Authorisation {auth.name!r} is {auth.status}; activate it first."
            + (f" ({auth.status_message})" if auth.status_message else ""),
            details={"authorisation_id": auth_id, "status": auth.status},
        )
    return auth


class AuthorisationStatus:
    """An authorisation's status (inactive, active, error) and the login going bad: what the
    scheduler may run depends on it, so every change wakes it."""

    def __init__(
        self,
        *,
        store: Store,
        events: EventPublisher,
        notifications: Notifications,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._events = events
        self._notifications = notifications
        self._wake = wake

    async def set(
        self, auth_id: int, status: str, message: str, note: NewNotification | None = None
    ) -> None:
        created = await self._store.authorisations.set_status(auth_id, status, message[:500], note)
        self._wake()
        auth = await find_authorisation(self._store, auth_id)
        self._events.publish("authorisation.updated", authorisation_view(auth))
        self._notifications.publish(created)

    async def lost(self, auth_id: int, message: str) -> None:
        """A login can no longer refresh: mark it, and tell the user to log in again."""
        auth = await find_authorisation(self._store, auth_id)
        note = NewNotification(
            "error",
            f"Log in again to {auth.name}",
            f"The {auth.provider} login of {auth.name!r} stopped working: {message} "
            "Open the authorisation and log in again; syncs wait until then.",
            {"kind": "authorisations", "authorisation_id": auth_id},
        )
        await self.set(auth_id, "error", message, note)


class Authorisations:
    def __init__(
        self,
        *,
        store: Store,
        logins: LoginCoordinator,
        pool: ProviderPool,
        status: AuthorisationStatus,
        settings: ProviderSettingsBook,
        events: EventPublisher,
    ) -> None:
        self._store = store
        self._logins = logins
        self._pool = pool
        self._status = status
        self._settings = settings
        self._events = events

    async def list(self) -> list[dict[str, Any]]:
        return [authorisation_view(a) for a in await self._store.authorisations.all()]

    async def get(self, auth_id: int) -> dict[str, Any]:
        return authorisation_view(await find_authorisation(self._store, auth_id))

    def _provider_problems(self, provider: str) -> builtins.list[FieldProblem]:
        """Why a login to ``provider`` cannot start: unknown, or its app is not registered."""
        spec = registry.get(provider)
        if spec is None:
            known = ", ".join(s.info.id for s in registry.all_specs())
            return [FieldProblem("provider", f"unknown provider {provider!r}; one of {known}")]
        if spec.needs_app_registration and not self._settings.get(provider).registered:
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
        self._events.publish("authorisation.updated", auth)
        self._logins.watch(auth_id, start)
        return {"authorisation": auth, "next_step": start.next_step}

    async def create(
        self, name: str, provider: str, settings: dict[str, Any] | None
    ) -> dict[str, Any]:
        problems = validate_authorisation_name(name) + self._provider_problems(provider)
        if problems:
            raise ValidationFailed("The authorisation cannot be created.", errors=problems)
        name = fold_name(name)
        key = name_key(name)
        taken = [a.name for a in await self._store.authorisations.all() if name_key(a.name) == key]
        if taken:
            raise Conflict(
                f"An authorisation named {taken[0]!r} already exists; names that differ only "
                "in case, width, accents' encoding or spaces are the same name."
            )
        options = dict(settings or {})
        start = await self._logins.begin(provider, options)
        try:
            auth_id = await self._store.authorisations.create(
                name=name,
                provider=provider,
                status_message="Not verified yet: activate it.",
                settings=options,
                pending=self._logins.pending(start),
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
        auth = await find_authorisation(self._store, auth_id)
        problems = self._provider_problems(auth.provider)
        if problems:
            raise ValidationFailed("This authorisation cannot log in again.", errors=problems)
        start = await self._logins.begin(auth.provider, auth.settings)
        await self._store.logins.replace(auth_id, self._logins.pending(start))
        return await self._login_started(auth_id, start)

    async def complete(
        self,
        auth_id: int,
        redirect_url: str | None,
        code: str | None,
        credentials: dict[str, Any] | None,
    ) -> dict[str, Any]:
        await self._logins.complete(
            await find_authorisation(self._store, auth_id), redirect_url, code, credentials
        )
        return await self.get(auth_id)

    async def activate(self, auth_id: int, tenant_id: str | None) -> dict[str, Any]:
        auth = await find_authorisation(self._store, auth_id)
        spec = registry.get(auth.provider)
        needs_login = spec is not None and spec.login.kind != "none"
        if needs_login and not auth.logged_in:
            raise AuthorisationRequired(
                f"Authorisation {auth.name!r} has no login yet: complete the login first.",
                details={"authorisation_id": auth_id, "status": auth.status},
            )
        options = dict(auth.settings)
        self._pool.forget(auth_id)
        try:
            provider = await self._pool.provider_for(auth_id)
            result = await provider.verify()
            tenants = list(result.tenants)
        except ProviderError as exc:
            await self._status.set(auth_id, "error", exc.message)
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
        await self._store.authorisations.set_settings(auth_id, options)
        await self._status.set(auth_id, "active", result.message)
        await self._fill_ledger_names(auth_id, options.get("tenant_id"))
        shaped = await self.get(auth_id)
        reaching = [
            a
            for a in await self._store.authorisations.all()
            if a.id != auth_id
            and a.status == "active"
            and a.provider == auth.provider
            and (a.settings.get("tenant_id") or "") == (options.get("tenant_id") or "")
        ]
        if reaching:  # one ledger, one feed: say so now, refuse duplicate configurations later
            names = ", ".join(repr(a.name) for a in reaching)
            shaped["warning"] = (
                f"Authorisation {names} already reaches this {auth.provider} organisation"
                + (f" ({options['tenant_name']})" if options.get("tenant_name") else "")
                + ": a configuration of both for the same administration and ledger would post "
                "every period twice, so bexsync refuses one unless allow_duplicate_target is set."
            )
        return shaped

    async def _fill_ledger_names(self, auth_id: int, tenant: str | None) -> None:
        """Configurations made before activation show the ledger's name once it can be read."""
        for cfg in await self._store.configurations.without_ledger_name(auth_id):
            name = await ledger_name(self._pool, auth_id, cfg.ledger_id, cfg.tenant_id or tenant)
            if name:
                await self._store.configurations.set_ledger_name(cfg.id, name)

    async def delete(self, auth_id: int) -> dict[str, Any]:
        auth = await find_authorisation(self._store, auth_id)
        if auth.configuration_count:
            raise Conflict(
                f"Authorisation {auth.name!r} still has {auth.configuration_count} "
                "configuration(s); delete those first."
            )
        await self._store.authorisations.delete(auth_id)
        self._pool.forget(auth_id)
        self._events.publish("authorisation.updated", {"id": auth_id, "deleted": True})
        return {"deleted": True}
