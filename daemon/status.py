"""What the daemon says about itself: daemon.hello and daemon.status, what needs attention, the
next due runs, the Prometheus metrics file, and the snapshot a new event subscriber starts from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

from daemon import metrics
from daemon.formats import Clock, iso, parse_iso
from daemon.overdue import needs_attention
from daemon.services.access import restore_hint
from daemon.store.interface import Store

API_VERSION = "1.0"


@functools.cache  # importlib.metadata scans sys.path: about 0.5 ms a call, and it never changes
def server_version() -> str:
    try:
        return version("bexsync")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class DaemonIdentity:
    instance_id: str
    started_at: datetime
    state_dir: Path
    socket_path: Path


class Listing(Protocol):
    """The services' lists the report reads (configurations, authorisations)."""

    async def list(self) -> list[dict[str, Any]]: ...


class PmsStatus(Protocol):
    async def pms_get(self) -> dict[str, Any]: ...


class RunningRuns(Protocol):
    async def running(self) -> list[dict[str, Any]]: ...


class StatusReport:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        identity: DaemonIdentity,
        pms: PmsStatus,
        configurations: Listing,
        authorisations: Listing,
        clients: Callable[[], int],
        recovering: Callable[[], list[int]] = list,
        metrics_file: Path | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._identity = identity
        self._pms = pms
        self._configurations = configurations
        self._authorisations = authorisations
        self._clients = clients
        self._recovering = recovering
        self._metrics_file = metrics_file

    def hello(self) -> dict[str, Any]:
        return {
            "api_version": API_VERSION,
            "server_version": server_version(),
            "instance_id": self._identity.instance_id,
        }

    async def next_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        upcoming = [
            {
                "configuration_id": c["id"],
                "administration_number": c["administration_number"],
                "period": c["next_due"]["period"],
                "due_at": c["next_due"]["due_at"],
                "automatic": c["automatic"],
            }
            for c in await self._configurations.list()
            if c["active"] and c["next_due"]
        ]
        upcoming.sort(key=lambda r: r["due_at"])
        return upcoming[:limit]

    async def attention(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        pms = await self._pms.pms_get()
        if pms["status"] == "error":  # its login was refused: every sync waits for it
            items.append({"kind": "pms", "id": None, "message": f"PMS: {pms['message']}"})
        for auth in await self._authorisations.list():
            if auth["status"] == "error":
                items.append(
                    {
                        "kind": "authorisation",
                        "id": auth["id"],
                        "message": f"Authorisation {auth['name']!r}: {auth['status_message']}",
                    }
                )
        configs = await self._configurations.list()
        labels = {c["id"]: c["label"] for c in configs}
        paused = {c["id"] for c in configs if c["state"] == "no_access"}  # said once, below
        for config in configs:
            if config["schedule_error"]:
                items.append(
                    {
                        "kind": "configuration",
                        "id": config["id"],
                        "configuration_id": config["id"],
                        "label": config["label"],
                        "message": f"{config['label']}: {config['schedule_error']}",
                    }
                )
        for run_id in self._recovering():
            stuck = await self._store.runs.get(run_id)
            if stuck is not None and stuck.state == "posting":
                items.append(
                    {
                        "kind": "run",
                        "id": stuck.id,
                        "configuration_id": stuck.configuration_id,
                        "period": stuck.period,
                        "state": stuck.state,
                        "message": "its posting could not be recorded (is the disk full?); "
                        "bexsync looks it up at the provider again until it can",
                    }
                )
        for run in await self._store.reports.runs_needing_attention(50):
            if run.configuration_id in paused:
                continue
            label = labels.get(run.configuration_id, f"configuration {run.configuration_id}")
            items.append(
                {
                    "kind": "run",
                    "id": run.id,
                    "configuration_id": run.configuration_id,
                    "period": run.period,
                    "state": run.state,
                    "label": label,
                    "message": f"{label} {run.period}: {run.error or run.state}",
                }
            )
        items.extend(
            self._overdue(configs, {i["configuration_id"] for i in items if "period" in i})
        )
        return items

    def _overdue(self, configs: list[dict[str, Any]], named: set[int]) -> list[dict[str, Any]]:
        """Configurations paused for lack of access, and those with overdue periods that no
        run item above names already."""
        now = self._clock()
        items = []
        for c in configs:
            if c["state"] == "no_access":
                items.append(
                    {
                        "kind": "access",
                        "id": c["id"],
                        "configuration_id": c["id"],
                        "label": c["label"],
                        "message": f"{c['label']}: paused, no access to administration "
                        f"{c['administration_number']} {c['administration_name']}; "
                        + restore_hint(c["administration_id"]),
                    }
                )
                continue
            overdue = c["overdue"]
            oldest = parse_iso(overdue[0]["due_at"]) if overdue else None
            if c["id"] in named or not needs_attention(oldest, now, automatic=c["automatic"]):
                continue
            first = overdue[0]
            more = f" and {len(overdue) - 1} more" if len(overdue) > 1 else ""
            how = "waits for a sync" if not c["automatic"] else "has no sync running"
            items.append(
                {
                    "kind": "configuration",
                    "id": c["id"],
                    "configuration_id": c["id"],
                    "period": first["period"],
                    "due_at": first["due_at"],
                    "label": c["label"],
                    "message": f"{c['label']}: period {first['period']}{more} overdue "
                    f"(due {first['due_at']}), {how}",
                }
            )
        return items

    async def status(self) -> dict[str, Any]:
        identity = self._identity
        return {
            "version": server_version(),
            "api_version": API_VERSION,
            "instance_id": identity.instance_id,
            "started_at": iso(identity.started_at),
            "uptime_s": int((self._clock() - identity.started_at).total_seconds()),
            "state_dir": str(identity.state_dir),
            "socket": str(identity.socket_path),
            "pms": await self._pms.pms_get(),
            "counts": dataclasses.asdict(await self._store.reports.counts()),
            "clients": self._clients(),
            "next_runs": await self.next_runs(),
            "attention": await self.attention(),
        }

    async def write_metrics(self, up: bool = True) -> None:
        """The metrics file (``--metrics-file``), if one is configured; written in a thread."""
        path = self._metrics_file
        if path is None:
            return
        figures = await self._store.reports.metrics()
        snapshot = metrics.MetricsSnapshot(
            runs_by_state=figures.runs_by_state,
            last_success=[
                metrics.LastSuccess(
                    p.configuration_id,
                    p.administration_number,
                    parse_iso(p.finished_at).timestamp(),
                )
                for p in figures.last_postings
            ],
            provider_errors=figures.errors_by_provider_and_kind,
            authorisations=figures.authorisations_by_status,
            up=up,
        )
        await asyncio.to_thread(metrics.write_metrics, path, snapshot)


class SubscriberSnapshot:
    """What a new event subscriber needs first so it misses no run (``events.subscribe``)."""

    def __init__(self, *, store: Store, runs: RunningRuns) -> None:
        self._store = store
        self._runs = runs

    async def __call__(self, topics: list[str]) -> dict[str, Any]:
        snap: dict[str, Any] = {}
        if "sync.progress" in topics or "sync.finished" in topics:
            snap["running"] = await self._runs.running()
        if "notification.created" in topics:
            snap["unread_notifications"] = await self._store.notifications.unread_count()
        return snap
