"""Authorisations: a named login at one provider, inactive until Activate verifies it."""

from __future__ import annotations

from typing import Any

from daemon.errors import (
    AuthorisationRequired,
    Conflict,
    NotFound,
    ProviderFailure,
    ValidationFailed,
)
from daemon.model import FieldProblem, validate_authorisation_name
from daemon.store.errors import Duplicate
from daemon.store.records import Authorisation, NewNotification, NewPendingLogin
from providers import registry
from providers.errors import ProviderError
from providers.login import LoginContext, LoginStart


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

    def _pending(self, start: LoginStart) -> NewPendingLogin | None:
        """The login's secret state (PKCE verifier, device code), sealed."""
        if start.pending is None:
            return None
        return NewPendingLogin(self.app.seal(start.pending), start.expires_at or 0)

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
        existing = await self.app.store.authorisations.find_by_name(name)
        if existing is not None:
            raise Conflict(f"An authorisation named {name!r} already exists.")
        options = dict(settings or {})
        start = await self._begin_login(provider, options)
        try:
            auth_id = await self.app.store.authorisations.create(
                name=name,
                provider=provider,
                status_message="Not verified yet: activate it.",
                settings=options,
                pending=self._pending(start),
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
        start = await self._begin_login(auth.provider, auth.settings)
        await self.app.store.logins.replace(auth_id, self._pending(start))
        return await self._login_started(auth_id, start)

    async def complete(
        self,
        auth_id: int,
        redirect_url: str | None,
        code: str | None,
        credentials: dict[str, Any] | None,
    ) -> dict[str, Any]:
        auth = await self.row(auth_id)
        spec = registry.get(auth.provider)
        if spec is None:
            raise ValidationFailed(
                "This authorisation's provider is no longer known.",
                errors=[FieldProblem("provider", f"unknown provider {auth.provider!r}")],
            )
        stored = await self.app.store.logins.get(auth_id)
        pending = self.app.unseal(stored.data) if stored else None
        options = auth.settings
        try:
            result = await spec.login.complete(
                self.login_context(auth.provider, options),
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
        await self.app.store.authorisations.record_login(
            auth_id,
            credentials=self.app.seal(credentials),
            settings=options,
            status_message="Logged in; activate it to verify the connection.",
        )
        self.app.forget_provider(auth_id)
        self.app.bus.publish("authorisation.updated", await self.get(auth_id))

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
        self.app.forget_provider(auth_id)
        self.app.bus.publish("authorisation.updated", {"id": auth_id, "deleted": True})
        return {"deleted": True}
