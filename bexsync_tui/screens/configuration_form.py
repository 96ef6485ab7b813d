"""Create or edit a configuration; dropdowns come live from the provider via the daemon.

The daemon is the judge of every rule: the form only checks what it must to build the
params (a date is a date, the delay a number) and shows the daemon's field errors beside
the fields they concern.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Switch

from bexsync_tui.client import RpcCallError
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.widgets.errors import describe_error, field_errors, show_field_error

FIELDS = (
    "administration_id",
    "ledger_id",
    "tenant_id",
    "frequency",
    "start_date",
    "end_date",
    "delay_days",
    "automatic",
    "activate",
)


SWITCH_NOTES = {
    ("automatic", True): "yes: each due period is posted by itself",
    ("automatic", False): "no: manual, so you can correct before posting",
    ("activate", True): "yes: the schedule starts now",
    ("activate", False): "no: save it inactive",
}


def switch_note(field: str, value: bool) -> str:
    """Switches draw no text; this says what the position means."""
    return SWITCH_NOTES[field, value]


def form_row(label: str, widget: Widget, field: str, *extra: Widget) -> ComposeResult:
    """Label and widget on one line, the field's error on the next (hidden when empty)."""
    with Horizontal(classes="form-row", id=f"row-{field}"):
        yield Label(label, classes="form-label")
        yield widget
        yield from extra
    yield Label("", id=f"error-{field}", classes="field-error form-error")


