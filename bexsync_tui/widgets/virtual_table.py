"""A line-API table: only the visible rows are ever formatted, so 100,000 rows scroll freely.

Rows arrive page by page (the screen asks the daemon for the next page when the cursor nears
the end of what is loaded: ``NeedMore``); the widget only renders ``height`` lines per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    """``width`` None: the column takes the space the others leave. ``optional``: hidden when
    the terminal is too narrow for every column, so the others (amounts) stay in view."""

    key: str
    label: str
    width: int | None = None
    justify: str = "left"
    render: Callable[[Row], str] | None = None
    optional: bool = False


LEAST_FLEX = 4
"""The fewest cells a ``width`` None column gets."""


class VirtualTable(ScrollView, can_focus=True):
    """A read-only table with a row cursor over a growing list of rows."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header",
        "virtual-table--cursor",
        "virtual-table--empty",
    }
    DEFAULT_CSS = """
    VirtualTable { height: 1fr; }
    VirtualTable > .virtual-table--header { text-style: bold; background: $panel; }
    VirtualTable > .virtual-table--cursor { background: $accent 30%; }
    VirtualTable:focus > .virtual-table--cursor { background: $accent; color: $text; }
    VirtualTable > .virtual-table--empty { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open", id="table.open"),
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        def __init__(self, table: VirtualTable, index: int, row: Row) -> None:
            super().__init__()
            self.table, self.index, self.row = table, index, row

    class Selected(Message):
        def __init__(self, table: VirtualTable, index: int, row: Row) -> None:
            super().__init__()
            self.table, self.index, self.row = table, index, row

    class NeedMore(Message):
        """The cursor is near the end of the loaded rows and more may exist."""

        def __init__(self, table: VirtualTable, loaded: int) -> None:
            super().__init__()
            self.table, self.loaded = table, loaded

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        empty_text: str = "Nothing to show.",
        prefetch: int = 60,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.columns = list(columns)
        self.rows: list[Row] = []
        self.complete = True
        self.empty_text = empty_text
        self.prefetch = prefetch
        self._asked_at = -1

    # -- data -------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[Row], *, complete: bool, cursor: int = 0) -> None:
        """Replace everything (a new filter); ``complete`` False means more pages exist."""
        self.rows = list(rows)
        self.complete = complete
        self._asked_at = -1
        self._resize()
        self.cursor = max(0, min(cursor, len(self.rows) - 1))
        self.refresh()

    def append_rows(self, rows: Sequence[Row], *, complete: bool) -> None:
        """Add the next page; the cursor and scroll position stay where they are."""
        self.rows.extend(rows)
        self.complete = complete
        self._asked_at = -1
        self._resize()
        self.refresh()
        self._maybe_need_more()

    def index_of(self, predicate: Callable[[Row], bool]) -> int | None:
        return next((i for i, row in enumerate(self.rows) if predicate(row)), None)

    @property
    def current_row(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)

    def on_resize(self, event: events.Resize) -> None:
        self._resize()
        self._scroll_to_cursor()

    # -- cursor -----------------------------------------------------------------------------
    @property
    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        row = self.current_row
        if row is not None:
            self.post_message(self.Highlighted(self, new, row))
        self._maybe_need_more()

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        height = self._body_height
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _maybe_need_more(self) -> None:
        loaded = len(self.rows)
        if self.complete or loaded == self._asked_at:
            return
        if self.cursor >= loaded - self.prefetch:
            self._asked_at = loaded
            self.post_message(self.NeedMore(self, loaded))

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * self._body_height

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self.rows) - 1

    def action_select(self) -> None:
        row = self.current_row
        if row is not None:
            self.post_message(self.Selected(self, self.cursor, row))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = round(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.rows):
            if index == self.cursor and event.chain >= 2:
                self.action_select()
            self.cursor = index

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        loaded = len(self.rows)
        if self.complete or loaded == self._asked_at:
            return
        if round(new_value) + self._body_height >= loaded - self.prefetch:
            self._asked_at = loaded
            self.post_message(self.NeedMore(self, loaded))

    # -- rendering --------------------------------------------------------------------------
    def shown(self, total: int) -> list[Column]:
        """The columns that fit ``total`` cells: optional ones go, last first, until the rest
        fit (the flexible one at its least width)."""
        shown = list(self.columns)
        optional = [c for c in shown if c.optional]
        while optional and _needed(shown) > total:
            shown.remove(optional.pop())
        return shown

    def _widths(self, columns: Sequence[Column], total: int) -> list[int]:
        fixed = sum(c.width or 0 for c in columns) + len(columns)
        flex = [c for c in columns if c.width is None]
        spare = max(LEAST_FLEX, (total - fixed) // max(1, len(flex)))
        return [c.width if c.width is not None else spare for c in columns]

    def _cells(self, row: Row | None, width: int, style: Style) -> Strip:
        """One line: the header's labels (``row`` None) or a row's values."""
        columns = self.shown(width)
        segments: list[Segment] = []
        for column, size in zip(columns, self._widths(columns, width), strict=True):
            value = column.label if row is None else self._value(column, row)
            text = value if cell_len(value) <= size else set_cell_size(value, size - 1) + "…"
            pad = " " * (size - cell_len(text))
            text = pad + text if column.justify == "right" else text + pad
            segments.append(Segment(" " + text, style))
        strip = Strip(segments)
        return strip.adjust_cell_length(width, style)

    def _value(self, column: Column, row: Row) -> str:
        if column.render is not None:
            return column.render(row)
        value = row.get(column.key)
        return "" if value is None else str(value)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("virtual-table--header")
            return self._cells(None, width, style)
        index = round(self.scroll_y) + y - 1
        if not self.rows and y == 1:
            style = base + self.get_component_rich_style("virtual-table--empty")
            return Strip([Segment(" " + self.empty_text, style)]).adjust_cell_length(width, style)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("virtual-table--cursor")
        return self._cells(row, width, style)


def _needed(columns: Sequence[Column]) -> int:
    """Cells for ``columns``: each with its leading space, a flexible one at its least."""
    return sum((c.width or LEAST_FLEX) + 1 for c in columns)
