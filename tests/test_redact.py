"""Secrets never reach logs or error messages, registered or merely secret-shaped."""

from __future__ import annotations

import logging
import sys

import pytest

from providers.redact import (
    RedactingFilter,
    forget_secrets,
    install_log_redaction,
    redact,
    register_secret,
)


@pytest.fixture(autouse=True)
def _clean() -> None:
    forget_secrets()


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    register_secret("s3cr3t-client-value")
    register_secret("s3cr3t-client-value-longer")
    text = "id=abc s3cr3t-client-value-longer and s3cr3t-client-value."
    assert redact(text) == "id=abc *** and ***."


def test_short_or_empty_secrets_are_ignored() -> None:
    register_secret("")
    register_secret(None)
    register_secret("1")
    register_secret("abc")
    assert redact("1 abc 2024") == "1 abc 2024"


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi"),
        ("{'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "dXNlcjpwYXNz"),
        ("headers={'X-API-KEY': 'k-123456789'}", "k-123456789"),
        ("X-Third-Party-Secret: third-secret-1", "third-secret-1"),
        ("GET /cb?code=1&access_token=at-999999&state=x", "at-999999"),
        ('{"access_token": "at-1", "refresh_token": "rt-2", "expires_in": 3600}', "rt-2"),
        ("grant_type=refresh_token&refresh_token=rt-77777&client_secret=cs-8888", "cs-8888"),
        ("request failed: Bearer abcdefgh12345678 rejected", "abcdefgh12345678"),
    ],
)
def test_secret_shaped_values_are_masked_even_if_never_registered(text: str, leak: str) -> None:
    out = redact(text)
    assert leak not in out
    assert "***" in out


def test_ordinary_text_is_left_alone() -> None:
    text = 'Journal 2024-01 posted: 12 lines, total 1234.50 EUR, "token_type": "Bearer"'
    assert redact(text) == text


def test_filter_redacts_message_args_and_exception_text() -> None:
    register_secret("api-key-abcdef")
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "using %s", ("api-key-abcdef",), None
    )
    try:
        raise RuntimeError("key api-key-abcdef refused")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "api-key-abcdef" not in formatted
    assert "using ***" in formatted
    assert "key *** refused" in formatted


def test_installed_redaction_covers_child_loggers_and_later_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    register_secret("late-registered-secret")
    caplog.set_level(logging.INFO)
    logging.getLogger("bexsync.deep.child").info("token is %s", "late-registered-secret")
    assert "late-registered-secret" not in caplog.text
    assert "token is ***" in caplog.text
