"""Logging for the daemon: journald-friendly lines on stderr, `key=value` ids, no secrets.

Under systemd, stderr is a journal stream: each line then starts with an sd-daemon priority
prefix (`<3>` error ... `<7>` debug) so `journalctl -p warning` works, and carries no timestamp
(the journal adds its own). On a terminal lines are timestamped instead. Ids that let a sysadmin
follow one sync (`configuration_id=3 run_id=17`) are appended as `key=value` fields, either bound
to a logger (`bind`) or to the current task (`log_context`). Every line is passed through
secret redaction before it is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TextIO

# sd-daemon(3) priorities: the journal reads "<N>" at the start of a line as the syslog level.
_PRIORITY = [
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
]
DEBUG_PRIORITY = 7

_context: ContextVar[Mapping[str, Any]] = ContextVar("bexsync_log_fields", default={})  # noqa: B039

_HANDLER_TAG = "_bexsync_handler"
# Chatty libraries: httpx logs every request URL at INFO, aiosqlite every statement at DEBUG.
_QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "aiosqlite": logging.INFO}


def priority(levelno: int) -> int:
    """The syslog priority for a logging level (unknown levels round down to the next known)."""
    for threshold, prio in _PRIORITY:
        if levelno >= threshold:
            return prio
    return DEBUG_PRIORITY


def stderr_is_journal(stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> bool:
    """True when `stream` (stderr) is the journal stream systemd connected (`$JOURNAL_STREAM`)."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError, AttributeError):
        return False


# --- secret redaction (fallback; providers.redact adds provider-specific rules) ---------------

_SECRET_KEYS = (
    r"access_token|refresh_token|id_token|client_secret|client_assertion|code_verifier|"
    r"password|passwd|api_key|apikey|api-key|secret|token|code|assertion|"
    r"x-third-party-secret|ocp-apim-subscription-key|x-api-key"
)
_REDACTIONS = [
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 ***"),
    # key=value, key: value, "key": "value" for secret-looking keys (not error_code etc.)
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9_])({_SECRET_KEYS})(\"?'?\s*[:=]\s*\"?'?)(?!\*\*\*)([^\s\"'&,;}}]+)"
        ),
        r"\1\2***",
    ),
]


def redact(text: str) -> str:
    """Mask values that look like credentials (tokens, secrets, passwords) in a log line."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


# --- key=value fields --------------------------------------------------------------------------

_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:/@+\-]+")


def format_fields(fields: Mapping[str, Any]) -> str:
    """`key=value key2="quoted value"`; quoting keeps every field (and so the line) on one line."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not _PLAIN_VALUE.fullmatch(text):
            escaped = text.replace("\\", "\\\\").replace('"', '\\"')
            text = (
                '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'
            )
        parts.append(f"{key}={text}")
    return " ".join(parts)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach fields to every line logged by this task (and tasks it starts) inside the block.

    `with log_context(configuration_id=3, run_id=17): await run_sync(...)`
    """
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class FieldsAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger with fields bound to it; `extra={"fields": {...}}` per call adds more."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra["fields"] = {**(self.extra or {}), **extra.get("fields", {})}
        kwargs["extra"] = extra
        return msg, kwargs

    def bind(self, **fields: Any) -> FieldsAdapter:
        return FieldsAdapter(self.logger, {**(self.extra or {}), **fields})


def bind(logger: logging.Logger | FieldsAdapter, **fields: Any) -> FieldsAdapter:
    """`bind(log, configuration_id=3).info("...")` -> `... configuration_id=3`."""
    if isinstance(logger, FieldsAdapter):
        return logger.bind(**fields)
    return FieldsAdapter(logger, fields)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of a record: task context first, then those bound or passed with the call."""
    own = getattr(record, "fields", None)
    return {**_context.get(), **(own if isinstance(own, Mapping) else {})}


# --- formatting --------------------------------------------------------------------------------


class DaemonFormatter(logging.Formatter):
    """One record -> `logger: message key=value ...`, redacted, with a journal or time prefix."""

    def __init__(self, *, journald: bool, redactor: Callable[[str], str] | None = None):
        super().__init__()
        self.journald = journald
        # providers.redact.redact also masks registered secrets (exact strings), incl. in fields.
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "bexsync_fields", None)
        if fields is None:
            fields = record_fields(record)
        text = f"{record.name}: {record.getMessage()}"
        extra = format_fields(fields)
        if extra:
            text = f"{text} {extra}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = f"{text}\n{record.exc_text}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        if self.redactor is not None:
            text = self.redactor(text)
        text = redact(text)
        if self.journald:
            # Every physical line needs the prefix, or traceback lines land at the default level.
            prefix = f"<{priority(record.levelno)}>"
            return "\n".join(prefix + line for line in text.split("\n"))
        stamp = datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")
        return f"{stamp} {record.levelname:<7} {text}"


