"""JSON-RPC errors as exceptions: handlers raise them, the server turns them into error objects.

Every error carries ``data.name`` (CONTRACT.md section 2) so clients switch on a stable string,
not on a number or on the wording of ``message``. ``message`` is a sentence for a sysadmin and
must never contain a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol, TypeAlias

from daemon import errors as domain

if TYPE_CHECKING:
    from providers.errors import ProviderError

FieldErrors = list[dict[str, str]]


class _FieldAndMessage(Protocol):
    @property
    def field(self) -> str: ...
    @property
    def message(self) -> str: ...


FieldErrorLike: TypeAlias = Mapping[str, object] | _FieldAndMessage | tuple[str, str]
"""A ``{"field", "message"}`` dict, a ``FieldError``/``FieldProblem``, or a pair."""


def normalise_field_errors(errors: Iterable[FieldErrorLike] | None) -> FieldErrors:
    """Accept dicts, ``FieldError``/``FieldProblem``-like objects or ``(field, message)`` pairs."""
    result: FieldErrors = []
    for item in errors or ():
        field: object
        message: object
        if isinstance(item, Mapping):
            field, message = item.get("field", ""), item.get("message", "")
        elif isinstance(item, tuple):
            field, message = item
        else:
            field, message = item.field, item.message
        result.append({"field": str(field), "message": str(message)})
    return result


class RpcError(Exception):
    """Base of every error a client may see; ``code`` and ``name`` are fixed per subclass."""

    code: int = -32603
    name: str = "InternalError"
    default_message: str = "The daemon hit an internal error."

    def __init__(self, message: str | None = None, *, data: Mapping[str, object] | None = None):
        self.message = message or self.default_message
        self.data: dict[str, object] = dict(data or {})
        super().__init__(self.message)

    def to_json(self) -> dict[str, object]:
        """The JSON-RPC ``error`` member; ``data.name`` is always present."""
        return {
            "code": self.code,
            "message": self.message,
            "data": {**self.data, "name": self.name},
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, data={self.data!r})"


class _WithFieldErrors(RpcError):
    """An error listing the offending fields in ``data.errors``."""

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: Iterable[FieldErrorLike] | None = None,
        data: Mapping[str, object] | None = None,
    ):
        self.errors = normalise_field_errors(errors)
        super().__init__(message, data={**(data or {}), "errors": self.errors})


class ParseError(RpcError):
    code = -32700
    name = "ParseError"
    default_message = "The message is not valid UTF-8 JSON."


class InvalidRequest(RpcError):
    code = -32600
    name = "InvalidRequest"
    default_message = "The message is not a valid JSON-RPC 2.0 request."


class MessageTooLarge(InvalidRequest):
    name = "MessageTooLarge"
    default_message = "The message is larger than the daemon accepts."


class BatchTooLarge(InvalidRequest):
    """A batch with too many members, or a member not run because the reply grew too large."""

    name = "BatchTooLarge"
    default_message = "The batch is larger than the daemon accepts."


class MethodNotFound(RpcError):
    code = -32601
    name = "MethodNotFound"
    default_message = "No such method."


class InvalidParams(_WithFieldErrors):
    code = -32602
    name = "InvalidParams"
    default_message = "The parameters are not valid."


class InternalError(RpcError):
    code = -32603
    name = "InternalError"


class NotFound(RpcError):
    code = -32001
    name = "NotFound"
    default_message = "Not found."


class ValidationFailed(_WithFieldErrors):
    code = -32002
    name = "ValidationFailed"
    default_message = "Some values break a rule."


class Conflict(RpcError):
    code = -32003
    name = "Conflict"
    default_message = "The request conflicts with the current state."


class ProviderFailure(RpcError):
    """The accounting provider or the PMS refused or failed; ``data.name`` is ``ProviderError``."""

    code = -32004
    name = "ProviderError"
    default_message = "The provider refused or failed."

    @classmethod
    def from_provider_error(cls, error: ProviderError) -> ProviderFailure:
        return cls.from_failure(domain.ProviderFailure.from_provider_error(error))

    @classmethod
    def from_failure(cls, failure: domain.ProviderFailure) -> ProviderFailure:
        return cls(
            failure.message,
            data={
                "provider": failure.provider,
                "kind": failure.kind,
                "retryable": failure.retryable,
                "retry_after": failure.retry_after,
                "errors": normalise_field_errors(failure.errors),
            },
        )


class AuthorisationRequired(RpcError):
    code = -32005
    name = "AuthorisationRequired"
    default_message = "The authorisation is not active."


class PermissionDenied(RpcError):
    code = -32006
    name = "PermissionDenied"
    default_message = "Permission denied."


class TooManyConnections(PermissionDenied):
    """The daemon holds as many connections as it allows (in all, or from this process)."""

    name = "TooManyConnections"
    default_message = "The daemon has too many connections; try again later."


def rpc_error_for(error: domain.DaemonError) -> RpcError:
    """The JSON-RPC error for a domain error (``daemon.errors``): its code and ``data.name``."""
    if isinstance(error, domain.ProviderFailure):
        return ProviderFailure.from_failure(error)
    if isinstance(error, domain.ValidationFailed):
        return ValidationFailed(error.message, errors=error.errors, data=error.details)
    if isinstance(error, domain.InvalidArgument):
        return InvalidParams(error.message, errors=error.errors, data=error.details)
    for domain_class, rpc_class in _PLAIN:
        if isinstance(error, domain_class):
            return rpc_class(error.message, data=error.details)
    return InternalError(error.message, data=error.details)


_PLAIN: tuple[tuple[type[domain.DaemonError], type[RpcError]], ...] = (
    (domain.NotFound, NotFound),
    (domain.Conflict, Conflict),
    (domain.AuthorisationRequired, AuthorisationRequired),
)


__all__ = [
    "AuthorisationRequired",
    "BatchTooLarge",
    "Conflict",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "MessageTooLarge",
    "MethodNotFound",
    "NotFound",
    "ParseError",
    "PermissionDenied",
    "ProviderFailure",
    "RpcError",
    "TooManyConnections",
    "ValidationFailed",
    "normalise_field_errors",
    "rpc_error_for",
]
