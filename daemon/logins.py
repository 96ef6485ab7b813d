"""Provider logins in progress: their sealed state, the loopback listener that catches a
browser's redirect, and the background poll of a device-code login.

A login is begun (the provider's first step), kept sealed in the store while the user acts,
completed (by a pasted URL or code, a credentials form, the caught redirect, or an approved
device code) and recorded: the credentials replace the old ones and the authorisation waits
for ``activate``. The PMS's own OAuth login shares the loopback listener (``expect_redirect``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from daemon.background import Background
from daemon.errors import DaemonError, NotFound, ProviderFailure, ValidationFailed
from daemon.formats import Clock
from daemon.model import FieldProblem
from daemon.provider_pool import ProviderPool
from daemon.provider_settings import ProviderSettingsBook
from daemon.publisher import EventPublisher
from daemon.store.interface import Store
from daemon.store.records import Authorisation, NewPendingLogin
from daemon.vault import CredentialVault
from daemon.views import authorisation_view
from providers import registry
from providers.errors import ProviderError
from providers.login import LoginContext, LoginNotApproved, LoginStart
from providers.oauth import OAuthFlowError, parse_redirect_url
from providers.oauth_loopback import LoopbackCatcher, LoopbackError

log = logging.getLogger("bexsync.daemon")

RedirectRoute = Callable[[str, str | None], Awaitable[bool]]
"""Takes a caught redirect (URL, its ``state``) if it belongs to its login; True when taken."""


@dataclass(frozen=True)
class DevicePending:
    """Not approved yet: poll again at the provider's interval."""


@dataclass(frozen=True)
class DeviceApproved:
    """Approved: the login is recorded."""


@dataclass(frozen=True)
class DeviceDenied:
    """Declined in the browser, or refused by the provider."""

    message: str


@dataclass(frozen=True)
class DeviceExpired:
    """The code expired, or no device login is in progress any more."""

    message: str


DevicePoll = DevicePending | DeviceApproved | DeviceDenied | DeviceExpired


@dataclass(frozen=True)
class LoopbackSettings:
    """``oauth_loopback_port`` and ``oauth_redirect_uri`` of the config file."""

    port: int | None = None
    redirect_uri: str | None = None