class _ContextFilter(logging.Filter):
    """Captures the task's context fields when the record is handled, in the logging task."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.bexsync_fields = record_fields(record)
        return True


def parse_level(level: str | int) -> int:
    """`"debug"`/`"INFO"`/`20` -> a logging level; ValueError names the accepted values."""
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.strip().upper())
    if isinstance(value, int):
        return value
    raise ValueError(f"unknown log level {level!r}: use debug, info, warning, error or critical")


def _install_provider_redaction(root: logging.Logger, handler: logging.Handler) -> bool:
    """Use `providers.redact` when that module exists (imported lazily, optional).

    Its `install_log_redaction` rewrites records (message, args, traceback); its `redact` is
    also applied to the finished line so that `key=value` fields are covered.
    """
    try:
        from providers import redact as provider_redact
    except ImportError:
        return False
    text_redactor = getattr(provider_redact, "redact", None)
    if callable(text_redactor) and isinstance(handler.formatter, DaemonFormatter):
        handler.formatter.redactor = lambda text: str(text_redactor(text))
    install = getattr(provider_redact, "install_log_redaction", None)
    if install is None:
        return callable(text_redactor)
    result = install(root)
    # A filter on the root *logger* misses records propagated from child loggers; a filter on
    # the handler sees them all, so attach it there too if one is returned.
    if isinstance(result, logging.Filter) or callable(getattr(result, "filter", None)):
        handler.addFilter(result)
    return True


def setup_logging(
    level: str | int = "INFO",
    *,
    journald: bool | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route all logging to stderr (or `stream`) in the daemon's format; idempotent.

    `journald` None detects the journal from `$JOURNAL_STREAM`; True/False forces the format.
    """
    out = stream if stream is not None else sys.stderr
    if journald is None:
        journald = stderr_is_journal(out)
    levelno = parse_level(level)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_TAG, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(out)
    setattr(handler, _HANDLER_TAG, True)
    handler.setFormatter(DaemonFormatter(journald=journald))
    handler.addFilter(_ContextFilter())
    root.addHandler(handler)
    root.setLevel(levelno)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, levelno) if levelno > logging.DEBUG else quiet)
    _install_provider_redaction(root, handler)
    return handler


# --- one line per sync outcome -------------------------------------------------------------------

_OUTCOME_LEVEL = {
    "posted": logging.INFO,
    "cancelled": logging.INFO,
    "needs_review": logging.WARNING,
    "failed": logging.ERROR,
}


def _duration_s(run: Mapping[str, Any]) -> str | None:
    measured = run.get("duration_s")
    if isinstance(measured, int | float):  # measured by the engine, finer than the timestamps
        return f"{measured:.3f}"
    try:
        start = datetime.fromisoformat(str(run["started_at"]))
        end = datetime.fromisoformat(str(run["finished_at"]))
    except (KeyError, TypeError, ValueError):
        return None
    return f"{(end - start).total_seconds():.3f}"


def _error_fields(error: Any) -> dict[str, Any]:
    if not error:
        return {}
    if isinstance(error, Mapping):
        raw = error.get("data")
        data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        kind = error.get("kind") or data.get("kind") or error.get("name") or data.get("name")
        message = error.get("message") or error.get("detail") or ""
        return {
            "error_kind": kind,
            "error_provider": error.get("provider") or data.get("provider"),
            "error": message,
        }
    return {"error": str(error)}


def log_sync_outcome(logger: logging.Logger | FieldsAdapter, run: Mapping[str, Any]) -> None:
    """Log exactly one line for a finished (or otherwise settled) sync run.

    `run` is the RPC Run shape (`id, configuration_id, period, trigger, state, error, entry_id,
    started_at, finished_at`); extra keys such as `administration_number`, `provider`,
    `external_id`, `line_count` and `total` are included when present. Level: error for failed,
    warning for needs_review, info otherwise.
    """
    state = str(run.get("state") or "unknown")
    outcome = state
    if state == "posted" and run.get("entry_id") is None:
        outcome = "done, no transactions"
    fields: dict[str, Any] = {
        "configuration_id": run.get("configuration_id"),
        "run_id": run.get("id", run.get("run_id")),
        "period": run.get("period"),
        "state": state,
        "trigger": run.get("trigger"),
        "administration": run.get("administration_number"),
        "provider": run.get("provider"),
        "entry_id": run.get("entry_id"),
        "external_id": run.get("external_id"),
        "lines": run.get("line_count"),
        "total": run.get("total"),
        "duration_s": _duration_s(run),
        **_error_fields(run.get("error")),
    }
    fields = {key: value for key, value in fields.items() if value is not None}
    level = _OUTCOME_LEVEL.get(state, logging.INFO)
    target = logger.logger if isinstance(logger, FieldsAdapter) else logger
    bound = dict(logger.extra or {}) if isinstance(logger, FieldsAdapter) else {}
    target.log(level, "sync %s", outcome, extra={"fields": {**bound, **fields}})
