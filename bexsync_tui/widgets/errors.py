"""Turn any failure into one readable sentence: users see messages, never tracebacks."""

from __future__ import annotations

from typing import Any

from textual.widgets import Label

from bexsync_tui.client import DaemonUnavailable, RpcCallError

TITLES = {
    "NotFound": "Not found",
    "ValidationFailed": "Please check the values",
    "Conflict": "Conflict",
    "ProviderError": "The provider refused",
    "AuthorisationRequired": "Authorisation required",
    "PermissionDenied": "Permission denied",
    "InvalidParams": "Invalid values",
}

KIND_HINTS = {
    "auth_expired": "log in again to the provider (open the authorisation)",
    "rate_limited": "the provider asks to slow down; bexsync retries later",
    "unavailable": "the provider is not answering; try again later",
    "period_locked": "the period is locked at the provider; unlock it there first",
}


def field_errors(error: BaseException) -> dict[str, str]:
    """``data.errors`` as {field: message}; empty for errors without field detail."""
    if not isinstance(error, RpcCallError):
        return {}
    data: Any = error.data or {}
    found: dict[str, str] = {}
    for item in data.get("errors") or []:
        if isinstance(item, dict) and item.get("message"):
            field = str(item.get("field") or "")
            found[field] = (found[field] + "; " if field in found else "") + str(item["message"])
    return found


def describe_error(error: BaseException, doing: str = "") -> tuple[str, str]:
    """(title, message) for a toast or an error label, phrased for a sysadmin."""
    prefix = f"Could not {doing}: " if doing else ""
    if isinstance(error, RpcCallError):
        title = TITLES.get(error.name or "", "The daemon refused")
        if error.name == "ValidationFailed" and not field_errors(error):
            title = "Not possible"  # a rule of the daemon's, not a value to correct
        message = str(error.message or error.name or "unknown error").rstrip()
        details = [f"{field or 'general'}: {text}" for field, text in field_errors(error).items()]
        if details:
            message += " (" + "; ".join(details) + ")"
        data: Any = error.data or {}
        hint = KIND_HINTS.get(str(data.get("kind") or ""))
        if hint:
            message += f" Hint: {hint}."
        return title, prefix + message
    if isinstance(error, DaemonUnavailable):
        return "Daemon unavailable", prefix + "the bexsync daemon is not answering."
    text = str(error) or type(error).__name__
    return "Unexpected error", f"{prefix}{type(error).__name__}: {text}"


def show_field_error(label: Label, text: str) -> None:
    """Fill a ``.field-error`` label; an empty one takes no space."""
    label.update(text)
    label.set_class(bool(text), "-shown")
