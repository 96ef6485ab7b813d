"""A chosen period: preview it, sync it, and sync a posted one again (the difference only)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from bexsync_tui.screens.configuration_view import ConfigurationViewScreen
from bexsync_tui.screens.dialogs import ConfirmScreen
from bexsync_tui.screens.period import PeriodScreen, period_problem
from bexsync_tui.screens.preview import PreviewScreen
from tests.tui.helpers import toasts, wait_text, wait_toast, wait_until
from tests.tui.test_configurations import open_configuration


async def open_period(pilot: Any, number: str) -> PeriodScreen:
    await open_configuration(pilot, number)
    await wait_text(pilot, "t Period")
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PeriodScreen))
    screen = pilot.app.screen
    await wait_text(pilot, "Choose a period", "⏎ Preview", "^s Sync this period", "esc Back")
    return screen


async def type_period(pilot: Any, screen: PeriodScreen, text: str) -> None:
    assert pilot.app.focused is screen.query_one("#period", Input)
    await pilot.press("end", "ctrl+u", *text)


async def entries_of(backend: Any, period: str) -> list[dict[str, Any]]:
    return await backend.client.call("entries.list", {"configuration_id": 2, "period": period})


def test_period_shapes_are_checked_with_a_clear_message() -> None:
    assert period_problem("monthly", "2025-01") == ""
    assert period_problem("daily", "2025-03-14") == ""
    assert "use YYYY-MM for a monthly configuration" in period_problem("monthly", "2025-1")
    assert "no month 13" in period_problem("monthly", "2025-13")
    assert "use YYYY-MM-DD for a daily" in period_problem("daily", "2025-03")
    assert "not a date in the calendar" in period_problem("daily", "2025-02-30")
    assert "use YYYY-MM for a monthly" in period_problem("monthly", "")


async def test_a_malformed_or_not_due_period_is_refused_beside_the_field(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        screen = await open_period(pilot, "102")
        await type_period(pilot, screen, "2025-1")
        await pilot.press("enter")
        await wait_text(pilot, "'2025-1' is not a month: use YYYY-MM for a monthly")
        assert isinstance(pilot.app.screen, PeriodScreen)
        await type_period(pilot, screen, "2025-03")  # ends after today: the daemon refuses
        await pilot.press("ctrl+s")
        await wait_text(pilot, "Period 2025-03 is not due until")
        assert isinstance(pilot.app.screen, PeriodScreen)
        assert not any(t.startswith("Sync: ") for t in toasts(pilot.app))


async def test_preview_a_chosen_period(run_app: Any) -> None:
    async with run_app() as pilot:
        screen = await open_period(pilot, "101")  # daily
        await type_period(pilot, screen, "2025-03-10")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
        text = await wait_text(pilot, "Period 2025-03-10", "✓ balanced")
        assert "already posted" in text  # 101 posted its days up to yesterday


async def test_a_posted_period_with_no_change_has_nothing_to_correct(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        screen = await open_period(pilot, "102")
        await type_period(pilot, screen, "2025-01")
        before = await entries_of(backend, "2025-01")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await wait_text(pilot, "102 2025-01 is already posted. Sync it again?", "difference")
        await pilot.press("n")  # not confirmed: nothing starts
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PeriodScreen))
        assert not any(t.startswith("Sync: ") for t in toasts(pilot.app))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
        toast = await wait_toast(pilot, "nothing to correct")
        assert "Administration 102 → BEX (configuration 2) 2025-01" in toast
        assert await entries_of(backend, "2025-01") == before  # no duplicate, no correction
        text = await wait_text(pilot, "no difference")
        row = next(line for line in text.splitlines() if "no difference" in line)
        assert row.split()[0] == "2025-01" and "posted" in row


async def test_a_corrected_preview_of_a_posted_period_posts_the_difference_only(
    run_app: Any, backend: Any
) -> None:
    async with run_app() as pilot:
        screen = await open_period(pilot, "102")
        await type_period(pilot, screen, "2025-01")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
        preview = pilot.app.screen
        await wait_text(pilot, "Period 2025-01", "already posted")
        # The PMS did not change: the correction is empty until the bookkeeper writes it.
        # Move 100.00 from cash to card, as two new lines of the correction.
        for account, debit, credit in (("1000", "0.00", "100.00"), ("1020", "100.00", "0.00")):
            await pilot.press("n")
            await wait_until(pilot, lambda: preview.query_one("#editor").display)
            for field, value in (("account", account), ("description", "Moved"),
                                 ("debit", debit), ("credit", credit)):  # fmt: skip
                preview.query_one(f"#edit-{field}", Input).value = value
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: not preview.dirty and not preview.validating, what="re-validated"
            )
        await wait_until(pilot, lambda: preview.can_post, what="postable")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press("y")
        toast = await wait_toast(pilot, "correcting entry posted. Press v")
        assert "Administration 102 → BEX (configuration 2) 2025-01" in toast
        entries = await entries_of(backend, "2025-01")
        assert len(entries) == 2  # the original and the correction, never a duplicate
        correction = await backend.client.call("entries.get", {"id": entries[0]["id"]})
        amounts = {line["account"]: (line["debit"], line["credit"]) for line in correction["lines"]}
        assert amounts == {"1000": ("0.00", "100.00"), "1020": ("100.00", "0.00")}
