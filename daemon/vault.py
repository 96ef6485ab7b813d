"""Secrets at rest: credentials, pending logins and the PMS key are sealed before the store
sees them, and registered with the log redaction as soon as they are read back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from daemon.errors import AuthorisationRequired
from daemon.store.interface import Store
from daemon.store.records import Sealed
from providers.redact import register_secret
from providers.tokens import SecretBox

SEALED_PREFIX = "sealed:"


class CredentialVault:
    """JSON, encrypted with the key (``daemon.secret_key``); plain JSON only when the
    configuration opts into it (``plain_secrets``)."""

    def __init__(self, box: SecretBox | None = None) -> None:
        self._box = box

    @property
    def seals(self) -> bool:
        return self._box is not None

    async def seal_stored_plain(self, store: Store) -> int:
        """Seal every secret an older version (or plain storage) left in plain text, and purge
        the plain copies from the database files; how many there were."""
        if self._box is None:
            return 0
        box = self._box
        plain = [s for s in await store.secrets.all() if not s.value.startswith(SEALED_PREFIX)]
        if plain:
            sealed = [
                dataclasses.replace(s, value=SEALED_PREFIX + box.encrypt(s.value.encode()))
                for s in plain
            ]
            await store.secrets.rewrite(sealed)
        return len(plain)

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
                    "Stored credentials are sealed, but plain_secrets = true leaves the daemon "
                    "without a key: remove that line (or set encryption_key_file)."
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
