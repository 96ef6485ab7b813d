"""Add an authorisation: a unique name and a provider, then the provider's login step.

``authorisations.create`` answers with ``next_step.kind``: ``open_url`` (a URL, shown with a QR
code, and a field to paste the final redirect URL back), ``device_code`` (a code to enter at a
verification URL; the daemon polls), ``credentials`` (a form) or ``none``. The daemon's loopback
listener or device poll may finish the login by itself: an ``authorisation.updated`` event then
moves this screen on.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from bexsync_tui.actions import activate_authorisation
from bexsync_tui.client import RpcCallError
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.errors import describe_error, field_errors, show_field_error
from bexsync_tui.widgets.login_step import field_row, open_url_step
from bexsync_tui.widgets.qr import QrCode
from bexsync_tui.widgets.state import same_id


def provider_label(provider: dict[str, Any]) -> str:
    """``Xero``, ``Sage 100 (via chift)``: the route only when it is not direct and the title
    does not say it already (``Sandbox ledger (local)``)."""
    title = str(provider.get("title") or provider["id"])
    route = str(provider.get("route") or "direct")
    if route == "direct" or f"({route})" in title:
        return title
    return f"{title} (via {route})" if route != "local" else f"{title} (local)"


class AddAuthorisationScreen(BexScreen):
    """Step by step; each step replaces the content of ``#step``.

    The name field has the focus at the start: a form opens ready to type.

    ``login_again``: an existing authorisation (a refused or expired login) whose login starts
    over with ``authorisations.login``; the provider's steps that follow are the same.
    """

    AUTO_FOCUS = "#name"

    HEADING = "New authorisation"
    RELOAD_ON: ClassVar[frozenset[str]] = frozenset({"authorisation.updated"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="add_authorisation.back"),
    ]

    def __init__(
        self,
        existing_names: list[str] | None = None,
        *,
        login_again: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.existing = {n.strip().casefold() for n in existing_names or []}
        self.providers: list[dict[str, Any]] = []
        self.login_again = login_again
        self.auth: dict[str, Any] | None = login_again
        self.step = "start"

    def compose_body(self) -> ComposeResult:
        if self.login_again is not None:
            with VerticalScroll(id="step"):
                yield Static("Asking the provider for a new login…", markup=False)
                yield Label("", id="error-general", classes="field-error")
            return
        with VerticalScroll(id="step"):
            yield field_row(
                "Name (unique; e.g. the organisation at the provider)",
                Input(placeholder="Xero Dunes", id="name", compact=True),
                "name",
            )
            yield field_row(
                "Provider",
                Select[str](
                    [], prompt="Choose the accounting provider", id="provider", compact=True
                ),
                "provider",
            )
            yield Label("", id="error-general", classes="field-error")
            yield Button("Continue", id="continue", variant="primary", compact=True)

    def on_mount(self) -> None:
        if self.login_again is not None:
            self.set_heading(self._title())

    def reload(self) -> None:
        if self.login_again is not None:
            if self.step == "start":
                self.step = "starting"
                self.begin_login_again()
        elif not self.providers and self.step == "start":
            self.load_providers()

    @work(exclusive=True, group="create", exit_on_error=False, description="start the login")
    async def begin_login_again(self) -> None:
        assert self.auth is not None
        try:
            result = await self.call("authorisations.login", {"id": self.auth["id"]})
        except RpcCallError as error:
            self.step = "start"
            self._show_errors({"general": describe_error(error)[1]})
            return
        self.auth = {**self.auth, **result["authorisation"]}
        await self.show_next_step(result.get("next_step") or {"kind": "none"})

    @work(exclusive=True, group="load", exit_on_error=False, description="list the providers")
    async def load_providers(self) -> None:
        select = self.query_one("#provider", Select)
        select.loading = True
        try:
            self.providers = list(await self.call("providers.list"))
        finally:
            select.loading = False
        select.set_options((provider_label(p), p["id"]) for p in self.providers)

    # -- step 1 ----------------------------------------------------------------------------
    @on(Input.Submitted, "#name")
    def _name_done(self) -> None:
        self.query_one("#provider", Select).focus()

    @on(Button.Pressed, "#continue")
    def _continue(self) -> None:
        self.create()

    def _show_errors(self, errors: dict[str, str]) -> None:
        for label in self.query(".field-error").results(Label):
            field = (label.id or "").removeprefix("error-")
            show_field_error(label, errors.get(field, ""))
        unplaced = [f"{f}: {m}" for f, m in errors.items() if not self.query(f"#error-{f}")]
        if unplaced:
            show_field_error(self.query_one("#error-general", Label), "; ".join(unplaced))

    @work(exclusive=True, group="create", exit_on_error=False, description="create it")
    async def create(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        provider = self.query_one("#provider", Select).value
        errors: dict[str, str] = {}
        if not name:
            errors["name"] = "a name is required"
        elif name.casefold() in self.existing:
            errors["name"] = f"an authorisation named {name!r} already exists"
        if provider is Select.NULL:
            errors["provider"] = "choose a provider"
        self._show_errors(errors)
        if errors:
            return
        try:
            result = await self.call("authorisations.create", {"name": name, "provider": provider})
        except RpcCallError as error:
            found = field_errors(error)
            if error.name == "Conflict":
                found.setdefault("name", error.message)
            if not found:
                found["general"] = describe_error(error)[1]
            self._show_errors(found)
            return
        self.auth = result["authorisation"]
        self.existing.add(name.casefold())
        await self.show_next_step(result.get("next_step") or {"kind": "none"})

    # -- step 2: the provider's login ------------------------------------------------------
    async def _replace_step(self, *widgets: Widget) -> None:
        step = self.query_one("#step", VerticalScroll)
        await step.remove_children()
        await step.mount_all(widgets)
        step.scroll_home(animate=False)

    def _title(self) -> str:
        assert self.auth is not None
        what = "Log in again to" if self.login_again is not None else "New authorisation"
        return f"{what} {self.auth.get('name')!r} ({self.auth.get('provider')})"

    async def show_next_step(self, next_step: dict[str, Any]) -> None:
        kind = next_step.get("kind", "none")
        self.step = kind
        self.set_heading(self._title() + " · log in")
        if kind == "open_url":
            widgets = open_url_step(next_step)
            await self._replace_step(*widgets)
            # The step starts at its top (instructions, URL); the field is within view.
            self.query_one("#redirect-url", Input).focus(scroll_visible=False)
        elif kind == "device_code":
            uri = str(next_step.get("verification_uri", ""))
            minutes = max(1, int(next_step.get("expires_in") or 900) // 60)
            await self._replace_step(
                Static(
                    f"Open {uri} in any browser and enter this code:",
                    markup=False,
                    classes="help-text",
                ),
                Static(str(next_step.get("user_code", "")), id="user-code", markup=False),
                Static(
                    f"The code expires in {minutes} minutes. bexsync notices the approval by "
                    "itself; press the button if it does not.",
                    markup=False,
                    classes="help-text",
                ),
                Label("", id="error-general", classes="field-error"),
                Button("I have approved it", id="complete", variant="primary", compact=True),
                QrCode(str(next_step.get("verification_uri_complete") or uri), id="login-qr"),
            )
            self.query_one("#complete", Button).focus(scroll_visible=False)
        elif kind == "credentials":
            fields = list(next_step.get("fields") or [])
            rows = [
                field_row(
                    str(f.get("label") or f["name"]),
                    Input(password=bool(f.get("secret")), id=f"cred-{f['name']}", compact=True),
                    str(f["name"]),
                )
                for f in fields
            ]
            await self._replace_step(
                Static(
                    "The provider asks for these credentials; they stay in the daemon.",
                    markup=False,
                    classes="help-text",
                ),
                *rows,
                Label("", id="error-general", classes="field-error"),
                Button("Log in", id="complete", variant="primary", compact=True),
            )
            if rows:
                self.query(Input).first().focus(scroll_visible=False)
        else:
            await self.show_done(self.auth or {})

    @on(Input.Submitted, "#redirect-url")
    @on(Button.Pressed, "#complete")
    def _complete(self) -> None:
        self.complete_login()

    @on(Input.Submitted, "Input")
    def _next_field(self, event: Input.Submitted) -> None:
        if self.step == "credentials":
            inputs = list(self.query(Input))
            index = inputs.index(event.input)
            if index + 1 < len(inputs):
                inputs[index + 1].focus()
            else:
                self.complete_login()

    @work(exclusive=True, group="complete", exit_on_error=False, description="complete the login")
    async def complete_login(self) -> None:
        assert self.auth is not None
        params: dict[str, Any] = {"id": self.auth["id"]}
        if self.step == "open_url":
            url = self.query_one("#redirect-url", Input).value.strip()
            if not url:
                self._show_errors({"redirect_url": "paste the address your browser landed on"})
                return
            params["redirect_url"] = url
        elif self.step == "credentials":
            params["credentials"] = {
                (i.id or "").removeprefix("cred-"): i.value for i in self.query(Input)
            }
        try:
            auth = await self.call("authorisations.complete", params)
        except RpcCallError as error:
            found = field_errors(error)
            renamed = {k.removeprefix("credentials."): v for k, v in found.items()}
            if not renamed:
                renamed["general"] = describe_error(error)[1]
            self._show_errors(renamed)
            return
        await self.show_done(auth)

    def on_daemon_change(self, topic: str, data: dict[str, Any]) -> None:
        """The daemon finished the login itself (loopback redirect or device poll)."""
        if self.auth is None or self.step not in ("open_url", "device_code"):
            return
        # A login again starts with the old login still there: done once none is pending.
        finished = data.get("logged_in") and not data.get("login_pending")
        if same_id(data.get("id"), self.auth["id"]) and (
            finished or data.get("status") == "active"
        ):
            self.run_worker(self.show_done(data), exclusive=True, group="complete")

    # -- step 3 ----------------------------------------------------------------------------
    async def show_done(self, auth: dict[str, Any]) -> None:
        self.auth = {**(self.auth or {}), **auth}
        self.step = "done"
        self.set_heading(self._title())
        status = str(self.auth.get("status", ""))
        message = str(self.auth.get("status_message") or "")
        text = f"Status: {status}" + (f": {message}" if message else "")
        buttons = [
            Button("Open configurations", id="open", compact=True),
            Button("Back to the list", id="back", compact=True),
        ]
        if status != "active":
            buttons.insert(
                0, Button("Activate now", id="activate", variant="primary", compact=True)
            )
        await self._replace_step(
            Static(f"Authorisation {self.auth.get('name')!r} is saved.", markup=False),
            Static(text, id="done-status", markup=False),
            Horizontal(*buttons, classes="buttons"),
        )
        buttons[0].focus(scroll_visible=False)

    @on(Button.Pressed, "#activate")
    def _activate(self) -> None:
        self.activate()

    @work(exclusive=True, group="activate", exit_on_error=False, description="activate it")
    async def activate(self) -> None:
        assert self.auth is not None
        result = await activate_authorisation(self, self.auth)
        if result is not None:
            await self.show_done(result)

    @on(Button.Pressed, "#open")
    def _open(self) -> None:
        assert self.auth is not None
        self.bex.open("configurations", self.auth, replace=True)

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.dismiss(None)
