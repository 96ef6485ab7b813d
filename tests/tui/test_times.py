"""Fault 4: due and other times are this computer's local time, with the year."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bexsync_tui.widgets.times import local_time
from tests.tui.helpers import wait_text
from tests.tui.test_configurations import open_configuration

ZONE = "Europe/Amsterdam"


@pytest.fixture
def amsterdam(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", ZONE)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def shown(utc: str) -> str:
    moment = datetime.fromisoformat(utc.replace("Z", "+00:00")).astimezone(ZoneInfo(ZONE))
    return moment.strftime("%Y-%m-%d %H:%M")


def test_local_time_converts_and_keeps_the_year(amsterdam: None) -> None:
    assert local_time("2024-04-09T22:00:00Z") == "2024-04-10 00:00"  # CEST, a year back
    assert local_time("2025-01-31T23:30:00+00:00") == "2025-02-01 00:30"  # CET
    assert local_time("") == "" and local_time("soon") == "soon"


async def test_the_due_time_is_local_with_the_year(
    run_app: Any, backend: Any, amsterdam: None
) -> None:
    configuration = next(
        c
        for c in await backend.client.call("configurations.list", {})
        if c["administration_number"] == "102"
    )
    due_at = configuration["next_due"]["due_at"]
    async with run_app(size=(120, 35)) as pilot:
        await open_configuration(pilot, "102")
        await wait_text(pilot, f"due {shown(due_at)} CE")  # CET or CEST
        await pilot.press("4")
        await wait_text(pilot, "Next runs (times in CE", shown(due_at))
