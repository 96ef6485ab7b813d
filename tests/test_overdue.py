"""Due and overdue are first-class (issue 16.4): overdue periods per configuration, `bexsync
status` names them, a preview opens the oldest due period, and posting early needs a yes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bexsync_tui.client import RpcCallError
from tests.support.clock import Clock
from tests.support.daemon import DaemonProcess, demo_daemon, wait_run
from tests.test_daemon_lifecycle import cli


def test_status_exits_1_naming_the_demos_overdue_manual_period(tmp_path):
    daemon = DaemonProcess(tmp_path, "--demo").start()
    try:
        configs = json.loads(cli(daemon.socket, "call", "configurations.list").stdout)
        manual = next(c for c in configs if not c["automatic"])
        assert manual["overdue"], "the demo's manual configuration has months waiting"
        oldest = manual["overdue"][0]
        status = cli(daemon.socket, "status")
        assert status.returncode == 1, status.stdout
        line = next(x for x in status.stdout.splitlines() if manual["label"] in x)
        assert oldest["period"] in line and "overdue" in line
        assert "102 Holiday Park Zeeuwse Duinen" in manual["label"]
    finally:
        daemon.stop()


async def test_preview_opens_the_oldest_due_period_and_early_posting_needs_a_yes(tmp_path):
    clock = Clock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    async with demo_daemon(tmp_path, clock=clock) as (_app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        config_id = manual["id"]
        due = [o["period"] for o in manual["overdue"]]
        assert due == ["2026-08", "2026-09", "2026-10"]
        for period in due:  # the oldest due one each time, never one already posted
            draft = await client.call("syncs.preview", {"configuration_id": config_id})
            assert (draft["period"], draft["kind"], draft["early"]) == (period, "entry", False)
            run = await client.call(
                "syncs.run", {"configuration_id": config_id, "draft_id": draft["id"]}
            )
            assert (await wait_run(client, run["run_id"]))["state"] == "posted"
        # Nothing due: the preview shows the next period and says up front it is not due.
        draft = await client.call("syncs.preview", {"configuration_id": config_id})
        assert (draft["period"], draft["early"]) == ("2026-11", True)
        assert draft["due_at"].startswith("2026-12-0")
        # Posting it is refused with its due time, with the draft or without, ...
        for params in ({"draft_id": draft["id"]}, {"period": "2026-11"}, {}):
            with pytest.raises(RpcCallError) as refused:
                await client.call("syncs.run", {"configuration_id": config_id, **params})
            assert refused.value.name == "ValidationFailed"
            assert draft["due_at"] in refused.value.message and "early" in refused.value.message
        # ... unless the user says yes.
        run = await client.call(
            "syncs.run", {"configuration_id": config_id, "draft_id": draft["id"], "early": True}
        )
        assert (await wait_run(client, run["run_id"]))["state"] == "posted"
        cfg = await client.call("configurations.get", {"id": config_id})
        assert cfg["overdue"] == []
