"""README "The TUI, by keyboard", step by step at 80x24 on the real demo daemon: every key the
walkthrough names does what it says."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Select

from bexsync_tui.screens.add_authorisation import AddAuthorisationScreen
from bexsync_tui.screens.configuration_form import ConfigurationFormScreen
from bexsync_tui.screens.configuration_view import ConfigurationViewScreen
from bexsync_tui.screens.configurations import ConfigurationsScreen
from bexsync_tui.screens.entries import EntriesScreen
from bexsync_tui.screens.entry_detail import EntryDetailScreen
from bexsync_tui.screens.mappings import MappingsScreen
from bexsync_tui.screens.period import PeriodScreen
from bexsync_tui.screens.preview import PreviewScreen
from tests.tui.helpers import choices, wait_text, wait_toast, wait_until


def in_screen(pilot: Any) -> str:
    from tests.tui.helpers import screen_text

    return screen_text(pilot.app)


def on(pilot: Any, screen: type) -> Any:
    return lambda: isinstance(pilot.app.screen, screen)


async def test_the_readme_walkthrough_at_80x24(run_app: Any, backend: Any) -> None:
    async with run_app(size=(80, 24)) as pilot:
        await wait_text(pilot, "Demo sandbox", "● connected")
        # Sections and the unread count in the top bar.
        top = (await wait_text(pilot, "3 Notifications (")).splitlines()[0]
        for section in ("1 Authorisations", "2 Entries", "4 Daemon", "5 Access"):
            assert section in top

        # 1. Access: space ticks (and unticks) an administration.
        await pilot.press("5")
        text = await wait_text(pilot, "Access · administrations", "[x]")
        await pilot.press("space")
        await wait_text(pilot, "[ ]")
        await pilot.press("space")
        await wait_until(pilot, lambda: "[ ]" not in in_screen(pilot), what="ticked again")
        assert "[x]" in text

        # 2. Authorisation: 1, n, a unique name and a provider; a activates it.
        await pilot.press("1")
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("n")
        await wait_until(pilot, on(pilot, AddAuthorisationScreen))
        screen = pilot.app.screen
        await pilot.press(*"Books")  # the form opens on the name
        provider = screen.query_one("#provider", Select)
        await wait_until(pilot, lambda: len(choices(provider)) > 5, what="the providers")
        provider.value = "sandbox"
        await pilot.click("#continue")
        await wait_text(pilot, "Authorisation 'Books' is saved.")
        await pilot.press("escape")
        await wait_text(pilot, "Books")
        await pilot.press("up", "a")  # "Books" sorts first; the cursor stayed on "Demo sandbox"
        await wait_toast(pilot, "'Books' is active")

        # 3. Configuration: enter on an authorisation, n: lists come live from the daemon.
        await pilot.press("down", "enter")  # "Demo sandbox"
        await wait_until(pilot, on(pilot, ConfigurationsScreen))
        await wait_text(pilot, "101", "102", "103")
        await pilot.press("n")
        await wait_until(pilot, on(pilot, ConfigurationFormScreen))
        ledger = pilot.app.screen.query_one("#ledger_id", Select)
        await wait_until(pilot, lambda: len(choices(ledger)) > 1, what="the ledgers")
        await pilot.press("escape")
        await wait_until(pilot, on(pilot, ConfigurationsScreen))

        # 4. enter on a configuration: p previews, n adds a line, t chooses a period, and in
        #    the form ctrl+o edits the mappings; s syncs now.
        await pilot.press("down", "enter")
        await wait_until(pilot, on(pilot, ConfigurationViewScreen))
        await wait_text(pilot, "Administration 102", "p Preview")
        await pilot.press("p")
        await wait_until(pilot, on(pilot, PreviewScreen))
        await wait_text(pilot, "✓ balanced")
        await pilot.press("n")
        preview = pilot.app.screen
        await wait_until(pilot, lambda: preview.query_one("#editor").display, what="the editor")
        await pilot.press("escape", "escape")
        await wait_until(pilot, on(pilot, ConfigurationViewScreen))
        await pilot.press("t")
        await wait_until(pilot, on(pilot, PeriodScreen))
        assert pilot.app.screen.query_one("#period", Input).has_focus
        await pilot.press("escape", "e")
        await wait_until(pilot, on(pilot, ConfigurationFormScreen))
        form = pilot.app.screen
        await wait_until(pilot, lambda: form.query_one("#delay_days", Input).value != "")
        await pilot.press("ctrl+o")
        await wait_until(pilot, on(pilot, MappingsScreen))
        await wait_text(pilot, "a Add account", "v Add VAT", "x Remove")
        await pilot.press("escape")  # nothing changed: no "Leave without saving?"
        await wait_until(pilot, on(pilot, ConfigurationFormScreen))
        await pilot.press("escape")
        await wait_until(pilot, on(pilot, ConfigurationViewScreen))
        await pilot.press("s")
        await wait_toast(pilot, "entry posted. Press v")

        # 5. Notifications: enter on one jumps to its entry; v after a toast does the same.
        await pilot.press("v")
        await wait_until(pilot, on(pilot, EntriesScreen))
        await pilot.press("3")
        await wait_text(pilot, "Notifications ·", "Posted 102")
        await pilot.press("enter")
        await wait_until(pilot, on(pilot, EntriesScreen))

        # 6. Entries overview: f filters, enter shows the lines.
        await pilot.press("2")
        await wait_text(pilot, "entries · Enter")
        await pilot.press("f")
        assert isinstance(pilot.app.focused, Select)
        await pilot.press("escape", "enter")
        await wait_until(pilot, on(pilot, EntryDetailScreen))
        await wait_text(pilot, "lines · debit")
