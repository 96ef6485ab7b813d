"""What an adapter is given to talk to one authorised account: settings, secrets, HTTP plumbing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from providers.ratelimit import LimiterRegistry
from providers.settings import ProviderSettings


@dataclass
class ProviderContext:
    provider_id: str
    authorisation_id: int
    settings: ProviderSettings
    state_dir: Path
    # Non-secret choices made at login or activation (tenant id, firm host, environment...).
    options: Mapping[str, Any] = field(default_factory=dict)
    # Secrets from a credentials-form login (API keys); never logged, never returned over RPC.
    credentials: Mapping[str, Any] = field(default_factory=dict)
    transport: httpx.AsyncBaseTransport | None = None
    on_auth_lost: Callable[[str], Awaitable[None]] | None = None
    # Persists new credentials (a rotated token) in one transaction before they are used.
    save_credentials: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    # The daemon's one registry of rate limiters: adapters of the same provider account share
    # a limiter through it. The default (a registry of its own) suits a context used alone.
    limiters: LimiterRegistry = field(default_factory=LimiterRegistry)
