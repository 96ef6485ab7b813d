"""OAuth tokens, where they are kept, and an optional at-rest encryption helper.

The daemon is the one owner of every token set (rotating refresh tokens break when two owners
refresh one set), so this module only defines the value type and the storage interface; the
daemon implements ``TokenStore`` on SQLite and may encrypt the JSON with ``SecretBox``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


def _register_secret(value: str | None) -> None:
    """HOOK: hand a secret to ``providers.redact`` so logs and messages mask it.

    Imported lazily so that this module works (without masking) where redact is absent.
    """
    if not value:
        return
    try:
        from providers.redact import register_secret
    except ImportError:  # pragma: no cover - redact ships with the package
        return
    register_secret(value)


@dataclass
class Token:
    """One token set as the provider issued it, with an absolute expiry on our own clock."""

    access_token: str
    token_type: str = "Bearer"
    expires_at: float | None = None  # epoch seconds; None = the provider gave no lifetime
    refresh_token: str | None = None
    scope: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # non-secret extras: claims, tenant ids

    def __post_init__(self) -> None:
        _register_secret(self.access_token)
        _register_secret(self.refresh_token)

    def is_expiring(self, now: float, margin: float = 60) -> bool:
        """True when the access token is expired or will be within ``margin`` seconds."""
        return self.expires_at is not None and now >= self.expires_at - margin

    def with_changes(self, **changes: Any) -> Token:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        expires_at = data.get("expires_at")
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_at=float(expires_at) if expires_at is not None else None,
            refresh_token=data.get("refresh_token"),
            scope=data.get("scope"),
            extra=dict(data.get("extra") or {}),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Token:
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        return (
            f"Token(token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"scope={self.scope!r}, access_token=<hidden>, "
            f"refresh_token={'<hidden>' if self.refresh_token else None}, "
            f"extra_keys={sorted(self.extra)!r})"
        )

    __str__ = __repr__


@runtime_checkable
class TokenStore(Protocol):
    """Persistence of ONE authorisation's token set; ``save`` must be durable when it returns."""

    async def load(self) -> Token | None: ...

    async def save(self, token: Token) -> None: ...


class MemoryTokenStore:
    """A ``TokenStore`` in memory, for tests and the demo. ``history`` lists every save."""

    def __init__(self, token: Token | None = None) -> None:
        self.token = token
        self.history: list[Token] = []

    async def load(self) -> Token | None:
        return self.token

    async def save(self, token: Token) -> None:
        self.token = token
        self.history.append(token)


# --- at-rest encryption -------------------------------------------------------------------


class SecretBoxError(Exception):
    """The key is unusable or does not open the data; the message says which, never the key."""


def resolve_credential_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A bare name is looked up in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``)."""
    path = Path(name_or_path)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and not path.is_absolute() and len(path.parts) == 1:
        candidate = Path(creds) / path
        if candidate.exists():
            return candidate
    return path


class SecretBox:
    """Authenticated symmetric encryption (Fernet) of token JSON for the daemon's database.

    The key file holds either a Fernet key (``SecretBox.generate_key()``) or at least 32 random
    bytes (``head -c 32 /dev/urandom``, ``systemd-creds``), from which a Fernet key is derived.
    """

    def __init__(self, key: bytes) -> None:
        try:
            from cryptography.fernet import Fernet
        except ImportError as exc:  # pragma: no cover - authlib depends on cryptography
            raise SecretBoxError(
                "token encryption needs the 'cryptography' package; install it"
            ) from exc
        self._fernet = Fernet(_fernet_key(key))

    @staticmethod
    def generate_key() -> bytes:
        return base64.urlsafe_b64encode(os.urandom(32))

    @classmethod
    def from_file(cls, name_or_path: str | os.PathLike[str]) -> SecretBox:
        path = resolve_credential_path(name_or_path)
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise SecretBoxError(
                f"the token encryption key file {str(path)!r} cannot be read: {exc.strerror}"
            ) from None
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077:  # like ssh with a private key, but only a warning
                logging.getLogger("bexsync.secrets").warning(
                    "the token encryption key file %r can be read by other users; "
                    "run: chmod 600 %s",
                    str(path),
                    shlex.quote(str(path)),
                )
        try:
            return cls(key)
        except SecretBoxError as exc:
            raise SecretBoxError(f"{str(path)!r}: {exc}") from None

    def encrypt(self, data: bytes) -> str:
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError, ValueError):
            raise SecretBoxError(
                "stored secrets cannot be decrypted with this key: the key file changed or "
                "the data is damaged; restore the old key or log in again"
            ) from None


def _fernet_key(raw: bytes) -> bytes:
    text = raw.strip()
    if len(text) == 44:
        try:
            if len(base64.urlsafe_b64decode(text)) == 32:
                return text
        except (binascii.Error, ValueError):
            pass
    if len(raw) < 32:
        raise SecretBoxError(
            "the token encryption key is too short: use SecretBox.generate_key() or at least "
            "32 random bytes"
        )
    return base64.urlsafe_b64encode(hashlib.sha256(b"bexsync-secretbox\0" + raw).digest())
