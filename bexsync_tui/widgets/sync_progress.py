"""Live progress of a configuration's running sync: a bar and its stage, fed by the app."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Label, ProgressBar

from bexsync_tui.widgets.state import RunProgress


class SyncProgressPanel(Widget):
    """Shown only while a run of ``configuration_id`` is active; the app pushes every change."""

    DEFAULT_CSS = """
    SyncProgressPanel { height: auto; display: none; layout: horizontal; }
    SyncProgressPanel.-running { display: block; }
    SyncProgressPanel > #sync-stage { width: auto; margin-right: 1; }
    SyncProgressPanel > ProgressBar { width: 1fr; }
    """

    def __init__(self, configuration_id: Any, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.configuration_id = configuration_id
        self.run: RunProgress | None = None

    def compose(self) -> ComposeResult:
        yield Label("", id="sync-stage")
        yield ProgressBar(total=None, show_eta=False, id="sync-bar")

    def on_mount(self) -> None:
        app: Any = self.app
        app.progress_signal.subscribe(self, self._on_progress)
        self._on_progress(None)

    def _on_progress(self, _: object) -> None:
        app: Any = self.app
        run = app.run_for_configuration(self.configuration_id)
        self.run = run
        self.set_class(run is not None, "-running")
        if run is None:
            return
        label = f"Syncing {run.period} · {run.stage}"
        if run.total:
            label += f" {run.done}/{run.total}"
        self.query_one("#sync-stage", Label).update(label)
        bar = self.query_one("#sync-bar", ProgressBar)
        # Whole-run share: stages in order, each a third, so the bar never jumps backwards.
        bar.update(total=100, progress=overall_percent(run))


STAGES = ("queued", "fetching", "building", "posting")


def overall_percent(run: RunProgress) -> float:
    """Progress of the whole run in percent, counting each stage as an equal share."""
    index = STAGES.index(run.stage) if run.stage in STAGES else 0
    share = 100 / (len(STAGES) - 1)
    within = run.fraction or 0.0
    return min(100.0, max(0.0, (index - 1) * share + within * share)) if index else 0.0
