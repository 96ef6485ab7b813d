"""One posted entry with its lines, as the daemon recorded what it posted."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.money import balance, right, wire
from bexsync_tui.widgets.tables import EntryLinesTable, Fit, cut, fill_table
from bexsync_tui.widgets.times import local_time

ENTRY_COLUMNS = (
    Fit("account", "Account", 8),
    Fit("description", "Description", 8, share=1),  # shrinks first: amounts stay in view
    Fit("vat_code", "VAT", 5),
    Fit("debit", Text("Debit", justify="right"), 12),
    Fit("credit", Text("Credit", justify="right"), 12),
)


class EntryDetailScreen(BexScreen):
    """Header facts, then the lines with right-aligned amounts and their totals."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="entry.back"),
    ]

    def __init__(self, entry: dict[str, Any]) -> None:
        super().__init__()
        self.entry = entry

    def compose_body(self) -> ComposeResult:
        yield Static("", id="entry-info", markup=False)
        yield EntryLinesTable(ENTRY_COLUMNS, id="entry-lines")
        yield Static("", id="entry-totals")

    def on_mount(self) -> None:
        e = self.entry
        self.set_heading(f"Entry #{e.get('id')} · administration {e.get('administration_number')}")
        self._info()

    def _info(self) -> None:
        e = self.entry
        self.query_one("#entry-info", Static).update(
            f"Period {e.get('period')} · date {e.get('date')} · total {e.get('total')}\n"
            f"Posted {local_time(e.get('posted_at'), seconds=True)} to "
            f"{e.get('provider')} as {e.get('external_id')}"
        )

    def reload(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="load", exit_on_error=False, description="load the entry")
    async def load(self) -> None:
        self.entry = await self.call("entries.get", {"id": self.entry["id"]})
        self._info()
        lines = list(self.entry.get("lines") or [])
        fill_table(
            self.query_one("#entry-lines", EntryLinesTable),
            (
                (
                    str(i),
                    (
                        str(line.get("account") or ""),
                        cut(line.get("description") or line.get("account_name") or ""),
                        str(line.get("vat_code") or ""),
                        right(line.get("debit")),
                        right(line.get("credit")),
                    ),
                )
                for i, line in enumerate(lines)
            ),
        )
        totals = balance(lines)
        self.query_one("#entry-totals", Static).update(
            f"{len(lines)} lines · debit {wire(totals.debit)} · credit {wire(totals.credit)}"
        )
