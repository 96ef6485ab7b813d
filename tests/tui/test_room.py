"""Fault 8 (part): names and titles are not cut where the terminal has room for them."""

from __future__ import annotations

from typing import Any

from tests.tui.helpers import wait_text
from tests.tui.test_configurations import open_configurations


async def test_names_and_titles_use_the_room_at_120_columns(run_app: Any, backend: Any) -> None:
    configurations = await backend.client.call("configurations.list", {})
    name = next(c for c in configurations if c["administration_number"] == "102")
    async with run_app(size=(120, 35)) as pilot:
        await open_configurations(pilot)
        await wait_text(pilot, name["administration_name"])  # whole, not cut
        await pilot.press("3")
        notes = await backend.client.call("notifications.list", {})
        newest = notes[0]["title"]
        await wait_text(pilot, newest[:80])  # as much as the room allows, not cut at 44
