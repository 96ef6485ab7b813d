"""The login step's widgets, shared by the new-authorisation and the PMS-connect screens: a
labelled field, and the open-URL step (the address, its QR code, the field to paste into)."""

from __future__ import annotations

from typing import Any

from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from bexsync_tui.widgets.qr import QrCode

OPEN_URL_HELP = (
    "Open this address in any browser (or scan the QR code below), log in and allow access. "
    "The browser then lands on a page that may not load: copy that page's full address from "
    "the address bar and paste it here."
)


def field_row(label: str, widget: Widget, field: str) -> Vertical:
    """A label, the input and the place where the daemon's error for ``field`` appears."""
    return Vertical(
        Label(label, classes="field-label"),
        widget,
        Label("", id=f"error-{field}", classes="field-error"),
        classes="field",
    )


def open_url_step(next_step: dict[str, Any]) -> list[Widget]:
    """An ``open_url`` login step: instructions, the URL with its QR code, a paste-back field.

    Shared by the authorisation and PMS logins: ``#redirect-url`` takes the pasted address,
    ``#complete`` submits it, ``#error-general`` shows what has no field of its own.
    """
    url = str(next_step.get("url", ""))
    return [
        Static(
            str(next_step.get("instructions") or OPEN_URL_HELP),
            markup=False,
            classes="help-text",
        ),
        Static(url, id="login-url", markup=False, classes="url"),
        field_row(
            "Paste the final address (redirect URL) here",
            Input(
                placeholder=str(next_step.get("redirect_uri") or "http://…"),
                id="redirect-url",
                compact=True,
            ),
            "redirect_url",
        ),
        Label("", id="error-general", classes="field-error"),
        Button("Complete login", id="complete", variant="primary", compact=True),
        Label("Or scan:", classes="field-label"),
        QrCode(url, id="login-qr"),
    ]
