"""A Cegid Loop import still pending when the daemon dies completes after the restart (issue 7).

bexsyncd runs as a child process; the PMS and Cegid Loop simulators run in this test's own
thread, so their state (the pending import) outlives the daemon.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from datetime import date

import pytest

from providers.simulators.base import SimulatorServer
from providers.simulators.bex import BexDataset, create_bex_app
from providers.simulators.cegid_loop import DOSSIER, PREFIX, LoopState, create_loop_app
from tests.support.daemon import DaemonProcess
from tests.support.waiting import until_sync
from tests.test_daemon_lifecycle import call


class Simulators:
    """Both simulators on a private event loop in a thread, for the duration of the test."""

    def __init__(self, tmp) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.loop_state = LoopState.seeded("sub-key-0123456789", "loop:key-0123456789")
        self.loop_state.process_after = None  # only process() books an import
        pms = create_bex_app(BexDataset(5, date(2026, 11, 27)), api_key="pms-key-0123456789")
        self.servers = [SimulatorServer(pms), SimulatorServer(create_loop_app(self.loop_state))]
        self.pms_url, self.loop_url = (self.run(s.start()) for s in self.servers)
        secret = tmp / "loop-subscription"
        secret.write_text("sub-key-0123456789\n")
        self.config = tmp / "bexsyncd.toml"
        self.config.write_text(
            f'[providers.cegid_loop]\napi_url = "{self.loop_url}{PREFIX}"\n'
            f'client_id = "test"\nclient_secret_file = "{secret}"\n'
        )

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def call_soon(self, fn) -> None:
        self.loop.call_soon_threadsafe(fn)

    def close(self) -> None:
        for server in self.servers:
            self.run(server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def ok(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow(seconds=4)
def test_pending_import_completes_after_a_restart(tmp_path):
    sims = Simulators(tmp_path)
    daemon = DaemonProcess(tmp_path)
    base = daemon.command()
    daemon.command = lambda: [*(a if a != "/dev/null" else str(sims.config) for a in base)]
    try:
        daemon.start()
        s = daemon.socket
        ok(call(s, "pms.connect", {"base_url": sims.pms_url, "api_key": "pms-key-0123456789"}))
        for admin in ok(call(s, "administrations.list")):
            ok(call(s, "administrations.set_access", {"id": admin["id"], "access": True}))
        auth = ok(call(s, "authorisations.create", {"name": "Loop", "provider": "cegid_loop"}))
        auth_id = auth["authorisation"]["id"]
        ok(call(s, "authorisations.complete", {"id": auth_id, "credentials": {
            "dossier": DOSSIER, "api_key": "loop:key-0123456789"}}))  # fmt: skip
        assert ok(call(s, "authorisations.activate", {"id": auth_id}))["status"] == "active"
        options = ok(call(s, "configurations.options", {"authorisation_id": auth_id}))
        ledger = next(x for x in options["ledgers"] if "BEX" in (x["id"], x["code"]))
        admin = next(a for a in options["administrations"] if a["number"] == "102")
        config = ok(call(s, "configurations.create", {
            "authorisation_id": auth_id, "administration_id": admin["id"], "frequency": "monthly",
            "ledger_id": ledger["id"], "start_date": "2026-09-01", "activate": True}))  # fmt: skip
        run_id = ok(call(s, "syncs.run", {"configuration_id": config["id"], "period": "2026-10"}))[
            "run_id"
        ]
        until_sync(lambda: sims.loop_state.pending())  # submitted, not yet booked
        assert ok(call(s, "syncs.get", {"run_id": run_id}))["state"] == "posting"
        daemon.stop(signal.SIGKILL)
        asked_before = len(sims.loop_state.requests)

        daemon.start()  # recovery finds the import still pending and waits on it
        until_sync(
            lambda: ("GET", "/statutImport") in sims.loop_state.requests[asked_before:],
            what="recovery to look the pending import up",
        )
        assert len(sims.loop_state.imports) == 1  # looked up, not submitted again
        sims.call_soon(sims.loop_state.process)  # Cegid books it while the daemon waits
        run = until_sync(lambda: (r := ok(call(s, "syncs.get", {"run_id": run_id})))["state"]
                         != "posting" and r)  # fmt: skip
        assert run["state"] == "posted", run
        entry = ok(call(s, "entries.get", {"id": run["entry_id"]}))
        assert entry["reference"] == f"bexsync:{config['id']}:2026-10"
        assert len(sims.loop_state.imports) == 1 and len(sims.loop_state.entries) >= 1
    finally:
        daemon.stop()
        sims.close()
