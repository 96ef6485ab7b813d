"""One error taxonomy for every external system (PMS and accounting providers).

The engine decides retry/fail/notify from ``kind`` alone, so every adapter maps its API's
failures onto these kinds instead of leaking HTTP details upwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ErrorKind = Literal["auth_expired", "rate_limited", "rejected", "unavailable", "period_locked"]
ERROR_KINDS: tuple[ErrorKind, ...] = (
    "auth_expired",
    "rate_limited",
    "rejected",
    "unavailable",
    "period_locked",
)
RETRYABLE_KINDS = frozenset({"rate_limited", "unavailable"})


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class ProviderError(Exception):
    """A refusal or failure of an external system, in words a sysadmin understands.

    ``message`` must never contain a secret: adapters build it from the provider's own error
    text, which the shared HTTP layer has already passed through redaction.
    """

    provider: str
    kind: ErrorKind
    message: str
    retry_after: float | None = None
    field_errors: tuple[FieldError, ...] = field(default_factory=tuple)
    status: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"


def auth_expired(provider: str, message: str, **kw: object) -> ProviderError:
    return ProviderError(provider, "auth_expired", message, **kw)  # type: ignore[arg-type]


def rate_limited(provider: str, message: str, retry_after: float | None = None) -> ProviderError:
    return ProviderError(provider, "rate_limited", message, retry_after=retry_after)


def rejected(
    provider: str,
    message: str,
    field_errors: tuple[FieldError, ...] = (),
    status: int | None = None,
) -> ProviderError:
    return ProviderError(provider, "rejected", message, field_errors=field_errors, status=status)


def unavailable(provider: str, message: str, retry_after: float | None = None) -> ProviderError:
    return ProviderError(provider, "unavailable", message, retry_after=retry_after)


def period_locked(provider: str, message: str) -> ProviderError:
    return ProviderError(provider, "period_locked", message)
