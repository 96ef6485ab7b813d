"""Plain data the screens share: live run progress parsed from the daemon's runs and events.

The daemon sends a run either as a full Run (``id``, ``progress:{stage, done, total}``) or as a
flat progress event (``run_id``, ``stage``, ``done``, ``total``); one parser accepts both so the
TUI does not depend on which one a given event carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACTIVE_RUN_STATES = frozenset({"queued", "fetching", "building", "posting"})
FINAL_RUN_STATES = frozenset({"posted", "failed", "cancelled", "needs_review"})


@dataclass(frozen=True)
class RunProgress:
    """Where one sync run is; ``total`` None means the stage has no known size."""

    run_id: Any
    configuration_id: Any
    period: str
    state: str
    stage: str
    done: int
    total: int | None
    error: str | None = None
    entry_id: Any = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_RUN_STATES

    @property
    def fraction(self) -> float | None:
        """Completed share of the current stage, or None while the size is unknown."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    @classmethod
    def parse(cls, data: dict[str, Any]) -> RunProgress | None:
        """Read a Run or a progress event; None when it names no run."""
        run = data.get("run") if isinstance(data.get("run"), dict) else data
        run_id = run.get("run_id", run.get("id"))
        if run_id is None:
            return None
        progress = run.get("progress") if isinstance(run.get("progress"), dict) else run
        state = str(run.get("state") or progress.get("stage") or "queued")
        stage = str(progress.get("stage") or state)
        total = progress.get("total")
        return cls(
            run_id=run_id,
            configuration_id=run.get("configuration_id"),
            period=str(run.get("period") or ""),
            state=state,
            stage=stage,
            done=_int(progress.get("done")),
            total=None if total is None else _int(total),
            error=run.get("error"),
            entry_id=run.get("entry_id"),
        )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def progress_text(run: RunProgress | None, width: int = 10, counts: bool = True) -> str:
    """A one-cell text bar for tables: ``▰▰▰▱▱ posting 3/5``; empty when nothing runs."""
    if run is None or not run.active:
        return ""
    fraction = run.fraction
    if fraction is None:
        return f"{run.stage}…"
    filled = round(fraction * width)
    bar = "▰" * filled + "▱" * (width - filled)
    return f"{bar} {run.stage}" + (f" {run.done}/{run.total}" if counts else "")


def same_id(left: Any, right: Any) -> bool:
    """Ids compare as strings: the daemon's ints and the TUI's table keys are both ids."""
    return left is not None and right is not None and str(left) == str(right)
