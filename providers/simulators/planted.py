"""Secrets the demo and the simulators plant: random, yet recognisable wherever they leak.

Every demo credential (the PMS API key, each simulator's client secret, API key or password)
comes from ``plant``: a random part, so that nobody can guess it, and the ``PLANTED_MARK`` at
its end, so that a test run's output, logs and metrics files can be scanned for any of them
without knowing the values (tests/support/secret_scan.py). ``PLANTED_SECRETS`` holds the fixed
values that tests plant in-process; the mark is built from two halves so that no source line
(as shown in a traceback) contains it.
"""

from __future__ import annotations

import secrets

PLANTED_MARK = "pl4" + "nt3d"
"""Ends every planted secret. A redacted prefix never shows it; only a real leak does."""

PLANTED_SECRETS: tuple[str, ...] = (
    "sim-client-secret-" + "0123456789" + PLANTED_MARK,
    "sim-api-key-" + "9876543210" + PLANTED_MARK,
)
"""Fixed planted values for in-process tests that need to know a secret in advance."""


def plant(prefix: str, nbytes: int = 16) -> str:
    """A fresh secret: ``prefix``, ``nbytes`` random bytes in hex, then the mark."""
    return f"{prefix}{secrets.token_hex(nbytes)}{PLANTED_MARK}"


def planted_in(text: str) -> bool:
    """Whether ``text`` holds a planted secret (or enough of one to show its mark)."""
    return PLANTED_MARK in text or any(s in text for s in PLANTED_SECRETS)
