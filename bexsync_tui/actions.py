"""Daemon actions more than one screen offers (activate, sync, delete, run a period): here,
so that screens share them without importing one another."""

from __future__ import annotations

from typing import Any

from textual.widgets import Label

from bexsync_tui.client import RpcCallError
from bexsync_tui.correction_text import correction_lines
from bexsync_tui.screens.base import BexScreen
from bexsync_tui.screens.dialogs import ChoiceScreen, ConfirmScreen
from bexsync_tui.widgets.errors import describe_error, field_errors, show_field_error


async def activate_authorisation(screen: BexScreen, auth: dict[str, Any]) -> dict[str, Any] | None:
    """Verify an authorisation now; asks for the tenant when the login reaches several."""
    params: dict[str, Any] = {"id": auth["id"]}
    try:
        result = await screen.call("authorisations.activate", params)
    except RpcCallError as error:
        tenants = (error.data or {}).get("tenants")
        if error.name != "ValidationFailed" or not tenants:
            raise
        choices = [(t.get("id"), f"{t.get('name')} ({t.get('id')})") for t in tenants]
        tenant = await screen.app.push_screen_wait(
            ChoiceScreen("This login reaches several organisations: which one?", choices)
        )
        if tenant is None:
            return None
        result = await screen.call("authorisations.activate", {**params, "tenant_id": tenant})
    name = result.get("name", auth.get("name"))
    if result.get("status") == "active":
        screen.notify(f"Authorisation {name!r} is active.", title="Activated")
    else:
        screen.notify(
            f"Authorisation {name!r} was not activated: {result.get('status_message')}",
            title="Not activated",
            severity="error",
            timeout=10,
        )
    return result


async def start_sync(screen: BexScreen, configuration: dict[str, Any], **extra: Any) -> Any:
    """``syncs.run`` for a configuration; progress then arrives as events."""
    result = await screen.call("syncs.run", {"configuration_id": configuration["id"], **extra})
    screen.notify(
        f"Sync of administration {configuration.get('administration_number')} started.",
        title="Sync",
        timeout=3,
    )
    return result


async def confirm_delete_configuration(screen: BexScreen, configuration: dict[str, Any]) -> bool:
    """Ask, then ``configurations.delete``; True when it was deleted."""
    number = configuration.get("administration_number")
    if not await screen.app.push_screen_wait(
        ConfirmScreen(
            f"Delete the configuration of administration {number}?",
            "Posted entries stay at the provider; scheduled syncs stop.",
        )
    ):
        return False
    await screen.call("configurations.delete", {"id": configuration["id"]})
    screen.notify(f"Configuration of administration {number} deleted.", title="Deleted")
    return True


async def run_period(
    screen: BexScreen, configuration: dict[str, Any], period: str, draft_id: Any = None
) -> bool:
    """``syncs.run`` for a period; a posted one is forced only after the user confirms.

    Field errors (a period out of range or not due) go beside the period field when the
    screen has one, else into a toast. True when a run started.
    """
    params: dict[str, Any] = {"configuration_id": configuration["id"], "period": period}
    if draft_id is not None:
        params["draft_id"] = draft_id
    number = configuration.get("administration_number")
    try:
        result = await screen.call("syncs.run", params)
        forced = False
    except RpcCallError as error:
        if error.name != "Conflict" or "period" not in (error.data or {}):
            found = field_errors(error)
            if "period" in found and screen.query("#error-period"):
                show_field_error(screen.query_one("#error-period", Label), describe_error(error)[1])
                return False
            raise
        # Show the correction itself: the one the user edited, else what changed in the PMS
        # since the last posting.
        if draft_id is not None:
            preview = await screen.call("drafts.get", {"id": draft_id})
        else:
            preview = await screen.call(
                "syncs.preview", {"configuration_id": configuration["id"], "period": period}
            )
        correction = preview.get("kind") == "correction"
        detail = (
            "\n".join(correction_lines(preview))
            if correction
            else "bexsync compares the PMS with what was posted and posts a correcting entry "
            "for the difference only; if nothing changed, it posts nothing."
        )
        if not await screen.app.push_screen_wait(
            ConfirmScreen(
                f"Administration {number} {period} is already posted. Sync it again?",
                detail,
                yes="Post the difference",
            )
        ):
            return False
        if correction:  # exactly the correction shown
            params = {**params, "draft_id": preview["id"]}
        result = await screen.call("syncs.run", {**params, "force": True})
        forced = True
    screen.bex.expect_run(result.get("run_id"), correction=forced)
    if forced:
        text = f"Posting {period} again for administration {number}: the difference only…"
    elif draft_id is not None:
        text = f"Posting {period} of administration {number}…"
    else:
        text = f"Sync of administration {number} {period} started."
    screen.notify(text, title="Sync", timeout=3)
    return True
