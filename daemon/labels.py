"""How a configuration is named wherever a person reads about it: attention items, notification
titles, ``systemctl status`` lines, the TUI. One place, so three configurations of administration
101 never look the same anywhere."""

from __future__ import annotations

from daemon.store.records import Configuration


def configuration_label(cfg: Configuration) -> str:
    """``configuration 3 (101 Hotel Zonneveld, sandbox ledger BEX Memoriaal)``."""
    ledger = cfg.ledger_id + (f" {cfg.ledger_name}" if cfg.ledger_name else "")
    admin = f"{cfg.administration_number} {cfg.administration_name}".strip()
    return f"configuration {cfg.id} ({admin}, {cfg.provider} ledger {ledger})"
