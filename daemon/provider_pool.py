"""One provider client per authorisation, built from its stored login and reused by every sync
(connection pool, rate limiter, token refresh), plus the provider's chart of accounts for a few
minutes: a catch-up spends the provider's rate limit on postings, not on the same chart."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from daemon.background import Background
from daemon.errors import AuthorisationRequired, NotFound
from daemon.provider_settings import ProviderSettingsBook
from daemon.store.interface import Store
from daemon.vault import CredentialVault
from providers import registry
from providers.base import Provider
from providers.context import ProviderContext
from providers.ratelimit import LimiterRegistry

CHART_TTL = 300.0  # seconds a provider's accounts and tax codes are reused

Chart = tuple[dict[str, str], set[str]]
"""The provider's account codes with their names, and its tax codes."""

AuthLost = Callable[[int, str], Awaitable[None]]
"""Told when a provider refuses an authorisation's login for good: (authorisation id, why)."""


class ProviderPool:
    def __init__(
        self,
        *,
        store: Store,
        vault: CredentialVault,
        settings: ProviderSettingsBook,
        state_dir: Path,
        background: Background,
        on_auth_lost: AuthLost,
        limiters: LimiterRegistry,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._store = store
        self._vault = vault
        self._settings = settings
        self._state_dir = state_dir
        self._background = background
        self._on_auth_lost = on_auth_lost
        self._limiters = limiters
        self._transport = transport
        self._providers: dict[int, Provider] = {}
        self._charts: dict[tuple[int, str | None], tuple[float, Chart]] = {}

    async def provider_for(self, auth_id: int) -> Provider:
        if auth_id in self._providers:
            return self._providers[auth_id]
        auth = await self._store.authorisations.get(auth_id)
        if auth is None:
            raise NotFound(f"No authorisation with id {auth_id}.")
        spec = registry.get(auth.provider)
        if spec is None:
            raise AuthorisationRequired(f"Provider {auth.provider!r} is not known.")
        sealed = await self._store.credentials.get(auth_id)
        credentials = self._vault.unseal(sealed) if sealed else {}

        async def lost(message: str) -> None:
            await self._on_auth_lost(auth_id, message)

        async def save_credentials(creds: dict[str, Any]) -> None:
            await self._store.credentials.replace(auth_id, self._vault.seal(creds))

        ctx = ProviderContext(
            provider_id=auth.provider,
            authorisation_id=auth_id,
            settings=self._settings.get(auth.provider),
            state_dir=self._state_dir,
            options=auth.settings,
            credentials=credentials,
            transport=self._transport,
            on_auth_lost=lost,
            save_credentials=save_credentials,
            limiters=self._limiters,
        )
        provider = spec.create(ctx)
        self._providers[auth_id] = provider
        return provider

    def forget(self, auth_id: int) -> None:
        """The login changed (or went): the next sync builds the client and chart afresh."""
        for key in [k for k in self._charts if k[0] == auth_id]:
            del self._charts[key]
        provider = self._providers.pop(auth_id, None)
        if provider is not None:
            self._background.spawn(provider.aclose(), f"close-provider-{auth_id}")

    async def chart(self, auth_id: int, tenant: str | None) -> Chart:
        key = (auth_id, tenant)
        cached = self._charts.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        provider = await self.provider_for(auth_id)
        accounts = await provider.list_accounts(tenant)
        taxes = await provider.list_tax_codes(tenant)
        chart = ({a.code: a.name for a in accounts}, {t.code for t in taxes})
        self._charts[key] = (time.monotonic() + CHART_TTL, chart)
        return chart

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            with contextlib.suppress(Exception):
                await provider.aclose()