class ConfigurationFormScreen(BexScreen):
    """``configuration`` None: a new one under ``authorisation``. Opens on its first field."""

    AUTO_FOCUS = "#administration_id"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="configuration_form.cancel"),
        Binding("ctrl+s", "save", "Save", id="configuration_form.save"),
        Binding("ctrl+r", "reload_options", "Reload lists", id="configuration_form.reload"),
        Binding("ctrl+o", "mappings", "Mappings", id="configuration_form.mappings"),
    ]

    def __init__(
        self, authorisation: dict[str, Any], configuration: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.authorisation = authorisation
        self.configuration = configuration
        self.options: dict[str, Any] | None = None

    def compose_body(self) -> ComposeResult:
        c = self.configuration or {}
        with VerticalScroll(id="form"):
            yield from form_row(
                "Administration",
                Select[str]([], prompt="loading…", id="administration_id", compact=True),
                "administration_id",
            )
            yield from form_row(
                "Ledger",
                Select[str]([], prompt="loading…", id="ledger_id", compact=True),
                "ledger_id",
            )
            yield from form_row(
                "Organisation",
                Select[str]([], prompt="choose", id="tenant_id", compact=True),
                "tenant_id",
            )
            yield from form_row(
                "Frequency",
                Select(
                    [
                        ("daily: one entry per day", "daily"),
                        ("monthly: one entry per month", "monthly"),
                    ],
                    value=str(c.get("frequency") or "daily"),
                    allow_blank=False,
                    id="frequency",
                    compact=True,
                ),
                "frequency",
            )
            yield from form_row(
                "Start date",
                Input(
                    str(c.get("start_date") or ""),
                    placeholder="YYYY-MM-DD",
                    id="start_date",
                    compact=True,
                ),
                "start_date",
            )
            yield from form_row(
                "End date",
                Input(
                    str(c.get("end_date") or ""),
                    placeholder="optional, YYYY-MM-DD",
                    id="end_date",
                    compact=True,
                ),
                "end_date",
            )
            yield from form_row(
                "Delay (days)",
                Input(
                    str(c.get("delay_days", 0)),
                    type="integer",
                    max_length=2,
                    placeholder="0..14",
                    id="delay_days",
                    compact=True,
                ),
                "delay_days",
            )
            automatic = bool(c.get("automatic", True))
            yield from form_row(
                "Automatic",
                Switch(automatic, id="automatic"),
                "automatic",
                Label(
                    switch_note("automatic", automatic), id="note-automatic", classes="switch-note"
                ),
            )
            if self.configuration is None:
                yield from form_row(
                    "Activate now",
                    Switch(True, id="activate"),
                    "activate",
                    Label(switch_note("activate", True), id="note-activate", classes="switch-note"),
                )
            yield Label("", id="error-general", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        a = self.authorisation
        if self.configuration is None:
            self.set_heading(f"{a.get('name')} › New configuration")
        else:
            number = self.configuration.get("administration_number")
            self.set_heading(f"{a.get('name')} › Configuration {number} › Edit")
        self.query_one("#row-tenant_id").display = False
        if self.configuration is not None:
            self.query_one("#administration_id", Select).disabled = True

    def reload(self) -> None:
        if self.options is None:
            self.load_options()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mappings":  # saved on their own, so a configuration must exist
            return self.configuration is not None
        return True

    @work(group="mappings", exit_on_error=False, description="open the mappings")
    async def action_mappings(self) -> None:
        assert self.configuration is not None
        current = await self.call("configurations.get", {"id": self.configuration["id"]})
        self.bex.open("mappings", current)

    def action_reload_options(self) -> None:
        self.load_options()

    @work(exclusive=True, group="options", exit_on_error=False, description="load the lists")
    async def load_options(self) -> None:
        selects = [self.query_one(f"#{f}", Select) for f in ("administration_id", "ledger_id")]
        for select in selects:
            select.loading = True
        try:
            options = await self.call(
                "configurations.options", {"authorisation_id": self.authorisation["id"]}
            )
        except RpcCallError as error:
            self._show_errors(
                {"general": describe_error(error, "load the lists")[1] + " Press ctrl+r to retry."}
            )
            return
        finally:
            for select in selects:
                select.loading = False
        self.options = options
        self._fill_selects(options)

    def _fill_selects(self, options: dict[str, Any]) -> None:
        c = self.configuration or {}
        administrations = sorted(
            options.get("administrations") or [], key=lambda a: str(a.get("number", ""))
        )
        current = c.get("administration_id")
        if current is not None and str(current) not in {str(a["id"]) for a in administrations}:
            # The daemon offers only administrations with access; this one lost it. Show it
            # as it is: saving is then refused beside this field until access is ticked again.
            administrations.insert(
                0,
                {
                    "id": current,
                    "number": c.get("administration_number"),
                    "name": c.get("administration_name") or "",
                    "access": False,
                },
            )
        self._set_options(
            "administration_id",
            [
                (
                    f"{a.get('number')} {a.get('name')}"
                    + ("" if a.get("access", True) else " (no access)"),
                    str(a["id"]),
                )
                for a in administrations
            ],
            c.get("administration_id"),
            "choose the administration",
        )
        self._set_options(
            "ledger_id",
            [
                (
                    f"{ledger.get('code') or ledger['id']} {ledger.get('name', '')}".strip(),
                    str(ledger["id"]),
                )
                for ledger in options.get("ledgers") or []
            ],
            c.get("ledger_id"),
            "choose the ledger (journal)",
        )
        tenants = options.get("tenants") or []
        # One reachable organisation is the authorisation's own: nothing to choose.
        self.query_one("#row-tenant_id").display = len(tenants) > 1
        self._set_options(
            "tenant_id",
            [(str(t.get("name") or t["id"]), str(t["id"])) for t in tenants],
            c.get("tenant_id"),
            "choose the organisation",
        )

    def _set_options(
        self, field: str, options: list[tuple[str, str]], value: Any, prompt: str
    ) -> None:
        select = self.query_one(f"#{field}", Select)
        select.prompt = prompt
        select.set_options(options)
        if value is not None and str(value) in {v for _, v in options}:
            select.value = str(value)
        elif len(options) == 1:
            select.value = options[0][1]

    # -- saving ----------------------------------------------------------------------------
    def _show_errors(self, errors: dict[str, str]) -> None:
        general = [m for f, m in errors.items() if f not in FIELDS and f != "general"]
        if errors.get("general"):
            general.insert(0, errors["general"])
        for field in FIELDS:
            if self.query(f"#error-{field}"):
                show_field_error(self.query_one(f"#error-{field}", Label), errors.get(field, ""))
        show_field_error(self.query_one("#error-general", Label), "; ".join(general))
        for field in FIELDS:
            if errors.get(field) and self.query(f"#{field}"):
                self.query_one(f"#{field}").focus()
                break

    def collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The params for create/update, and the errors that stop us from building them."""
        errors: dict[str, str] = {}
        params: dict[str, Any] = {}
        choose_tenant = self.query_one("#row-tenant_id").display
        for field in ("administration_id", "ledger_id", "tenant_id"):
            if field == "tenant_id" and not choose_tenant:
                continue  # the authorisation's own organisation
            select = self.query_one(f"#{field}", Select)
            if select.value is not Select.NULL:
                params[field] = select.value
            else:
                errors[field] = "choose one"
        if self.configuration is not None:
            params.pop("administration_id", None)
            errors.pop("administration_id", None)
        params["frequency"] = self.query_one("#frequency", Select).value
        for field in ("start_date", "end_date"):
            text = self.query_one(f"#{field}", Input).value.strip()
            if not text:
                if field == "start_date":
                    errors[field] = "required, YYYY-MM-DD"
                else:
                    params[field] = None
                continue
            try:
                date.fromisoformat(text)
            except ValueError:
                errors[field] = "not a date: use YYYY-MM-DD"
            params[field] = text
        delay = self.query_one("#delay_days", Input).value.strip()
        try:
            params["delay_days"] = int(delay or "0")
        except ValueError:
            errors["delay_days"] = "a whole number of days, 0..14"
        params["automatic"] = self.query_one("#automatic", Switch).value
        if self.configuration is None:
            params["activate"] = self.query_one("#activate", Switch).value
        return params, errors

    @on(Input.Changed)
    @on(Select.Changed)
    def _edited(self, event: Input.Changed | Select.Changed) -> None:
        """A field's error goes as soon as the field is changed (the save re-checks it)."""
        field = event.control.id or ""
        if field in FIELDS and self.query(f"#error-{field}"):
            show_field_error(self.query_one(f"#error-{field}", Label), "")

    @on(Switch.Changed)
    def _switched(self, event: Switch.Changed) -> None:
        field = event.switch.id or ""
        if self.query(f"#note-{field}"):
            self.query_one(f"#note-{field}", Label).update(switch_note(field, event.value))

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.save()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        self.save()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.save()

    @work(exclusive=True, group="save", exit_on_error=False, description="save the configuration")
    async def save(self) -> None:
        params, errors = self.collect()
        self._show_errors(errors)
        if errors:
            return
        try:
            if self.configuration is None:
                params["authorisation_id"] = self.authorisation["id"]
                saved = await self.call("configurations.create", params)
            else:
                saved = await self.call(
                    "configurations.update", {"id": self.configuration["id"], **params}
                )
        except RpcCallError as error:
            found = field_errors(error)
            if not found or error.name != "ValidationFailed":
                found.setdefault("general", describe_error(error)[1])
            self._show_errors(found)
            return
        self.notify(
            f"Configuration of administration {saved.get('administration_number')} saved.",
            title="Saved",
        )
        self.dismiss(saved)
