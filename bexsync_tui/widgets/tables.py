"""DataTable with a visible "Open" binding, a refill that keeps the user's row, and columns
fitted to the width (amounts stay in view, names shrink first)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import RenderableType
from rich.text import Text
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


@dataclass(frozen=True)
class Fit:
    """A column of a ``FittedTable``: ``width`` it keeps; with a ``share`` it is the least the
    column shrinks to and it grows by its share of the room the fixed columns leave."""

    key: str
    label: RenderableType
    width: int
    share: int = 0


def fitted_widths(columns: Sequence[Fit], room: int, padding: int) -> list[int]:
    """Column widths for ``room`` cells: fixed columns (money) keep theirs, the shared ones
    (names, descriptions) take what is left, never less than their least width."""
    spare = room - sum(c.width + 2 * padding for c in columns)
    shares = sum(c.share for c in columns)
    widths = [c.width for c in columns]
    if spare <= 0 or not shares:
        return widths
    given = 0
    flexible = [i for i, c in enumerate(columns) if c.share]
    for i in flexible:
        extra = spare * columns[i].share // shares
        widths[i] += extra
        given += extra
    widths[flexible[-1]] += spare - given  # rounding: the last shared column takes the rest
    return widths


def cut(value: object) -> Text:
    """A text cell that ends in "…" when its column is narrower than the text (never markup)."""
    return Text(str(value if value is not None else ""), no_wrap=True, overflow="ellipsis")


class FittedTable(BexTable):
    """A table whose shared columns (names, descriptions) shrink first, so the fixed ones
    (amounts) stay in view at any width, and grow into the room a wide terminal has."""

    def __init__(self, columns: Sequence[Fit], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fits = tuple(columns)
        self._widths: list[int] = []
        self._set_columns(fitted_widths(self.fits, 0, self.cell_padding))

    def on_resize(self) -> None:
        room = self.size.width - self.styles.scrollbar_size_vertical
        widths = fitted_widths(self.fits, room, self.cell_padding)
        if widths != self._widths:
            self._set_columns(widths)

    def _set_columns(self, widths: list[int]) -> None:
        """DataTable has no public way to resize a column: add them again, rows kept."""
        rows = [(row.key, self.get_row(row.key)) for row in self.ordered_rows]
        cursor = self.cursor_coordinate
        self.clear(columns=True)
        for fit, width in zip(self.fits, widths, strict=True):
            self.add_column(fit.label, width=width, key=fit.key)
        for key, cells in rows:
            self.add_row(*cells, key=key.value)
        self._widths = widths
        if rows:
            self.move_cursor(row=cursor.row, column=cursor.column, animate=False)


class LinesTable(FittedTable):
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


class EntryLinesTable(FittedTable):
    """A posted entry's lines: read-only, Enter is not advertised."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", show=False),
    ]
