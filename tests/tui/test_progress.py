"""Live progress: one event worker, progress coalesced so a burst costs one screen update."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import ProgressBar

from bexsync_tui.widgets.state import RunProgress
from bexsync_tui.widgets.sync_progress import SyncProgressPanel, overall_percent
from tests.tui.helpers import wait_text, wait_until
from tests.tui.test_configurations import open_configuration


async def test_a_burst_of_progress_is_coalesced(run_app: Any, backend: Any) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "101")
        app = pilot.app
        handled = app.progress_handled
        for done in range(1, 501):
            backend.emit(
                "sync.progress",
                {
                    "run_id": 999,
                    "configuration_id": 1,
                    "period": "2025-03-15",
                    "state": "fetching",
                    "stage": "fetching",
                    "done": done,
                    "total": 500,
                },
            )
        await wait_text(pilot, "Syncing 2025-03-15 · fetching 500/500")
        assert app.progress_handled - handled <= 2  # 500 events, at most two updates
        panel = app.screen.query_one(SyncProgressPanel)
        assert panel.query_one(ProgressBar).percentage == pytest.approx(1 / 3)  # fetching done


async def test_progress_after_finished_is_ignored(run_app: Any, backend: Any) -> None:
    async with run_app() as pilot:
        await open_configuration(pilot, "101")
        event = {
            "run_id": 998,
            "configuration_id": 1,
            "period": "2025-03-15",
            "state": "posting",
            "stage": "posting",
            "done": 0,
            "total": 1,
        }
        backend.emit("sync.progress", event)
        await wait_text(pilot, "Syncing 2025-03-15 · posting 0/1")
        backend.emit("sync.finished", {**event, "state": "failed", "error": "rejected: locked"})
        backend.emit("sync.progress", event)  # a straggler must not bring the run back
        await wait_until(pilot, lambda: pilot.app.run_for_configuration(1) is None)
        await pilot.pause(0.1)
        assert pilot.app.run_for_configuration(1) is None
        assert not pilot.app.screen.query_one(SyncProgressPanel).has_class("-running")


def test_run_progress_reads_runs_and_events() -> None:
    event = RunProgress.parse(
        {
            "run_id": 7,
            "configuration_id": 2,
            "period": "2025-02",
            "state": "building",
            "stage": "building",
            "done": 2,
            "total": 4,
        }
    )
    run = RunProgress.parse(
        {
            "id": 7,
            "configuration_id": 2,
            "period": "2025-02",
            "state": "building",
            "progress": {"stage": "building", "done": 2, "total": 4},
        }
    )
    assert event == run
    assert run is not None and run.active and run.fraction == 0.5
    assert overall_percent(run) == 50.0
    finished = RunProgress.parse({"run_id": 7, "state": "posted", "entry_id": 12})
    assert finished is not None and not finished.active and finished.entry_id == 12
    assert RunProgress.parse({"stage": "x"}) is None


async def test_a_catch_up_gets_one_summary_toast(run_app: Any, backend: Any) -> None:
    from tests.tui.helpers import toasts, wait_toast

    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        for day in range(1, 7):
            backend.emit(
                "sync.finished",
                {
                    "run_id": 900 + day,
                    "configuration_id": 1,
                    "period": f"2025-03-0{day}",
                    "state": "posted",
                    "entry_id": day,
                    "error": None,
                },
            )
        toast = await wait_toast(pilot, "6 entries posted")
        assert "2025-03-06" in toast and "Press v" in toast
        assert not any("Sync finished" in t for t in toasts(pilot.app))
