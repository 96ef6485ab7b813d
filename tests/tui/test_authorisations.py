"""Authorisations: listed with status and configuration count; open, activate, delete."""

from __future__ import annotations

from typing import Any

from bexsync_tui.widgets.tables import BexTable
from tests.tui.helpers import screen_text, wait_no_text, wait_text, wait_toast, wait_until


def table(pilot: Any) -> BexTable:
    return pilot.app.screen.query_one("#authorisations-table", BexTable)


def table_text(pilot: Any) -> str:
    t = table(pilot)
    return "\n".join(" ".join(str(c) for c in t.get_row_at(i)) for i in range(t.row_count))


async def test_first_screen_lists_the_demo_authorisation(run_app: Any) -> None:
    async with run_app() as pilot:
        text = await wait_text(pilot, "Demo sandbox", "n New", "a Activate", "d Delete")
        row = next(line for line in text.splitlines() if "Demo sandbox" in line)
        assert "sandbox" in row.split("Demo sandbox", 1)[1]
        assert "active" in row
        assert row.rstrip().endswith("3")  # its configurations


async def test_enter_opens_the_configurations_by_administration_number(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("enter")
        text = await wait_text(pilot, "› Configurations", "101", "102", "103")
        rows = [line.split() for line in text.splitlines() if line[:4].strip().isdigit()]
        assert [row[1] for row in rows] == ["101", "102", "103"]  # after the "#" column
        await pilot.press("escape")
        await wait_no_text(pilot, "› Configurations")


async def test_activate_verifies_an_inactive_authorisation(run_app: Any, backend: Any) -> None:
    await backend.client.start()
    await backend.client.call("authorisations.create", {"name": "Second", "provider": "sandbox"})
    async with run_app() as pilot:
        await wait_text(pilot, "Second")
        row = next(line for line in screen_text(pilot.app).splitlines() if "Second" in line)
        assert "inactive" in row
        await pilot.press("down", "a")
        await wait_toast(pilot, "is active")
        text = await wait_text(pilot, "Second")
        row = next(line for line in text.splitlines() if "Second" in line)
        assert "inactive" not in row and "active" in row


async def test_delete_is_refused_while_configurations_exist(run_app: Any, backend: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("d")  # no Delete (y) that would then fail: it says what to do
        toast = await wait_toast(pilot, "still has 3 configurations: delete them first")
        assert toast.startswith("Not deleted:")
        assert "Traceback" not in screen_text(pilot.app)
        assert backend.calls("authorisations.delete") == []
        assert table(pilot).row_count == 1


async def test_delete_after_confirmation(run_app: Any, backend: Any) -> None:
    await backend.client.start()
    await backend.client.call("authorisations.create", {"name": "Spare", "provider": "sandbox"})
    async with run_app() as pilot:
        await wait_text(pilot, "Spare")
        await pilot.press("down", "d")
        await wait_text(pilot, "Delete authorisation 'Spare'?")
        await pilot.press("n")  # cancel keeps it
        await wait_no_text(pilot, "Delete authorisation")
        assert "Spare" in screen_text(pilot.app)
        await pilot.press("d")
        await wait_text(pilot, "Delete authorisation 'Spare'?")
        await pilot.press("y")
        await wait_toast(pilot, "'Spare' deleted")
        await wait_until(pilot, lambda: table(pilot).row_count == 1, what="the row to go")
        assert "Spare" not in table_text(pilot)
