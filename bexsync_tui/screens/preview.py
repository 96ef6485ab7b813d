"""Preview and correct: the draft entry's lines, editable, with a live balance; post when balanced.

Amounts stay strings as the daemon sends them; the balance is summed with Decimal as the user
types. Each finished edit goes to ``drafts.update`` so the daemon re-validates (accounts known at
the provider, VAT codes, balance) and posting is allowed only for a balanced draft without errors.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label, Static

from bexsync_tui.actions import run_period
from bexsync_tui.client import RpcCallError
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.accounts import AccountField, AccountList
from bexsync_tui.widgets.money import balance, parse_amount, right, wire
from bexsync_tui.widgets.tables import Fit, LinesTable, cut, fill_table

LINE_COLUMNS = (
    Fit("account", "Account", 8),
    Fit("account_name", "Name", 6, share=2),  # names shrink first: amounts stay in view
    Fit("description", "Description", 6, share=3),
    Fit("vat_code", "VAT", 5),
    Fit("debit", Text("Debit", justify="right"), 10),
    Fit("credit", Text("Credit", justify="right"), 10),
)
EDIT_LABELS = {
    "account": "Account",
    "description": "Description",
    "vat_code": "VAT code",
    "debit": "Debit",
    "credit": "Credit",
}
EDIT_FIELDS = tuple(EDIT_LABELS)
URGENT_WARNINGS = ("already_posted", "not_due")
EMPTY_LINE = {
    "account": "",
    "account_name": "",
    "description": "",
    "vat_code": None,  # no VAT; "" would be an unresolved code that blocks posting
    "debit": "0.00",
    "credit": "0.00",
}


def problem_text(problem: Any) -> str:
    """Warnings and errors may be strings or {line?, field?, message} objects."""
    if isinstance(problem, dict):
        where = []
        if problem.get("line") is not None:
            where.append(f"line {problem['line']}")
        if problem.get("field"):
            where.append(str(problem["field"]))
        prefix = (", ".join(where) + ": ") if where else ""
        return prefix + str(problem.get("message", ""))
    return str(problem)


class ProblemsPanel(VerticalScroll):
    """The draft's errors and warnings: a few lines high, so it scrolls; focusable (tab, or
    w) so the keyboard reaches the last warning (up/down/end scroll it)."""

    def show(self, problems: list[str]) -> None:
        """One line (wrapped) per problem, in order; hidden when there are none."""
        self.remove_children()
        self.mount_all(Static(text, markup=False, classes="problem") for text in problems)
        self.display = bool(problems)


class PreviewScreen(BexScreen):
    """Edits happen in a labelled editor row under the table, with the provider's accounts
    to pick from below it; Enter applies, Escape reverts."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="preview.back"),
        Binding("n", "add_line", "Add line", id="preview.add_line"),
        Binding("x,delete", "remove_line", "Remove line", id="preview.remove_line"),
        Binding("p", "post", "Post", id="preview.post"),
        Binding("ctrl+r", "rebuild", "Rebuild", id="preview.rebuild"),
        Binding("w", "warnings", "Warnings", show=False, id="preview.warnings"),
    ]

    def __init__(self, configuration: dict[str, Any], period: str | None = None) -> None:
        super().__init__()
        self.configuration = configuration
        self.period = period
        self.draft: dict[str, Any] | None = None
        self.lines: list[dict[str, Any]] = []
        self.editing: int | None = None
        self.before_edit: dict[str, Any] | None = None
        self.dirty = False
        self._dirty_before_edit = False
        self.validating = False

    def compose_body(self) -> ComposeResult:
        yield Static("Building the draft…", id="draft-info", markup=False)
        yield LinesTable(LINE_COLUMNS, id="lines-table")
        with Vertical(id="editor"):
            with Horizontal(id="editor-labels"):
                for field, label in EDIT_LABELS.items():
                    yield Label(label, classes=f"col-{field}")
            with Horizontal(id="editor-fields"):
                yield AccountField(
                    list_id="account-choices",
                    placeholder="code or name",
                    id="edit-account",
                    classes="col-account",
                    compact=True,
                )
                for field in EDIT_FIELDS[1:]:
                    yield Input(id=f"edit-{field}", classes=f"col-{field}", compact=True)
            yield AccountList(field_id="edit-account", id="account-choices")
        yield Static("", id="balance")
        yield ProblemsPanel(id="problems")

    def on_mount(self) -> None:
        number = self.configuration.get("administration_number")
        self.set_heading(f"Administration {number} › Preview and correct")
        self.query_one("#editor").display = False

    def reload(self) -> None:
        if self.draft is None:
            self.build()
            self.load_chart()

    @work(exclusive=True, group="chart", exit_on_error=False, description="")
    async def load_chart(self) -> None:
        """The provider's accounts for the picker; without them the field takes a typed code."""
        try:
            accounts = await self.call("configurations.accounts", {"id": self.configuration["id"]})
        except RpcCallError:
            return  # (the daemon still checks the code when the edit is applied)
        self.query_one("#account-choices", AccountList).set_chart(accounts)

    def on_daemon_change(self, topic: str, data: dict[str, Any]) -> None:
        """Never reload under the user's edits; a reconnect keeps the draft as it is."""

    def action_warnings(self) -> None:
        problems = self.query_one("#problems", ProblemsPanel)
        if problems.display:
            problems.focus()

    def action_rebuild(self) -> None:
        self.build()

    @work(exclusive=True, group="load", exit_on_error=False, description="build the preview")
    async def build(self) -> None:
        table = self.query_one("#lines-table", LinesTable)
        table.loading = True
        try:
            params: dict[str, Any] = {"configuration_id": self.configuration["id"]}
            if self.period:
                params["period"] = self.period
            draft = await self.call("syncs.preview", params)
        finally:
            table.loading = False
        self._accept(draft)
        table.focus()

    def _accept(self, draft: dict[str, Any]) -> None:
        self.draft = draft
        self.lines = [dict(EMPTY_LINE, **line) for line in draft.get("lines") or []]
        self.dirty = False
        self._render_all()

    # -- rendering -------------------------------------------------------------------------
    def _render_all(self) -> None:
        draft = self.draft or {}
        sources = draft.get("sources") or {}
        invoices = sources.get("invoices")
        n_invoices = sources.get("invoice_count")
        if n_invoices is None:
            n_invoices = len(invoices) if isinstance(invoices, list) else invoices
        info = Text(
            f"Period {draft.get('period')} · date {draft.get('date')} · from "
            f"{_count(sources.get('transactions'))} transactions, {_count(n_invoices)} "
            f"invoices\n{draft.get('narration') or ''}",
            no_wrap=True,
            overflow="ellipsis",
        )
        self.query_one("#draft-info", Static).update(info)
        fill_table(
            self.query_one("#lines-table", LinesTable),
            ((str(i), self._cells(line)) for i, line in enumerate(self.lines)),
        )
        self._render_balance()
        self._render_problems()

    @staticmethod
    def _cells(line: dict[str, Any]) -> tuple[Any, ...]:
        return (
            str(line.get("account") or ""),
            cut(line.get("account_name") or ""),
            cut(line.get("description") or ""),
            str(line.get("vat_code") or ""),
            right(line.get("debit")),
            right(line.get("credit")),
        )

    def _render_balance(self) -> None:
        result = balance(self.lines)
        text = Text(f"Debit {wire(result.debit)}   Credit {wire(result.credit)}   ")
        if result.invalid:
            lines = ", ".join(str(n) for n in result.invalid)
            text.append(f"✗ not an amount on line {lines}", style="bold red")
        elif result.balanced:
            text.append("✓ balanced", style="bold green")
        else:
            text.append(f"✗ off by {wire(abs(result.difference))}", style="bold red")
        if self.validating:
            text.append("   checking…", style="dim")
        elif self.dirty:
            text.append("   (Enter applies)", style="dim")
        self.query_one("#balance", Static).update(text)
        self.refresh_bindings()

    @property
    def already_posted(self) -> bool:
        """The draft is for a posted period: posting it posts the difference only."""
        warnings = (self.draft or {}).get("warnings") or []
        return any(isinstance(w, dict) and w.get("code") == "already_posted" for w in warnings)

    def _render_problems(self) -> None:
        draft = self.draft or {}
        number = self.configuration.get("administration_number")
        if self.already_posted:
            self.set_heading(
                f"Administration {number} › Correct posted {draft.get('period')}: "
                "p posts the difference"
            )
        else:
            self.set_heading(f"Administration {number} › Preview and correct")
        # What decides about posting (already posted, not due) first: it must stay in view.
        warnings = sorted(
            draft.get("warnings") or [],
            key=lambda w: not (isinstance(w, dict) and w.get("code") in URGENT_WARNINGS),
        )
        parts = [f"Error: {problem_text(p)}" for p in draft.get("errors") or []]
        parts += [f"Warning: {problem_text(p)}" for p in warnings]
        self.query_one("#problems", ProblemsPanel).show(parts)

    @property
    def can_post(self) -> bool:
        draft = self.draft or {}
        return (
            self.draft is not None
            and self.editing is None
            and not self.dirty
            and not self.validating
            and bool(self.lines)
            and bool(draft.get("balanced"))
            and not draft.get("errors")
            and balance(self.lines).balanced
        )

    def why_not_post(self) -> str:
        """Why ``p`` cannot post now, in a sentence ("" when it can)."""
        draft = self.draft or {}
        sums = balance(self.lines)
        if self.draft is None:
            return "The draft is still loading."
        if self.editing is not None:
            return "Apply the line being edited (Enter) or undo it (esc) first."
        if self.dirty or self.validating:
            return "The daemon is still checking the change; post when it is done."
        if not self.lines:
            return "Nothing to post: this period has no transactions."
        if draft.get("errors"):
            return f"Fix the draft first: {problem_text(draft['errors'][0])}"
        if sums.invalid:
            return f"Fix the amounts of line {', '.join(map(str, sums.invalid))} first."
        if not sums.balanced or not draft.get("balanced"):
            return f"The draft does not balance (off by {abs(sums.difference)}): fix it first."
        return ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "post":  # always pressable: a refusal says why (footer dims it meanwhile)
            return True
        if action in ("add_line", "remove_line", "rebuild") and self.editing is not None:
            return None
        return True

    # -- editing ---------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.begin_edit(int(str(event.row_key.value)))

    def begin_edit(self, index: int) -> None:
        self.editing = index
        self.before_edit = deepcopy(self.lines[index])
        self._dirty_before_edit = self.dirty
        for field in EDIT_FIELDS:
            value = str(self.lines[index].get(field) or "")
            with self.prevent(Input.Changed):
                self.query_one(f"#edit-{field}", Input).value = value
        self.query_one(AccountList).filter(str(self.lines[index].get("account") or ""))
        editor = self.query_one("#editor")
        editor.display = True
        # Focus now, not on the next loop turn (``focus()``): keys typed right after Enter
        # must land in the editor, not in the table.
        self.set_focus(self.query_one("#edit-account", Input))
        self.refresh_bindings()

    @on(Input.Changed, "#editor Input")
    def _typed(self, event: Input.Changed) -> None:
        if self.editing is None:
            return
        field = (event.input.id or "").removeprefix("edit-")
        line = self.lines[self.editing]
        line[field] = event.value
        self.dirty = True
        table = self.query_one("#lines-table", LinesTable)
        value: Any = right(event.value) if field in ("debit", "credit") else cut(event.value)
        table.update_cell(str(self.editing), field, value)
        if field == "account":  # the Name column follows the account (blank: the daemon's)
            line["account_name"] = self.query_one(AccountList).name_of(event.value)
            table.update_cell(str(self.editing), "account_name", cut(line["account_name"]))
        self._render_balance()

    @on(Input.Submitted, "#editor Input")
    def _apply(self) -> None:
        self.finish_edit(keep=True)

    def finish_edit(self, *, keep: bool) -> None:
        index = self.editing
        if index is None:
            return
        line = self.lines[index]
        if keep:
            for field in ("debit", "credit"):
                amount = parse_amount(line.get(field))
                if amount is None:
                    self.notify(
                        f"{field} {line.get(field)!r} is not an amount (e.g. 1234.50).",
                        severity="error",
                    )
                    self.query_one(f"#edit-{field}", Input).focus()
                    return
                line[field] = wire(amount)
            if not str(line.get("vat_code") or "").strip():
                # A blank VAT field means "no VAT" (null on the wire), as the daemon's error
                # says ("clear it for no VAT"); only an unresolved code left untouched stays "".
                unresolved = self.before_edit is not None and self.before_edit.get("vat_code") == ""
                line["vat_code"] = "" if unresolved else None
        elif self.before_edit is not None:
            self.lines[index] = self.before_edit
            self.dirty = self._dirty_before_edit
        self.editing = None
        self.before_edit = None
        self.query_one("#editor").display = False
        table = self.query_one("#lines-table", LinesTable)
        table.focus()
        self._render_all()
        if keep and self.dirty:
            self.validate()

    def action_add_line(self) -> None:
        self.lines.append(dict(EMPTY_LINE))
        self.dirty = True
        self._render_all()
        table = self.query_one("#lines-table", LinesTable)
        table.move_cursor(row=len(self.lines) - 1)
        self.begin_edit(len(self.lines) - 1)

    def action_remove_line(self) -> None:
        table = self.query_one("#lines-table", LinesTable)
        key = table.current_key
        if key is None:
            return
        del self.lines[int(key)]
        self.dirty = True
        self._render_all()
        self.validate()

    @work(exclusive=True, group="validate", exit_on_error=False, description="check the draft")
    async def validate(self) -> None:
        assert self.draft is not None
        self.validating = True
        self._render_balance()
        try:
            draft = await self.call("drafts.update", {"id": self.draft["id"], "lines": self.lines})
        finally:
            self.validating = False
        self._accept(draft)

    def action_back(self) -> None:
        if self.editing is not None:
            self.finish_edit(keep=False)
            return
        self.dismiss(None)

    @work(exclusive=True, group="post", exit_on_error=False, description="post the entry")
    async def action_post(self) -> None:
        reason = self.why_not_post()
        if reason or self.draft is None:
            self.notify(reason, title="Not posted", severity="warning")
            return
        period = str(self.draft.get("period"))
        if await run_period(self, self.configuration, period, self.draft["id"]):
            self.dismiss(None)


def _count(value: Any) -> str:
    return "?" if value is None else str(value)
