"""A provider's app registration and endpoint overrides, as read from the config file.

Endpoint overrides are how the daemon reaches a sandbox, a proxy or a simulator with no code
change: an adapter asks ``url("api_url", default)`` and never hard-codes a host elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SettingsError(Exception):
    """The config file's table for a provider is unusable; the message names the key."""


@dataclass(frozen=True)
class ProviderSettings:
    provider: str
    client_id: str | None = None
    client_secret_file: str | None = None
    urls: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        """An app registration exists: a client id, or a secret file alone for providers whose
        registration is a single partner secret (MyUnisoft, Cegid Loop's subscription key)."""
        return bool(self.client_id or self.client_secret_file)

    def url(self, key: str, default: str) -> str:
        return self.urls.get(key, default).rstrip("/")

    def client_secret(self) -> str | None:
        """Read the secret from its file (a bare name is looked up in $CREDENTIALS_DIRECTORY)."""
        if not self.client_secret_file:
            return None
        path = Path(self.client_secret_file)
        if not path.is_absolute() and os.environ.get("CREDENTIALS_DIRECTORY"):
            candidate = Path(os.environ["CREDENTIALS_DIRECTORY"]) / path
            if candidate.exists():
                path = candidate
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(
                f"[providers.{self.provider}] client_secret_file {str(path)!r} cannot be read: "
                f"{exc.strerror}"
            ) from None
        if not secret:
            raise SettingsError(
                f"[providers.{self.provider}] client_secret_file {str(path)!r} is empty"
            )
        from providers.redact import register_secret

        register_secret(secret)
        return secret

    @classmethod
    def from_table(cls, provider: str, table: Mapping[str, Any]) -> ProviderSettings:
        urls: dict[str, str] = {}
        options: dict[str, Any] = {}
        client_id = table.get("client_id")
        secret_file = table.get("client_secret_file")
        if client_id is not None and not isinstance(client_id, str):
            raise SettingsError(f"[providers.{provider}] client_id must be a string")
        if secret_file is not None and not isinstance(secret_file, str):
            raise SettingsError(f"[providers.{provider}] client_secret_file must be a path string")
        if "client_secret" in table:
            raise SettingsError(
                f"[providers.{provider}] put the client secret in a file and name it with "
                "client_secret_file; secrets do not belong in the config file"
            )
        for key, value in table.items():
            if key in ("client_id", "client_secret_file"):
                continue
            if key.endswith("_url"):
                if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                    raise SettingsError(
                        f"[providers.{provider}] {key} must be an http(s) URL, got {value!r}"
                    )
                urls[key] = value
            else:
                options[key] = value
        return cls(provider, client_id, secret_file, urls, options)
