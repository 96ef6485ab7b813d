"""Type-to-filter account picker: an account field and, under it, the provider's chart
(``configurations.accounts``) filtered by what is typed, by code or by name.

The field and its list find each other by id on their screen, so a screen places them where
they fit (the list under an editor row) and keeps its own Enter/Escape meaning in the field:
down moves into the list, Enter there puts the account's code in the field, Escape goes back.
Enter in the field on a name that matches one account only takes that account's code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option


class AccountField(Input):
    """An account code field; typing filters its ``AccountList``, down moves into it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "choose", "Choose account", id="accounts.choose"),
    ]

    def __init__(self, *, list_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.list_id = list_id

    @property
    def choices(self) -> AccountList:
        return self.screen.query_one(f"#{self.list_id}", AccountList)

    def on_input_changed(self, event: Input.Changed) -> None:
        """(Not stopped: the screen also hears what was typed.)"""
        self.choices.filter(event.value)

    async def action_submit(self) -> None:
        """Enter on text that is no code of the chart but matches one account only (part of
        its name) takes that account's code."""
        text = self.value.strip()
        found = self.choices.matching(text)
        if text and text not in self.choices.chart and len(found) == 1:
            self.value = found[0][0]
            self.cursor_position = len(self.value)
        await super().action_submit()

    def action_choose(self) -> None:
        choices = self.choices
        if choices.display and choices.option_count:
            choices.highlighted = 0
            choices.focus()


class AccountList(OptionList):
    """The accounts whose code starts with, or whose name contains, the field's text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back to the field", id="accounts.back"),
    ]

    def __init__(self, *, field_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.field_id = field_id
        self.chart: dict[str, str] = {}
        self.offered = True
        """False where the field takes no account (a mapping's VAT row): the list hides."""

    @property
    def field(self) -> AccountField:
        return self.screen.query_one(f"#{self.field_id}", AccountField)

    def set_chart(self, accounts: Iterable[Mapping[str, str]]) -> None:
        self.chart = {str(a["code"]): str(a.get("name") or "") for a in accounts}
        self.filter(self.field.value)

    def name_of(self, code: str) -> str:
        """The chart's name of ``code``; "" when the chart has no such account."""
        return self.chart.get(code.strip(), "")

    def matching(self, text: str) -> list[tuple[str, str]]:
        needle = text.strip().casefold()
        return [
            (code, name)
            for code, name in self.chart.items()
            if code.casefold().startswith(needle) or needle in name.casefold()
        ]

    def filter(self, text: str) -> None:
        """Show the accounts matching ``text`` (all of them for an empty field)."""
        found = self.matching(text) if self.offered else []
        self.clear_options()
        self.add_options(Option(_prompt(code, name), id=code) for code, name in found)
        self.display = bool(found)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        field = self.field
        field.value = str(event.option.id)
        field.cursor_position = len(field.value)
        field.focus()

    def action_back(self) -> None:
        self.field.focus()


def _prompt(code: str, name: str) -> Text:
    text = Text(code.ljust(8), style="bold")
    text.append(f" {name}")
    return text
