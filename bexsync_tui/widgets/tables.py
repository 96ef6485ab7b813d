"""DataTable with a visible "Open" binding, and a refill that keeps the user's row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.console import RenderableType
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist


class BexTable(DataTable[Any]):
    """A row-cursor table whose Enter shows in the footer (DataTable hides it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="table.open"),
        # DataTable's Home/End scroll sideways; on a row cursor they go to the first/last row.
        Binding("home", "first_row", "First", show=False, id="table.first"),
        Binding("end", "last_row", "Last", show=False, id="table.last"),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", False)
        super().__init__(**kwargs)

    @property
    def current_key(self) -> str | None:
        """The highlighted row's key, or None for an empty table."""
        if self.row_count == 0:
            return None
        row = min(self.cursor_row, self.row_count - 1)
        key = self.coordinate_to_cell_key((row, 0)).row_key.value
        return None if key is None else str(key)


class LinesTable(BexTable):
    """The draft lines: Enter edits the highlighted line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Edit line", id="preview.edit_line"),
    ]


def fill_table(
    table: BexTable, rows: Iterable[tuple[str, Sequence[RenderableType]]], keep: str | None = None
) -> None:
    """Replace all rows; the cursor stays on the same key (or row number) when it still exists."""
    keep = keep if keep is not None else table.current_key
    old_row = table.cursor_row
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if table.row_count == 0:
        return
    try:
        index = table.get_row_index(keep) if keep is not None else old_row
    except RowDoesNotExist:
        index = old_row
    table.move_cursor(row=max(0, min(index, table.row_count - 1)), animate=False)


class PlainTable(BexTable):
    """A table whose rows open nothing: Enter is not advertised."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", show=False),
    ]
