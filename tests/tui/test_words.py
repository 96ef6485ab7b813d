"""Fault 10: no internal words on screen (method names, force=true, doubled labels)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Select

from bexsync_tui.client import RpcCallError
from bexsync_tui.screens.add_authorisation import provider_label
from bexsync_tui.widgets.errors import describe_error
from tests.tui.helpers import choices, screen_text, wait_text, wait_toast, wait_until


def test_provider_labels_say_the_route_once() -> None:
    assert provider_label(
        {"id": "sandbox", "title": "Sandbox ledger (local)", "route": "local"}
    ) == ("Sandbox ledger (local)")
    assert provider_label({"id": "xero", "title": "Xero", "route": "direct"}) == "Xero"
    assert (
        provider_label({"id": "s", "title": "Sage 100", "route": "chift"}) == "Sage 100 (via chift)"
    )


def test_a_rule_without_a_field_is_not_titled_check_the_values() -> None:
    title, _ = describe_error(RpcCallError(-32002, "ValidationFailed", "Nothing is due yet."))
    assert title == "Not possible"
    title, _ = describe_error(
        RpcCallError(
            -32002, "ValidationFailed", "Bad.", {"errors": [{"field": "period", "message": "x"}]}
        )
    )
    assert title == "Please check the values"


async def test_a_posted_period_says_how_to_correct_it_in_user_words(backend: Any) -> None:
    try:
        await backend.client.call("syncs.run", {"configuration_id": 2, "period": "2025-01"})
    except RpcCallError as error:
        assert "force=true" not in error.message and "bexsync sync --force" in error.message
    else:
        raise AssertionError("a posted period ran again without --force")
    draft = await backend.client.call("syncs.preview", {"configuration_id": 2, "period": "2025-01"})
    texts = " ".join(str(w.get("message", w)) for w in draft["warnings"])
    assert "already posted" in texts and "with force" not in texts


async def test_the_provider_list_and_an_authorisation_with_configurations(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("d")  # it has 3 configurations: no Delete to press and fail
        toast = await wait_toast(pilot, "still has 3 configurations: delete them first")
        assert "Not deleted" in toast
        await pilot.press("n")
        screen = pilot.app.screen
        select = screen.query_one("#provider", Select)
        await wait_until(pilot, lambda: len(choices(select)) > 5, what="the providers")
        select.value = "sandbox"
        text = await wait_text(pilot, "Sandbox ledger (local)")
        assert "(local) (local)" not in text and "(direct)" not in screen_text(pilot.app)
