"""Keep secrets out of logs, exception messages and RPC results.

Two layers: a process-wide registry of known secret strings (API keys, tokens, client secrets
registered the moment they are loaded), and patterns for secret-shaped text that was never
registered (a bearer header echoed by a provider, a token in a query string or JSON body).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter strings would blank out ordinary words and numbers

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None

_SECRET_WORDS = r"[a-z_]*(?:token|secret|password)|api_?key|code_verifier|assertion"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: <any scheme> abc (header lines, dict reprs, curl -H)
    (
        re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?[A-Za-z]+\s+)[^\s\"',;}]+"),
        rf"\1{MASK}",
    ),
    # a bearer token anywhere else (an echoed header, an exception message)
    (re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9\-._~+/=]{8,}"), rf"\1{MASK}"),
    # secret-bearing headers: X-API-KEY: v, 'x-api-key': 'v', "X-Third-Party-Secret": "v"
    (
        re.compile(
            r"(?i)([\"']?(?:x-api-key|x-third-party-secret|ocp-apim-subscription-key|"
            r"x-chift-[a-z-]*secret|subscription-key)[\"']?\s*[:=]\s*[\"']?)"
            r"([^\"'\s,;}&]+)"
        ),
        rf"\1{MASK}",
    ),
    # JSON: "refresh_token": "abc", "client_secret": "abc", "api_key": "abc"
    (
        re.compile(rf"(?i)(\"(?:{_SECRET_WORDS})\"\s*:\s*\")([^\"]*)(\")"),
        rf"\1{MASK}\3",
    ),
    # query strings and form bodies: access_token=abc&...
    (re.compile(rf"(?i)\b((?:{_SECRET_WORDS})=)([^&\s\"',;]+)"), rf"\1{MASK}"),
)


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that every later ``redact()`` masks it. Short values are ignored."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return
    global _secret_re
    with _lock:
        if secret in _secrets:
            return
        _secrets.add(secret)
        # Longest first so that a secret containing another one is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(s) for s in ordered))


def register_secrets(secrets: Iterable[str | None]) -> None:
    for secret in secrets:
        register_secret(secret)


def forget_secrets() -> None:
    """Clear the registry (tests only: in production secrets stay registered for the process)."""
    global _secret_re
    with _lock:
        _secrets.clear()
        _secret_re = None


def redact(text: object) -> str:
    """Return ``text`` as a string with every registered secret and secret-shaped value masked."""
    out = text if isinstance(text, str) else str(text)
    pattern = _secret_re
    if pattern is not None:
        out = pattern.sub(MASK, out)
    for regex, repl in _PATTERNS:
        out = regex.sub(repl, out)
    return out


class RedactingFilter(logging.Filter):
    """Rewrite a record's message, args and exception text through ``redact()``.

    The formatted message replaces ``msg`` and ``args`` is emptied, so no handler can format
    the raw arguments again. Exception text is pre-formatted into ``exc_text``, which every
    standard ``Formatter`` uses instead of formatting ``exc_info`` itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_exc_formatter = logging.Formatter()


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    if getattr(record, "_bexsync_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the record
        message = f"{record.msg!s} {record.args!r}"
    record.msg = redact(message)
    record.args = ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _exc_formatter.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._bexsync_redacted = True  # type: ignore[attr-defined]
    return record


_factory_installed = False


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Redact every log record: filter on ``logger`` (root by default) and its handlers.

    Logger filters do not see records propagated from child loggers, so the record factory is
    wrapped too: every record of every logger is redacted when it is created, whichever handler
    (journald, a file, pytest's caplog) is attached later.
    """
    global _factory_installed
    target = logger if logger is not None else logging.getLogger()
    flt = RedactingFilter()
    if not any(isinstance(f, RedactingFilter) for f in target.filters):
        target.addFilter(flt)
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    with _lock:
        if not _factory_installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: object, **kwargs: object) -> logging.LogRecord:
                return redact_record(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            _factory_installed = True
    return flt