class LoginCoordinator:
    def __init__(
        self,
        *,
        store: Store,
        vault: CredentialVault,
        settings: ProviderSettingsBook,
        pool: ProviderPool,
        events: EventPublisher,
        clock: Clock,
        background: Background,
        loopback: LoopbackSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._store = store
        self._vault = vault
        self._settings = settings
        self._pool = pool
        self._events = events
        self._clock = clock
        self._background = background
        self._loopback = loopback
        self._transport = transport
        self._catcher: LoopbackCatcher | None = None
        self._routes: list[RedirectRoute] = [self._provider_redirect]

    def redirect_uri(self) -> str:
        if self._loopback.redirect_uri:
            return self._loopback.redirect_uri
        return f"http://127.0.0.1:{self._loopback.port or 8765}/callback"

    def context(self, provider: str, options: dict[str, Any] | None = None) -> LoginContext:
        return LoginContext(
            provider_id=provider,
            settings=self._settings.get(provider),
            redirect_uri=self.redirect_uri(),
            now=self._clock().timestamp(),
            options=options or {},
            transport=self._transport,
        )

    # -- beginning and completing --------------------------------------------------------
    async def begin(self, provider: str, options: dict[str, Any]) -> LoginStart:
        """The provider's first login step (URL, device code, form or nothing)."""
        spec = registry.get(provider)
        if spec is None:
            raise ValidationFailed(
                "This provider is not known.",
                errors=[FieldProblem("provider", f"unknown provider {provider!r}")],
            )
        try:
            return await spec.login.begin(self.context(provider, options))
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None

    def pending(self, start: LoginStart) -> NewPendingLogin | None:
        """The login's secret state (PKCE verifier, device code), sealed for the store."""
        if start.pending is None:
            return None
        return NewPendingLogin(self._vault.seal(start.pending), start.expires_at or 0)

    def watch(self, auth_id: int, start: LoginStart) -> None:
        """Finish the login by ourselves where we can: catch the redirect, poll the device."""
        kind = start.next_step.get("kind")
        if kind == "open_url":
            self.expect_redirect()
        elif kind == "device_code":
            self._background.spawn(self._poll_device(auth_id), f"device-login-{auth_id}")

    async def complete(
        self,
        auth: Authorisation,
        redirect_url: str | None,
        code: str | None,
        credentials: dict[str, Any] | None,
    ) -> None:
        """What the user brought back, turned into stored credentials."""
        try:
            await self._complete(auth, redirect_url, code, credentials)
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None

    async def _complete(
        self,
        auth: Authorisation,
        redirect_url: str | None,
        code: str | None,
        credentials: dict[str, Any] | None,
    ) -> None:
        spec = registry.get(auth.provider)
        if spec is None:
            raise ValidationFailed(
                "This authorisation's provider is no longer known.",
                errors=[FieldProblem("provider", f"unknown provider {auth.provider!r}")],
            )
        stored = await self._store.logins.get(auth.id)
        pending = self._vault.unseal(stored.data) if stored else None
        result = await spec.login.complete(
            self.context(auth.provider, auth.settings),
            pending,
            redirect_url=redirect_url,
            code=code,
            credentials=credentials,
        )
        await self.record(auth.id, result.credentials, {**auth.settings, **result.options})

    async def record(
        self, auth_id: int, credentials: dict[str, Any], options: dict[str, Any]
    ) -> None:
        """The new login replaces the old one; ``activate`` verifies it."""
        await self._store.authorisations.record_login(
            auth_id,
            credentials=self._vault.seal(credentials),
            settings=options,
            status_message="Logged in; activate it to verify the connection.",
        )
        self._pool.forget(auth_id)
        auth = await self._store.authorisations.get(auth_id)
        if auth is not None:
            self._events.publish("authorisation.updated", authorisation_view(auth))

    # -- the loopback listener -----------------------------------------------------------
    def expect_redirect(self, route: RedirectRoute | None = None) -> None:
        """With a loopback port configured, catch the browser's redirect ourselves; ``route``
        takes redirects of a login that is not an authorisation's (the PMS's)."""
        if route is not None and route not in self._routes:
            self._routes.append(route)
        if self._loopback.port is None or self._catcher is not None:
            return
        self._catcher = LoopbackCatcher(self._loopback.port, self._caught_redirect)
        self._background.spawn(self._start_catcher(), "oauth-loopback")

    async def _start_catcher(self) -> None:
        assert self._catcher is not None
        try:
            await self._catcher.start()
        except LoopbackError as exc:
            log.warning("OAuth loopback listener not started: %s", exc)
            self._catcher = None

    async def _caught_redirect(self, url: str) -> None:
        """Find the login this redirect belongs to (by its state) and complete it."""
        state = parse_redirect_url(url).get("state")
        for route in self._routes:
            if await route(url, state):
                return
        raise OAuthFlowError(
            "oauth", "rejected", "this redirect belongs to no login in progress", reason="state"
        )

    async def _provider_redirect(self, url: str, state: str | None) -> bool:
        for login in await self._store.logins.all():
            pending = self._vault.unseal(login.data)
            flow = pending.get("flow")
            if login.authorisation_id is None or not flow or state is None:
                continue
            if json.loads(flow).get("state") == state:
                auth = await self._store.authorisations.get(login.authorisation_id)
                if auth is None:
                    raise NotFound(f"No authorisation with id {login.authorisation_id}.")
                await self.complete(auth, url, None, None)
                return True
        return False

    # -- device-code logins --------------------------------------------------------------
    async def _poll_device(self, auth_id: int) -> None:
        """Complete a device-code login in the background once the user approves it."""
        while True:
            login = await self._store.logins.get(auth_id)
            if login is None or self._clock().timestamp() > login.expires_at:
                return
            device = json.loads(self._vault.unseal(login.data).get("device", "{}"))
            await asyncio.sleep(max(1.0, float(device.get("interval", 5))))
            outcome = await self.poll_device(auth_id)
            if isinstance(outcome, DevicePending):
                continue
            if not isinstance(outcome, DeviceApproved):
                log.info("device login of authorisation %s ended: %s", auth_id, outcome.message)
            return

    async def poll_device(self, auth_id: int) -> DevicePoll:
        """Complete the device login if the user approved it; what came of asking."""
        auth = await self._store.authorisations.get(auth_id)
        if auth is None:
            return DeviceExpired(f"No authorisation with id {auth_id}.")
        try:
            await self._complete(auth, None, None, None)
        except LoginNotApproved:
            return DevicePending()
        except ProviderError as exc:
            if exc.kind == "auth_expired":
                return DeviceExpired(exc.message)
            return DeviceDenied(exc.message)
        except DaemonError as exc:  # the provider went, or the login cannot be unsealed
            return DeviceDenied(exc.message)
        return DeviceApproved()

    async def stop(self) -> None:
        if self._catcher is not None:
            catcher, self._catcher = self._catcher, None
            await catcher.stop()
