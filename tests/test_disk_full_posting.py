"""A full disk while a posted entry's result is committed (issue 17.8): the run waits in
`posting` as an attention item, is looked up again until it can be recorded, and the log says
so without "failed unexpectedly"."""

from __future__ import annotations

import logging
from typing import Any

from daemon.engine import recovery
from daemon.store.errors import StoreUnavailable
from tests.support.daemon import demo_daemon, wait_run
from tests.support.waiting import until_async


async def test_a_posting_that_cannot_be_recorded_is_an_attention_item(
    tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(recovery, "RECOVERY_RETRY", 0.2)
    async with demo_daemon(tmp_path) as (app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        record_posted = app.store.runs.record_posted
        full = {"on": True}

        async def disk_full(*args: Any, **kwargs: Any) -> Any:
            if full["on"]:
                raise StoreUnavailable("database or disk is full")
            return await record_posted(*args, **kwargs)

        monkeypatch.setattr(app.store.runs, "record_posted", disk_full)
        with caplog.at_level(logging.INFO):
            started = await client.call("syncs.run", {"configuration_id": manual["id"]})
            run_id = started["run_id"]
            status = await _until_attention(client, run_id)
            run = await client.call("syncs.get", {"run_id": run_id})
            full["on"] = False  # space is back
            settled = await wait_run(client, run_id)
            after = await client.call("daemon.status")
    assert run["state"] == "posting"
    waiting = [a for a in status["attention"] if a["kind"] == "run" and a["id"] == run_id]
    assert waiting and waiting[0]["state"] == "posting" and "disk" in waiting[0]["message"]
    assert settled["state"] == "posted"
    assert not [a for a in after["attention"] if a["kind"] == "run" and a["id"] == run_id]
    assert "failed unexpectedly" not in caplog.text
    assert "could not be recorded" in caplog.text


async def _until_attention(client: Any, run_id: int) -> dict[str, Any]:
    """``daemon.status`` once it lists the run as an attention item."""

    async def listing_it() -> dict[str, Any] | None:
        status: dict[str, Any] = await client.call("daemon.status")
        listed = any(a["kind"] == "run" and a["id"] == run_id for a in status["attention"])
        return status if listed else None

    return await until_async(listing_it, "the run to become an attention item")
