"""A chosen period of a configuration: preview it, or sync it again.

Syncing a period that is already posted is an explicit choice (DESIGN.md): the daemon answers
``Conflict`` and the user confirms; the daemon then posts a correcting entry for the difference
only, or nothing when the PMS still shows what was posted. The daemon judges due dates and the
configuration's range; this screen checks only the shape of what was typed.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from bexsync_tui.actions import run_period
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.errors import show_field_error

MONTH = re.compile(r"\d{4}-\d{2}")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def period_problem(frequency: str, text: str) -> str:
    """Why ``text`` is not a period of a ``frequency`` configuration; "" when it is one."""
    if frequency == "monthly":
        example = "use YYYY-MM for a monthly configuration, e.g. 2025-01"
        if not MONTH.fullmatch(text):
            return f"{text!r} is not a month: {example}" if text else example
        if not 1 <= int(text[5:]) <= 12:
            return f"{text!r} has no month {text[5:]}: {example}"
        return ""
    example = "use YYYY-MM-DD for a daily configuration, e.g. 2025-03-14"
    if not DAY.fullmatch(text):
        return f"{text!r} is not a day: {example}" if text else example
    try:
        date.fromisoformat(text)
    except ValueError:
        return f"{text!r} is not a date in the calendar: {example}"
    return ""


def default_period(configuration: dict[str, Any]) -> str:
    """The last run's period (the one most often re-checked), else the next due one."""
    last = configuration.get("last_run") or {}
    due = configuration.get("next_due") or {}
    return str(last.get("period") or due.get("period") or "")


class PeriodInput(Input):
    """A period field: digits and '-' only. Any other key is left to the screen and the app,
    so a toast's "Press v to view it" works here too instead of typing a v."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Only a period's characters are the field's; other keys keep their bindings."""
        return character is not None and character in PERIOD_CHARACTERS

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable and event.character not in PERIOD_CHARACTERS:
            event.prevent_default()  # Input's own handler would type it
            event.stop()
            active = self.screen.active_bindings.get(event.key)
            if active is not None and active.enabled:  # the key's binding here, e.g. app's v
                # After this handler: the action may leave this screen (v opens Entries).
                self.app.call_later(self.app.run_action, active.binding.action, active.node)
            return
        await super()._on_key(event)


PERIOD_CHARACTERS = frozenset("0123456789-")


class PeriodScreen(BexScreen):
    """One input; Enter previews the period, ctrl+s syncs it (again, after a confirmation)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="period.back"),
        # A priority binding, so the footer shows it over the field's own Enter.
        Binding("enter", "preview", "Preview", id="period.preview", priority=True),
        Binding("ctrl+s", "sync", "Sync this period", id="period.sync"),
    ]

    def __init__(self, configuration: dict[str, Any]) -> None:
        super().__init__()
        self.configuration = configuration

    @property
    def frequency(self) -> str:
        return str(self.configuration.get("frequency") or "daily")

    def compose_body(self) -> ComposeResult:
        shape = "YYYY-MM" if self.frequency == "monthly" else "YYYY-MM-DD"
        with VerticalScroll(id="form"):
            with Horizontal(classes="form-row"):
                yield Label("Period", classes="form-label")
                yield PeriodInput(
                    default_period(self.configuration),
                    placeholder=shape,
                    max_length=10,
                    id="period",
                    compact=True,
                )
            yield Label("", id="error-period", classes="field-error form-error")
            yield Static(
                f"A {self.frequency} period is written {shape}. "
                "Enter previews the period: its lines from the PMS, to correct and post. "
                "ctrl+s syncs it at once. A period that is already posted is synced again "
                "only after you confirm: bexsync then posts a correcting entry for what "
                "changed since, or nothing if nothing changed.",
                markup=False,
                classes="help-text",
            )
            with Horizontal(classes="buttons"):
                yield Button("Preview (enter)", id="preview", variant="primary", compact=True)
                yield Button("Sync (ctrl+s)", id="sync", compact=True)
                yield Button("Back (esc)", id="back", compact=True)

    def on_mount(self) -> None:
        number = self.configuration.get("administration_number")
        self.set_heading(f"Administration {number} › Choose a period ({self.frequency})")
        self.query_one("#period", Input).focus()

    def period(self) -> str | None:
        """The typed period, or None after showing why it is not one."""
        text = self.query_one("#period", Input).value.strip()
        problem = period_problem(self.frequency, text)
        self.show_error(problem)
        return None if problem else text

    def show_error(self, text: str) -> None:
        show_field_error(self.query_one("#error-period", Label), text)

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.dismiss(None)

    def action_preview(self) -> None:
        focused = self.focused
        if isinstance(focused, Button) and focused.id != "preview":
            focused.press()  # Enter on another button does what that button says
            return
        self._preview()

    @on(Button.Pressed, "#preview")
    def _preview(self) -> None:
        period = self.period()
        if period is None:
            return
        self.bex.open("preview", self.configuration, period)

    @on(Button.Pressed, "#sync")
    def _sync_pressed(self) -> None:
        self.action_sync()

    @work(exclusive=True, group="sync", exit_on_error=False, description="start the sync")
    async def action_sync(self) -> None:
        period = self.period()
        if period is None:
            return
        started = await run_period(self, self.configuration, period)
        if started:
            self.dismiss(None)
