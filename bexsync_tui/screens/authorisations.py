"""Authorisations: one login at an accounting provider each; add, open, activate, delete."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from bexsync_tui.actions import activate_authorisation
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.screens.dialogs import ConfirmScreen
from bexsync_tui.widgets.tables import BexTable, fill_table

STATUS_STYLES = {"active": "green", "inactive": "yellow", "error": "bold red"}


def status_cell(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def needs_login(auth: dict[str, Any] | None) -> bool:
    """In error (a refused or expired login), or inactive with its login left halfway (started,
    or never finished: no credentials yet)."""
    if auth is None:
        return False
    status = auth.get("status")
    halfway = bool(auth.get("login_pending")) or not auth.get("logged_in", True)
    return status == "error" or (status == "inactive" and halfway)


class AuthorisationsScreen(BexScreen):
    """The first screen: every authorisation with its status and configuration count."""

    HEADING = "Authorisations · logins at accounting providers"
    RELOAD_ON: ClassVar[frozenset[str]] = frozenset(
        {"authorisation.updated", "configuration.updated"}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", id="authorisations.new"),
        Binding("a", "activate", "Activate", id="authorisations.activate"),
        Binding("l", "login", "Log in again", id="authorisations.login"),
        Binding("d", "delete", "Delete", id="authorisations.delete"),
        Binding("r", "reload", "Refresh", id="authorisations.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, dict[str, Any]] = {}
        self._login_offered = False

    def compose_body(self) -> ComposeResult:
        table = BexTable(id="authorisations-table")
        table.add_column("Name", width=30, key="name")
        table.add_column("Provider", width=16, key="provider")
        table.add_column("Status", width=9, key="status")
        table.add_column("Configs", width=7, key="configurations")
        yield table
        yield Static("", id="detail", classes="detail", markup=False)

    def reload(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="load", exit_on_error=False, description="load authorisations")
    async def load(self) -> None:
        items = await self.call("authorisations.list")
        self.items = {str(a["id"]): a for a in items}
        table = self.query_one("#authorisations-table", BexTable)
        fill_table(
            table,
            (
                (
                    key,
                    (
                        a.get("name", ""),
                        a.get("provider", ""),
                        status_cell(str(a.get("status", ""))),
                        Text(str(a.get("configuration_count", 0)), justify="right"),
                    ),
                )
                for key, a in self.items.items()
            ),
        )
        table.loading = False
        self._show_detail()
        self.refresh_bindings()  # Activate and Delete are offered once there is something to act on
        if not self.items:
            self.query_one("#detail", Static).update(
                "No authorisations yet. Press n to add one (a login at your accounting provider)."
            )

    @property
    def current(self) -> dict[str, Any] | None:
        key = self.query_one("#authorisations-table", BexTable).current_key
        return self.items.get(key) if key else None

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _offer_login(self) -> None:
        """Show "Log in again" for a highlighted authorisation in error, or one whose login was
        left halfway (escaped from the login step); the footer is only redrawn when that
        changes."""
        offered = needs_login(self.current)
        if offered != self._login_offered:
            self._login_offered = offered
            self.refresh_bindings()

    def _show_detail(self) -> None:
        self._offer_login()
        auth = self.current
        if auth is None:
            return
        text = f"{auth.get('name')} · {auth.get('provider')} · {auth.get('status')}"
        if auth.get("status") != "error" and needs_login(auth):
            text += ": its login was not finished. Press l to log in."
        elif auth.get("status_message"):
            text += f": {auth['status_message']}"
        if auth.get("status") == "error":
            text += " Press l to log in again."
        self.query_one("#detail", Static).update(text)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        auth = self.items.get(str(event.row_key.value))
        if auth is not None:
            self.bex.open("configurations", auth)

    def action_new(self) -> None:
        names = [str(a.get("name", "")) for a in self.items.values()]
        self.bex.open("add_authorisation", existing_names=names)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("activate", "delete") and not self.items:
            return None
        if action == "login":  # offered where needed: a refused, expired or unfinished login
            return self._login_offered  # hidden (False) elsewhere
        return True

    def action_login(self) -> None:
        auth = self.current
        if auth is None:
            return
        self.bex.open("add_authorisation", login_again=auth)

    @work(group="activate", exit_on_error=False, description="activate the authorisation")
    async def action_activate(self) -> None:
        auth = self.current
        if auth is None:
            return
        await activate_authorisation(self, auth)
        self.load()

    @work(group="delete", exit_on_error=False, description="delete the authorisation")
    async def action_delete(self) -> None:
        auth = self.current
        if auth is None:
            return
        count = int(auth.get("configuration_count") or 0)
        if count:  # the daemon refuses: say so, instead of offering a Delete that fails
            self.notify(
                f"Authorisation {auth.get('name')!r} still has {count} "
                f"configuration{'s' if count > 1 else ''}: delete {'them' if count > 1 else 'it'}"
                " first (Enter opens them).",
                title="Not deleted",
                severity="warning",
            )
            return
        if not await self.app.push_screen_wait(
            ConfirmScreen(
                f"Delete authorisation {auth.get('name')!r}?",
                "Its login is removed from the daemon.",
            )
        ):
            return
        await self.call("authorisations.delete", {"id": auth["id"]})
        self.notify(f"Authorisation {auth.get('name')!r} deleted.", title="Deleted")
        self.load()
