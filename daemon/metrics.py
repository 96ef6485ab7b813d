"""A Prometheus metrics file for node_exporter's textfile collector, written after every run.

The daemon fills a `MetricsSnapshot` from its database and calls `write_metrics` (in a thread:
`await asyncio.to_thread(write_metrics, path, snapshot)`). The file is replaced atomically, so
the collector never reads half a file, and is world-readable (0644) whatever the umask, because
node_exporter runs as another user. The temporary file does not end in `.prom`, so the collector
ignores it. On a clean shutdown write once more with `up=False`.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from daemon.model import (
    AUTHORISATION_STATUSES,
    ActiveRunState,
    SettledRunState,
)

# Run states (CONTRACT.md, Run.state). Settled states are counted as they accumulate in the
# database; in-flight ones are a gauge of what is happening right now.
SETTLED_STATES: tuple[str, ...] = get_args(SettledRunState)
ACTIVE_STATES: tuple[str, ...] = get_args(ActiveRunState)


@dataclass(frozen=True)
class LastSuccess:
    """The newest posted (or done, empty) run of one configuration."""

    configuration_id: int | str
    administration: str
    timestamp: float  # Unix seconds


@dataclass(frozen=True)
class MetricsSnapshot:
    """Everything the metrics file shows; plain values the daemon reads from its database.

    `runs_by_state`: number of runs per state, as stored.
    `provider_errors`: failures per (provider id, error kind) since the database was created.
    `authorisations`: number of authorisations per status.
    """

    runs_by_state: Mapping[str, int] = field(default_factory=dict)
    last_success: Sequence[LastSuccess] = ()
    provider_errors: Mapping[tuple[str, str], int] = field(default_factory=dict)
    authorisations: Mapping[str, int] = field(default_factory=dict)
    up: bool = True
    generated_at: float | None = None  # Unix seconds; now when None


def escape_label_value(value: object) -> str:
    """Label value escaping of the text exposition format: backslash, double quote, newline."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


Sample = tuple[Mapping[str, object], float]


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
        self.lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if labels:
                inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
                self.lines.append(f"{name}{{{inner}}} {_number(value)}")
            else:
                self.lines.append(f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _with_zeros(counts: Mapping[str, int], known: Sequence[str]) -> list[tuple[str, int]]:
    """Known label values always present (0), so alerts on them work before the first event."""
    merged = {name: 0 for name in known}
    merged.update(counts)
    return sorted(merged.items())


def render_metrics(snapshot: MetricsSnapshot) -> str:
    """The snapshot in Prometheus text exposition format 0.0.4."""
    out = _Exposition()
    out.family(
        "bexsync_up",
        "gauge",
        "1 while bexsyncd runs; 0 written on a clean shutdown.",
        [({}, 1 if snapshot.up else 0)],
    )
    generated = snapshot.generated_at if snapshot.generated_at is not None else time.time()
    out.family(
        "bexsync_metrics_generated_timestamp_seconds",
        "gauge",
        "When bexsyncd wrote this file (Unix time); alert when it gets old.",
        [({}, round(generated, 3))],
    )
    settled = {s: n for s, n in snapshot.runs_by_state.items() if s not in ACTIVE_STATES}
    out.family(
        "bexsync_runs_total",
        "counter",
        "Sync runs that ended in each state, as recorded in the database.",
        [({"state": s}, n) for s, n in _with_zeros(settled, SETTLED_STATES)],
    )
    active = {s: n for s, n in snapshot.runs_by_state.items() if s in ACTIVE_STATES}
    out.family(
        "bexsync_runs_active",
        "gauge",
        "Sync runs in progress, by state.",
        [({"state": s}, n) for s, n in _with_zeros(active, ACTIVE_STATES)],
    )
    out.family(
        "bexsync_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful sync of each configuration.",
        [
            (
                {"configuration_id": s.configuration_id, "administration": s.administration},
                s.timestamp,
            )
            for s in sorted(snapshot.last_success, key=lambda s: str(s.configuration_id))
        ],
    )
    out.family(
        "bexsync_provider_errors_total",
        "counter",
        "Failed calls to accounting providers and the PMS, by provider and error kind.",
        [
            ({"provider": provider, "kind": kind}, n)
            for (provider, kind), n in sorted(snapshot.provider_errors.items())
        ],
    )
    out.family(
        "bexsync_authorisations",
        "gauge",
        "Authorisations by status; status error or inactive needs a sysadmin.",
        [
            ({"status": s}, n)
            for s, n in _with_zeros(snapshot.authorisations, AUTHORISATION_STATUSES)
        ],
    )
    return out.text()


def write_metrics(path: Path | str, snapshot: MetricsSnapshot) -> Path:
    """Write the metrics file atomically (temporary file in the same directory, then rename)."""
    target = Path(path)
    data = render_metrics(snapshot).encode()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            # Readable by node_exporter only once complete: while it is written (and synced,
            # which can take a while) the temporary file stays 0600 like the rest of the dir.
            os.fchmod(fh.fileno(), 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
