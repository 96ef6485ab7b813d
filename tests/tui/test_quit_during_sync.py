"""Quitting during a catch-up: daemon events that arrive while the TUI closes are no crash."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bexsync_tui.widgets.messages import DaemonEvent
from tests.tui.helpers import wait_text


async def test_events_arriving_while_the_tui_closes_are_no_crash(run_app: Any) -> None:
    finished = {"configuration_id": 1, "period": "2026-11-29", "state": "posted", "error": None}

    async def catch_up(app: Any) -> None:
        """What the client does during a catch-up: an event every turn of the loop."""
        run_id = 0
        while True:
            run_id += 1
            data = {**finished, "run_id": run_id, "entry_id": run_id}
            app.post_message(DaemonEvent("sync.finished", data))
            app.post_message(DaemonEvent("notification.created", {"id": run_id}))
            await asyncio.sleep(0)

    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox", "● connected")
        stream = asyncio.create_task(catch_up(pilot.app))
    # Leaving run_test closed the app and re-raised whatever it raised while closing.
    stream.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stream
