"""Fault 1: the entries overview's configuration filter always says what it shows, and a
deleted configuration's filter does not stay on hiding every entry."""

from __future__ import annotations

from typing import Any

from textual.widgets import Select

from bexsync_tui.screens.entries import EntriesScreen
from tests.support.daemon import wait_run
from tests.tui.helpers import wait_text, wait_toast, wait_until


async def new_configuration(client: Any) -> int:
    created = await client.call("authorisations.create", {"name": "Books", "provider": "sandbox"})
    auth_id = created["authorisation"]["id"]
    await client.call("authorisations.activate", {"id": auth_id})
    configuration = await client.call(
        "configurations.create",
        {
            "authorisation_id": auth_id,
            "administration_id": "4101",
            "frequency": "monthly",
            "ledger_id": "BEX",
            "start_date": "2025-01-01",
            "activate": True,
            "allow_duplicate_target": True,  # 101 posts there too: a second feed on purpose
        },
    )
    return int(configuration["id"])


def shown_filter(pilot: Any) -> str:
    return str(pilot.app.screen.query_one("#filter-configuration", Select).value)


async def test_view_from_a_toast_filters_on_a_new_configuration_and_says_so(
    run_app: Any, backend: Any
) -> None:
    client = backend.client
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("2")  # the overview lists the configurations once
        await wait_text(pilot, "15 entries")
        configuration_id = await new_configuration(client)
        started = await client.call(
            "syncs.run", {"configuration_id": configuration_id, "period": "2025-01"}
        )
        run = await wait_run(client, started["run_id"])
        assert run["state"] == "posted", run
        await wait_toast(pilot, "Press v")
        await pilot.press("1", "v")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntriesScreen))
        await wait_text(pilot, " 1 entry · Enter")
        await wait_until(
            pilot, lambda: shown_filter(pilot) == str(configuration_id), what="the filter shown"
        )

        # The configuration is deleted: its filter goes, every other entry shows again.
        await client.call("configurations.deactivate", {"id": configuration_id})
        await client.call("configurations.delete", {"id": configuration_id})
        await pilot.press("1", "2")
        await wait_until(pilot, lambda: shown_filter(pilot) == "*", what="the filter cleared")
        text = await wait_text(pilot, "entries · Enter")
        assert "No entries posted yet" not in text
        assert " 0 entries" not in text
