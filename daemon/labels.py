"""How a configuration is named wherever a person reads about it: attention items, notification
titles, ``systemctl status`` lines, the TUI. One place, so three configurations of administration
101 never look the same anywhere."""

from __future__ import annotations

from daemon.store.records import Configuration


def configuration_label(cfg: Configuration) -> str:
    """``configuration 3 (101 Hotel Zonneveld, sandbox ledger BEX)``."""
    admin = f"{cfg.administration_number} {cfg.administration_name}".strip()
    return f"configuration {cfg.id} ({admin}, {cfg.provider} ledger {cfg.ledger_id})"


def titled(what: str, cfg: Configuration, period: str) -> str:
    """A notification title: what happened to which period first (a narrow column shows that
    much), then the configuration it happened to."""
    return f"{what} {cfg.administration_number} {period} · {configuration_label(cfg)}"
