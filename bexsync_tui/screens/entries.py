"""Entries overview: every posted journal entry, newest first, fetched page by page.

The table is virtual (``VirtualTable``): it formats only the visible rows and asks for the next
page of ``entries.list {limit, offset}`` when the cursor nears the end of what is loaded, so
100,000 entries cost no more per keystroke than 100.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Label, Select, Static

from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.state import same_id
from bexsync_tui.widgets.virtual_table import Column, VirtualTable

PAGE_SIZE = 200
MAX_SEARCH_PAGES = 50
ALL = "*"

COLUMNS = (
    Column("date", "Date", 10),
    Column("configuration_id", "#", 3, render=lambda e: str(e.get("configuration_id") or "")),
    Column("administration_number", "Admin", 5),
    Column("period", "Period", 10),
    Column("provider", "Provider", 9, optional=True),  # optional: hidden on a narrow screen
    Column("external_id", "External id"),
    Column("kind", "Kind", 5, render=lambda e: kind_text(e)),
    Column("line_count", "Lines", 5, "right", optional=True),
    Column("total", "Total", 12, "right"),
)


def kind_text(entry: dict[str, Any]) -> str:
    """A correcting entry says so (``corr.``); a first entry shows nothing."""
    kind = str(entry.get("kind") or "entry")
    return "" if kind == "entry" else "corr." if kind == "correction" else kind[:5]


def period_matches(entry: dict[str, Any], period: str) -> bool:
    """``2025`` or ``2025-03`` matches daily and monthly periods inside it."""
    return not period or str(entry.get("period", "")).startswith(period)


class EntriesScreen(BexScreen):
    """Filter by configuration and period; Enter opens an entry's lines."""

    HEADING = "Entries overview · posted journal entries, newest first"
    AUTO_FOCUS = "#entries-table"
    RELOAD_ON: ClassVar[frozenset[str]] = frozenset({"sync.finished", "configuration.updated"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "focus_filter", "Filter", id="entries.filter"),
        Binding("r", "reload", "Refresh", id="entries.refresh"),
        Binding("escape", "focus_table", "To table", id="entries.to_table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.configuration_filter: Any = None
        self.period_filter = ""
        self.next_offset = 0
        self.target: tuple[Any, Any] | None = None
        self._configurations_loaded = False
        self.configuration_ids: set[str] = set()
        self.generation = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="entries-filters"):
            yield Label("Configuration", classes="filter-label")
            yield Select[str]([], prompt="all", id="filter-configuration", compact=True)
            yield Label("Period", classes="filter-label")
            yield Input(
                placeholder="YYYY or YYYY-MM", id="filter-period", compact=True, max_length=10
            )
        yield VirtualTable(COLUMNS, empty_text="No entries posted yet.", id="entries-table")
        yield Static("", id="entries-count", markup=False)

    def reload(self) -> None:
        """The configurations too: one may be new (a filter to offer) or deleted (a filter
        that must not stay on, hiding every entry)."""
        self.load_configurations()
        self.load_first_page()

    def action_reload(self) -> None:
        self.reload()

    def action_focus_filter(self) -> None:
        self.query_one("#filter-configuration", Select).focus()

    def action_focus_table(self) -> None:
        self.query_one("#entries-table", VirtualTable).focus()

    @work(
        exclusive=True,
        group="configurations",
        exit_on_error=False,
        description="list the configurations",
    )
    async def load_configurations(self) -> None:
        configurations = await self.call("configurations.list")
        self.bex.remember_configurations(configurations)
        self.configuration_ids = {str(c["id"]) for c in configurations}
        configurations.sort(key=lambda c: str(c.get("administration_number", "")))
        with self.prevent(Select.Changed):
            self.query_one("#filter-configuration", Select).set_options(
                [("all configurations", ALL)]
                + [
                    (f"{c.get('administration_number')} · {c.get('frequency')}", str(c["id"]))
                    for c in configurations
                ]
            )
        self._configurations_loaded = True
        gone = self.configuration_filter is not None and not self._known(self.configuration_filter)
        self._show_filter()
        if gone:  # its configuration was deleted: the filter would hide every entry
            self.configuration_filter = None
            self._show_filter()
            self.load_first_page()

    def _known(self, configuration_id: Any) -> bool:
        return str(configuration_id) in self.configuration_ids

    def _show_filter(self) -> None:
        """The dropdown says the filter in force, always ("all" only when it is all)."""
        select = self.query_one("#filter-configuration", Select)
        wanted = ALL if self.configuration_filter is None else str(self.configuration_filter)
        if self._known(wanted) or wanted == ALL:
            with self.prevent(Select.Changed):
                select.value = wanted

    # -- filters ---------------------------------------------------------------------------
    @on(Select.Changed, "#filter-configuration")
    def _configuration_changed(self, event: Select.Changed) -> None:
        value = event.value
        self.configuration_filter = None if value in (Select.NULL, ALL) else value
        self.load_first_page()

    @on(Input.Changed, "#filter-period")
    def _period_changed(self, event: Input.Changed) -> None:
        self.period_filter = event.value.strip()
        self.load_first_page()

    @on(Input.Submitted, "#filter-period")
    def _period_submitted(self) -> None:
        self.action_focus_table()

    def focus_entry(self, configuration_id: Any, entry_id: Any) -> None:
        """Show the configuration's entries with the cursor on ``entry_id`` (a notification's
        "View")."""
        self.target = (configuration_id, entry_id)
        # A configuration this screen does not know yet (new since it listed them) is checked
        # when the list comes back; one that is gone (deleted) shows every entry instead.
        self.configuration_filter = configuration_id
        self.period_filter = ""
        with self.prevent(Input.Changed):
            self.query_one("#filter-period", Input).value = ""
        self.query_one("#entries-table", VirtualTable).focus()
        self.load_configurations()
        self.load_first_page()

    # -- paging ----------------------------------------------------------------------------
    def _params(self, offset: int) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": offset}
        if self.configuration_filter is not None:
            params["configuration_id"] = _wire_id(self.configuration_filter)
        if self.period_filter:
            params["period"] = self.period_filter
        return params

    async def _fetch(self, offset: int) -> tuple[list[dict[str, Any]], int, bool]:
        """One page from the daemon, filtered here too (the period filter is an extension)."""
        page = await self.call("entries.list", self._params(offset))
        rows = [e for e in page if period_matches(e, self.period_filter)]
        return rows, offset + len(page), len(page) < PAGE_SIZE

    @work(exclusive=True, group="entries", exit_on_error=False, description="list the entries")
    async def load_first_page(self) -> None:
        self.generation += 1
        self.workers.cancel_group(self, "entries-more")
        table = self.query_one("#entries-table", VirtualTable)
        rows, self.next_offset, complete = await self._fetch(0)
        target = self.target
        cursor = 0
        if target is not None and target[1] is not None:
            pages = 1
            while (index := _find(rows, target[1])) is None and not complete:
                if pages >= MAX_SEARCH_PAGES:
                    break
                more, self.next_offset, complete = await self._fetch(self.next_offset)
                rows += more
                pages += 1
            cursor = index or 0
        self.target = None
        table.set_rows(rows, complete=complete, cursor=cursor)
        self._count()

    @on(VirtualTable.NeedMore)
    def _need_more(self) -> None:
        self.load_next_page()

    @work(
        exclusive=True, group="entries-more", exit_on_error=False, description="list more entries"
    )
    async def load_next_page(self) -> None:
        table = self.query_one("#entries-table", VirtualTable)
        generation = self.generation
        rows, offset, complete = await self._fetch(self.next_offset)
        if generation != self.generation:
            return
        self.next_offset = offset
        table.append_rows(rows, complete=complete)
        self._count()

    def _count(self) -> None:
        table = self.query_one("#entries-table", VirtualTable)
        more = "" if table.complete else "+ (more load as you scroll)"
        noun = "entry" if len(table.rows) == 1 and table.complete else "entries"
        self.query_one("#entries-count", Static).update(
            f"{len(table.rows)}{more} {noun} · Enter opens an entry's lines"
        )

    @on(VirtualTable.Selected)
    def _open(self, event: VirtualTable.Selected) -> None:
        self.bex.open("entry_detail", event.row)


def _find(rows: list[dict[str, Any]], entry_id: Any) -> int | None:
    return next((i for i, row in enumerate(rows) if same_id(row.get("id"), entry_id)), None)


def _wire_id(value: Any) -> Any:
    """Select values are strings; the daemon's configuration ids are integers."""
    text = str(value)
    return int(text) if text.isdigit() else value
