"""`?`: every key that works here, with the binding id a user puts in the keymap to remap it."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label, Static

INTRO = (
    "Keys work on the highlighted row. Remap any key by its id in the [keymap] table of "
    '{path}, e.g.  "nav.entries" = "f2".  ctrl+p opens the command palette.'
)


class HelpScreen(ModalScreen[None]):
    """Lists the bindings active on the screen underneath."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, under: Screen[Any], keymap_path: str) -> None:
        super().__init__()
        self.under = under
        self.keymap_path = keymap_path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("Help: keys", classes="dialog-title")
            yield Static(INTRO.format(path=self.keymap_path), markup=False, id="help-intro")
            table: DataTable[Any] = DataTable(cursor_type="row", id="help-keys")
            table.add_column("Key", width=12)
            table.add_column("Action", width=26)
            table.add_column("Id (for the keymap)")
            for binding in help_bindings(self.under):
                display = self.app.get_key_display(binding)
                table.add_row(Text(display), binding.description, binding.id or "")
            yield table

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


def help_bindings(screen: Screen[Any]) -> list[Binding]:
    """bexsync's own bindings (they have ids) first, then the widgets' visible ones."""
    ours: list[Binding] = []
    others: list[Binding] = []
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        name = binding.id or binding.action
        if not binding.description or name in seen or not (binding.id or binding.show):
            continue
        seen.add(name)
        (ours if binding.id else others).append(binding)
    return ours + others
