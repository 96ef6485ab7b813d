"""What the process-level reliability runs (``sigkill``, ``failover``) share: one JSON-RPC call
over a daemon's socket, and the work they give it (sandbox feeds, many of them at once)."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path
from typing import Any

from tests.support.hostile import ask, connect


class RpcFailed(Exception):
    pass


def rpc(sock_path: Path, method: str, params: dict[str, Any] | None = None, timeout: float = 10):
    """One JSON-RPC call on a connection of its own (no client process per call);
    ``RpcFailed`` with the daemon's error."""
    with contextlib.closing(connect(sock_path, timeout)) as sock:
        reply = ask(sock, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}})
    if reply is None:
        raise RpcFailed("the daemon hung up")
    if "error" in reply:
        raise RpcFailed(reply["error"].get("message", "error"))
    return reply["result"]


def seed_feeds(
    sock: Path, *, logins: int, name: str, start: date, end: date | None, automatic: bool
) -> list[dict[str, Any]]:
    """``logins`` active sandbox authorisations (``name 1``, ``name 2``, ...), each with a daily
    configuration per administration the daemon lists; the configurations created.

    They all post into the one sandbox ledger on purpose: load, not bookkeeping."""
    admins = rpc(sock, "administrations.list")
    period: dict[str, Any] = {"start_date": start.isoformat()}
    if end is not None:
        period["end_date"] = end.isoformat()
    configs = []
    for n in range(1, logins + 1):
        created = rpc(sock, "authorisations.create", {"name": f"{name} {n}", "provider": "sandbox"})
        auth_id = created["authorisation"]["id"]
        rpc(sock, "authorisations.activate", {"id": auth_id})
        for admin in admins:
            values = {
                "authorisation_id": auth_id,
                "administration_id": admin["id"],
                "frequency": "daily",
                "ledger_id": "BEX",
                **period,
                "delay_days": 0,
                "automatic": automatic,
                "activate": True,
                "no_vat_code": "NONE",
                "allow_duplicate_target": True,
            }
            configs.append(rpc(sock, "configurations.create", values))
    return configs


def name_counts(problems: list[str], *counts: tuple[int, str]) -> None:
    """What a rig found wrong, in its summary: each non-zero count as "<n> <what>"."""
    problems.extend(f"{count} {what}" for count, what in counts if count)
