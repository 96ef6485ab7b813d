"""Daemon status: version, uptime, paths, next runs and what needs attention."""

from __future__ import annotations

from typing import Any

from tests.tui.helpers import wait_text


async def test_status_screen(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("4")
        status = await pilot.app.client.call("daemon.status", {})
        text = await wait_text(pilot, "Daemon status", "Next runs", str(status["version"]))
        assert str(status["socket"]) in text and str(status["state_dir"]) in text
        for run in status["next_runs"]:
            assert run["period"] in text
        if status["attention"]:
            assert "Needs attention" in text and "•" in text
