"""Fault 5: what `bexsync sync <configuration_id>` needs is on screen, and three
configurations of one administration are told apart."""

from __future__ import annotations

from typing import Any

from tests.tui.helpers import wait_text
from tests.tui.test_configurations import open_configuration, open_configurations


async def test_configuration_ids_are_shown(run_app: Any) -> None:
    async with run_app() as pilot:
        await open_configurations(pilot)
        text = await wait_text(pilot, "101", "102", "103")
        header = next(line for line in text.splitlines() if "Admin" in line)
        assert header.split()[0] == "#"
        await pilot.press("escape")
        await open_configuration(pilot, "102")
        await wait_text(pilot, "monthly · configuration 2", "BEX", "at sandbox")


async def test_next_runs_tell_configurations_apart(run_app: Any) -> None:
    async with run_app(size=(120, 35)) as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("4")
        text = await wait_text(pilot, "Next runs")
        await wait_text(pilot, "#1 101", "#2 102", "#3 103")
        assert "\n 101 " not in text


def test_a_correction_is_marked_in_the_entries_overview() -> None:
    from bexsync_tui.screens.entries import kind_text

    assert kind_text({"kind": "correction"}) == "corr."
    assert kind_text({"kind": "entry"}) == ""


async def test_the_entries_overview_shows_the_configuration(run_app: Any) -> None:
    async with run_app(size=(120, 35)) as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("2")
        text = await wait_text(pilot, "15 entries")
        header = next(line for line in text.splitlines() if "Admin" in line)
        assert header.split()[:3] == ["Date", "#", "Admin"] and "Kind" in header
        assert " 2025-02-28 3   103 " in text, text
