"""Secrets at rest: credentials, pending logins and the PMS key are sealed before the store
sees them, and registered with the log redaction as soon as they are read back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from daemon.errors import AuthorisationRequired
from daemon.store.records import Sealed
from providers.redact import register_secret
from providers.tokens import SecretBox

SEALED_PREFIX = "sealed:"


class CredentialVault:
    """JSON, encrypted with the configured key file (``encryption_key_file``); plain JSON when
    none is configured (the state dir is 0700 either way)."""

    def __init__(self, box: SecretBox | None = None) -> None:
        self._box = box

    @classmethod
    def from_key_file(cls, path: str | None) -> CredentialVault:
        """Raises ``SecretBoxError`` when the file is missing or not a key."""
        return cls(SecretBox.from_file(path) if path else None)

    def seal(self, data: Mapping[str, Any] | str) -> Sealed:
        text = json.dumps(data)
        if self._box is None:
            return text
        return SEALED_PREFIX + self._box.encrypt(text.encode())

    def _open(self, sealed: Sealed) -> object:
        text = sealed
        if text.startswith(SEALED_PREFIX):
            if self._box is None:
                raise AuthorisationRequired(
                    "Stored credentials are encrypted, but no encryption_key_file is configured."
                )
            text = self._box.decrypt(text[len(SEALED_PREFIX) :]).decode()
        value: object = json.loads(text)
        return value

    def unseal(self, sealed: Sealed) -> dict[str, Any]:
        """A sealed mapping (credentials, a pending login); its text values are secrets."""
        value = self._open(sealed)
        if not isinstance(value, dict):
            raise AuthorisationRequired("Stored credentials cannot be read.")
        for item in value.values():
            if isinstance(item, str):
                register_secret(item)
        return value

    def unseal_text(self, sealed: Sealed) -> str:
        """A sealed string (the PMS API key), registered as a secret."""
        value = self._open(sealed)
        if not isinstance(value, str):
            raise AuthorisationRequired("The stored PMS key cannot be read.")
        register_secret(value)
        return value
