"""The daemon's domain errors: what went wrong, in a sentence a sysadmin can act on.

Services and the engine raise these; they know nothing of JSON-RPC. Only ``daemon.rpc`` maps
each class to an error code and a stable ``data.name`` (``daemon.rpc.errors.rpc_error_for``).
``message`` never contains a secret; ``details`` is extra, machine-readable context (which run is
in the way, which tenants a login reaches, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from daemon.model import FieldProblem
from providers.errors import FieldError

if TYPE_CHECKING:
    from providers.errors import ProviderError

FieldErrorLike = FieldProblem | FieldError | Mapping[str, Any] | tuple[str, str]


def field_problems(errors: Iterable[FieldErrorLike] | None) -> tuple[FieldProblem, ...]:
    """Field errors from ``FieldProblem``s, providers' ``FieldError``s, ``{"field", "message"}``
    mappings or ``(field, message)`` pairs."""
    result: list[FieldProblem] = []
    for item in errors or ():
        if isinstance(item, FieldProblem):
            result.append(item)
        elif isinstance(item, FieldError):
            result.append(FieldProblem(item.field, item.message))
        elif isinstance(item, Mapping):
            result.append(FieldProblem(str(item.get("field", "")), str(item.get("message", ""))))
        else:
            field, message = item
            result.append(FieldProblem(str(field), str(message)))
    return tuple(result)


class DaemonError(Exception):
    """Base of every error a caller of the daemon may see."""

    default_message: ClassVar[str] = "The daemon hit an internal error."

    def __init__(self, message: str | None = None, *, details: Mapping[str, Any] | None = None):
        self.message = message or self.default_message
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"


class NotFound(DaemonError):
    default_message = "Not found."


class Conflict(DaemonError):
    """The request does not fit the current state (already running, already synced, ...)."""

    default_message = "The request conflicts with the current state."


class AuthorisationRequired(DaemonError):
    """The provider login is missing, inactive or cannot be read."""

    default_message = "The authorisation is not active."


class _WithFieldErrors(DaemonError):
    def __init__(
        self,
        message: str | None = None,
        *,
        errors: Iterable[FieldErrorLike] | None = None,
        details: Mapping[str, Any] | None = None,
    ):
        self.errors = field_problems(errors)
        super().__init__(message, details=details)


class ValidationFailed(_WithFieldErrors):
    """Some values break a rule; ``errors`` names every offending field at once."""

    default_message = "Some values break a rule."


class InvalidArgument(_WithFieldErrors):
    """An argument cannot be used at all (a wrong kind of value, two that exclude each other);
    the RPC layer reports it like malformed params."""

    default_message = "The parameters are not valid."


class ProviderFailure(DaemonError):
    """The accounting provider or the PMS refused or failed."""

    default_message = "The provider refused or failed."

    def __init__(
        self,
        message: str | None = None,
        *,
        provider: str,
        kind: str,
        retryable: bool = False,
        retry_after: float | None = None,
        errors: Iterable[FieldErrorLike] | None = None,
    ):
        self.provider = provider
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.errors = field_problems(errors)
        super().__init__(message)

    @classmethod
    def from_provider_error(cls, error: ProviderError) -> ProviderFailure:
        return cls(
            error.message,
            provider=error.provider,
            kind=error.kind,
            retryable=error.retryable,
            retry_after=error.retry_after,
            errors=error.field_errors,
        )


__all__ = [
    "AuthorisationRequired",
    "Conflict",
    "DaemonError",
    "InvalidArgument",
    "NotFound",
    "ProviderFailure",
    "ValidationFailed",
    "field_problems",
]
