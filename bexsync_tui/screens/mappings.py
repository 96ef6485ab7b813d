"""A configuration's mapping overrides: BEX account numbers and VAT codes -> the provider's.

By default a BEX ledger account posts to the provider account with the same number and a VAT
code to the same tax code (DESIGN.md, entry building); these rows override that, and the
"no VAT" code fills lines without VAT. Saved with ``configurations.update``; the daemon judges
every value and its field errors appear beside the table or the field they concern.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from bexsync_tui.client import RpcCallError
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.screens.dialogs import ConfirmScreen
from bexsync_tui.widgets.accounts import AccountField, AccountList
from bexsync_tui.widgets.errors import describe_error, field_errors, show_field_error
from bexsync_tui.widgets.tables import BexTable, fill_table

KINDS = {"account": ("account_map", "Account"), "vat": ("vat_map", "VAT code")}
FIELDS = ("account_map", "vat_map", "no_vat_code")


class MappingsTable(BexTable):
    """Enter edits the highlighted mapping."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Edit", id="mappings.edit"),
    ]


def rows_of(configuration: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for kind, (field, _) in KINDS.items():
        mapping = configuration.get(field) or {}
        for source in sorted(mapping):
            rows.append({"kind": kind, "source": str(source), "target": str(mapping[source])})
    return rows


class MappingsScreen(BexScreen):
    """Rows of (kind, BEX code, provider code); a one-line editor under the table."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="mappings.back"),
        Binding("a", "add('account')", "Add account", id="mappings.add_account"),
        Binding("v", "add('vat')", "Add VAT", id="mappings.add_vat"),
        Binding("x,delete", "remove", "Remove", id="mappings.remove"),
        Binding("ctrl+s", "save", "Save", id="mappings.save"),
    ]

    def __init__(self, configuration: dict[str, Any]) -> None:
        super().__init__()
        self.configuration = configuration
        self.rows: list[dict[str, str]] = rows_of(configuration)
        self.editing: int | None = None
        self.before_edit: dict[str, str] | None = None
        self.dirty = False

    def compose_body(self) -> ComposeResult:
        yield Static(
            "BEX codes post to the provider's code of the same number unless a row here "
            "maps them elsewhere.",
            markup=False,
            classes="detail",
        )
        with Horizontal(classes="form-row"):
            yield Label("No-VAT code", classes="form-label")
            yield Input(
                str(self.configuration.get("no_vat_code") or ""),
                placeholder="provider tax code for lines without VAT (optional)",
                id="no_vat_code",
                compact=True,
            )
        yield Label("", id="error-no_vat_code", classes="field-error form-error")
        table = MappingsTable(id="mappings-table")
        table.add_column("Kind", width=9, key="kind")
        table.add_column("BEX code", width=20, key="source")
        table.add_column("Provider code", width=20, key="target")
        yield table
        with Horizontal(id="map-editor"):
            yield Label("", id="edit-kind")
            yield Input(placeholder="BEX code", id="edit-source", compact=True)
            yield Label("->", id="edit-arrow")
            yield AccountField(
                list_id="target-choices",
                placeholder="provider code",
                id="edit-target",
                compact=True,
            )
        yield AccountList(field_id="edit-target", id="target-choices")
        yield Label("", id="error-account_map", classes="field-error")
        yield Label("", id="error-vat_map", classes="field-error")
        yield Label("", id="error-general", classes="field-error")

    def on_mount(self) -> None:
        number = self.configuration.get("administration_number")
        self.set_heading(f"Administration {number} › Account and VAT mappings")
        self.query_one("#map-editor").display = False
        self._close_choices()
        self._show_rows()
        self.query_one("#mappings-table", MappingsTable).focus()
        self.load_chart()

    @work(exclusive=True, group="chart", exit_on_error=False, description="")
    async def load_chart(self) -> None:
        """The provider's accounts, offered for an account row's target (type to filter)."""
        try:
            accounts = await self.call("configurations.accounts", {"id": self.configuration["id"]})
        except RpcCallError:
            return  # (the field still takes a typed code; saving checks it)
        self.query_one(AccountList).set_chart(accounts)

    def _show_rows(self) -> None:
        fill_table(
            self.query_one("#mappings-table", MappingsTable),
            (
                (str(i), (KINDS[row["kind"]][1], row["source"], row["target"]))
                for i, row in enumerate(self.rows)
            ),
        )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("add", "remove", "save") and self.editing is not None:
            return None
        if action == "remove" and not self.rows:
            return None
        return True

    # -- editing ---------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.begin_edit(int(str(event.row_key.value)))

    def begin_edit(self, index: int) -> None:
        self.editing = index
        self.before_edit = dict(self.rows[index])
        row = self.rows[index]
        self.query_one("#edit-kind", Label).update(KINDS[row["kind"]][1])
        self.query_one("#edit-source", Input).value = row["source"]
        self.query_one("#edit-target", Input).value = row["target"]
        choices = self.query_one(AccountList)
        choices.offered = row["kind"] == "account"  # a VAT row's target is a tax code
        choices.filter(row["target"])
        self.query_one("#map-editor").display = True
        self.set_focus(self.query_one("#edit-source", Input))
        self.refresh_bindings()

    def action_add(self, kind: str) -> None:
        self.rows.append({"kind": kind, "source": "", "target": ""})
        self._show_rows()
        self.query_one("#mappings-table", MappingsTable).move_cursor(row=len(self.rows) - 1)
        self.begin_edit(len(self.rows) - 1)
        self.before_edit = None  # a new row: escape removes it

    @on(Input.Submitted, "#edit-source")
    def _source_done(self) -> None:
        self.query_one("#edit-target", Input).focus()

    @on(Input.Submitted, "#edit-target")
    def _target_done(self) -> None:
        self.finish_edit(keep=True)

    @on(Input.Submitted, "#no_vat_code")
    def _no_vat_done(self) -> None:
        self.dirty = True
        self.query_one("#mappings-table", MappingsTable).focus()

    @on(Input.Changed, "#no_vat_code")
    def _no_vat_changed(self, event: Input.Changed) -> None:
        # Changed also comes once with the initial value: only a different code is a change.
        if event.value.strip() != str(self.configuration.get("no_vat_code") or ""):
            self.dirty = True

    def finish_edit(self, *, keep: bool) -> None:
        index = self.editing
        if index is None:
            return
        if keep:
            source = self.query_one("#edit-source", Input).value.strip()
            if not source:
                show_field_error(
                    self.query_one("#error-general", Label), "Enter the BEX code to map."
                )
                self.query_one("#edit-source", Input).focus()
                return
            twice = [
                i
                for i, row in enumerate(self.rows)
                if i != index
                and row["kind"] == self.rows[index]["kind"]
                and row["source"] == source
            ]
            if twice:
                show_field_error(
                    self.query_one("#error-general", Label), f"{source} is mapped already."
                )
                return
            self.rows[index].update(
                source=source, target=self.query_one("#edit-target", Input).value.strip()
            )
            self.dirty = True
        elif self.before_edit is None:
            del self.rows[index]
        else:
            self.rows[index] = self.before_edit
        show_field_error(self.query_one("#error-general", Label), "")
        self.editing = None
        self.before_edit = None
        self.query_one("#map-editor").display = False
        self._close_choices()
        self._show_rows()
        self.query_one("#mappings-table", MappingsTable).focus()

    def _close_choices(self) -> None:
        choices = self.query_one(AccountList)
        choices.offered = False  # offered again when an account row is edited
        choices.display = False

    def action_remove(self) -> None:
        key = self.query_one("#mappings-table", MappingsTable).current_key
        if key is None:
            return
        del self.rows[int(key)]
        self.dirty = True
        self._show_rows()

    @work(exclusive=True, group="back", exit_on_error=False, description="leave the mappings")
    async def action_back(self) -> None:
        if self.editing is not None:
            self.finish_edit(keep=False)
            return
        if self.dirty and not await self.app.push_screen_wait(
            ConfirmScreen("Leave without saving the mappings?", yes="Leave")
        ):
            return
        self.dismiss(None)

    # -- saving ----------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        maps: dict[str, dict[str, str]] = {"account_map": {}, "vat_map": {}}
        for row in self.rows:
            maps[KINDS[row["kind"]][0]][row["source"]] = row["target"]
        no_vat = self.query_one("#no_vat_code", Input).value.strip()
        return {"id": self.configuration["id"], **maps, "no_vat_code": no_vat or None}

    def _show_errors(self, errors: dict[str, str]) -> None:
        placed: dict[str, list[str]] = {field: [] for field in (*FIELDS, "general")}
        for field, message in errors.items():
            home = next((f for f in FIELDS if field == f or field.startswith(f + ".")), "general")
            placed[home].append(message if home == field else f"{field}: {message}")
        for field, messages in placed.items():
            show_field_error(self.query_one(f"#error-{field}", Label), "; ".join(messages))

    @work(exclusive=True, group="save", exit_on_error=False, description="save the mappings")
    async def action_save(self) -> None:
        try:
            saved = await self.call("configurations.update", self.params())
        except RpcCallError as error:
            found = field_errors(error)
            if not found:
                found["general"] = describe_error(error)[1]
            self._show_errors(found)
            return
        self._show_errors({})
        self.configuration = saved
        self.rows = rows_of(saved)
        self.dirty = False
        self._show_rows()
        self.notify(
            f"Mappings of administration {saved.get('administration_number')} saved; the next "
            "preview uses them.",
            title="Saved",
        )
