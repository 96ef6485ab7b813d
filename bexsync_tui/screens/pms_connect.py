"""Connect the PMS: its API base URL and an API key, or an OAuth login in a browser.

``pms.connect`` verifies an API key at once; with ``auth: "oauth"`` it answers an ``open_url``
step (the same step widgets as an authorisation's login) that ``pms.complete`` finishes with
the pasted redirect URL. The key is typed into a password field and cleared after each try,
so it is never shown again.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from bexsync_tui.client import RpcCallError
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.errors import describe_error, field_errors, show_field_error
from bexsync_tui.widgets.login_step import field_row, open_url_step

AUTH_CHOICES = (("API key", "api_key"), ("OAuth (log in with a browser)", "oauth"))


class PmsConnectScreen(BexScreen):
    """Dismisses with the new ``pms.get`` shape once connected (``None`` on escape)."""

    HEADING = "Connect the PMS"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "connect", "Connect", id="pms_connect.connect"),
        Binding("escape", "back", "Back", id="pms_connect.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.step = "form"
        self._loaded = False

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="step"):
            yield Static("", id="pms-current", markup=False)
            yield field_row(
                "PMS API base URL",
                Input(placeholder="https://app.bookingexperts.com", id="base-url", compact=True),
                "base_url",
            )
            yield field_row(
                "Log in with",
                Select[str](
                    AUTH_CHOICES, value="api_key", allow_blank=False, id="auth", compact=True
                ),
                "auth",
            )
            yield field_row(
                "API key (leave empty to keep the stored one)",
                Input(password=True, id="api-key", compact=True),
                "api_key",
            )
            yield Label("", id="error-general", classes="field-error")
            yield Button("Connect (ctrl+s)", id="connect", variant="primary", compact=True)

    def reload(self) -> None:
        if not self._loaded:
            self._loaded = True
            self.load()

    @work(exclusive=True, group="load", exit_on_error=False, description="read the PMS connection")
    async def load(self) -> None:
        pms = await self.call("pms.get")
        self.query_one("#pms-current", Static).update(
            f"Now: {pms.get('status')}" + (f" ({pms['auth']})" if pms.get("auth") else "")
        )
        base_url = self.query_one("#base-url", Input)
        if not base_url.value:
            base_url.value = str(pms.get("base_url") or "")
        if pms.get("auth") in ("api_key", "oauth"):
            self.query_one("#auth", Select).value = pms["auth"]
        base_url.focus()

    @on(Select.Changed, "#auth")
    def _auth_changed(self, event: Select.Changed) -> None:
        row = self.query_one("#api-key", Input).parent
        if row is not None:
            row.display = event.value == "api_key"

    @on(Input.Submitted, "#base-url")
    @on(Input.Submitted, "#api-key")
    @on(Button.Pressed, "#connect")
    def action_connect(self) -> None:
        if self.step == "form":
            self.connect()

    def _show_errors(self, errors: dict[str, str]) -> None:
        for label in self.query(".field-error").results(Label):
            field = (label.id or "").removeprefix("error-")
            show_field_error(label, errors.get(field, ""))

    def _show_rpc_error(self, error: RpcCallError) -> None:
        """Field errors beside their fields; the daemon's sentence (and the rest) below."""
        found = field_errors(error)
        placed = {f: m for f, m in found.items() if f.isidentifier() and self.query(f"#error-{f}")}
        if len(placed) < len(found) or not found:
            placed["general"] = describe_error(error)[1]
        else:
            placed["general"] = str(error.message or "").rstrip()
        self._show_errors(placed)

    @work(exclusive=True, group="connect", exit_on_error=False, description="connect the PMS")
    async def connect(self) -> None:
        auth = self.query_one("#auth", Select).value
        key_input = self.query_one("#api-key", Input)
        params: dict[str, Any] = {"kind": "bex", "auth": auth}
        base_url = self.query_one("#base-url", Input).value.strip()
        if base_url:
            params["base_url"] = base_url
        if auth == "api_key" and key_input.value:
            params["api_key"] = key_input.value
        key_input.value = ""  # typed once, sent once, never shown again
        self._show_errors({})
        try:
            result = await self.call("pms.connect", params)
        except RpcCallError as error:
            self._show_rpc_error(error)
            return
        next_step = result.get("next_step")
        if isinstance(next_step, dict) and next_step.get("kind") == "open_url":
            await self.show_login(next_step)
        else:
            self.dismiss(result)

    async def show_login(self, next_step: dict[str, Any]) -> None:
        self.step = "open_url"
        self.set_heading("Connect the PMS · log in")
        step = self.query_one("#step", VerticalScroll)
        await step.remove_children()
        widgets: list[Widget] = open_url_step(next_step)
        await step.mount_all(widgets)
        step.scroll_home(animate=False)
        self.query_one("#redirect-url", Input).focus(scroll_visible=False)

    @on(Input.Submitted, "#redirect-url")
    @on(Button.Pressed, "#complete")
    def _complete(self) -> None:
        self.complete_login()

    @work(exclusive=True, group="complete", exit_on_error=False, description="complete the login")
    async def complete_login(self) -> None:
        url = self.query_one("#redirect-url", Input).value.strip()
        if not url:
            self._show_errors({"redirect_url": "paste the address your browser landed on"})
            return
        try:
            result = await self.call("pms.complete", {"redirect_url": url})
        except RpcCallError as error:
            self._show_rpc_error(error)
            return
        self.dismiss(result)

    def action_back(self) -> None:
        self.dismiss(None)
