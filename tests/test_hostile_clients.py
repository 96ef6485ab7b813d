"""Hostile clients against a real daemon (issue 17.9): each attack of tests/support/hostile.py
runs while an innocent client calls ``daemon.hello`` on its own connection, and a new client
(the CLI, another process) connects afterwards. Asserted: every call of theirs is answered,
the attack gets the refusal it should, and the state is unchanged. How long they waited is
measured by benchmarks/bench_hostile.py (RELIABILITY.md), not asserted here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import hostile
from tests.support.daemon import DaemonProcess, run_cli
from tests.support.waiting import until_sync

EXPECTED = {  # what each attack must get back (a regular expression on its outcome)
    "1 MB batch of 19,000 rpc.discover": r"BatchTooLarge",
    "batch of 10,000 daemon.hello": r"^BatchTooLarge$",
    "20 batches of 100 rpc.discover": r"^[1-9]\d* run, [1-9]\d* refused",
    # One batch at a time per connection: a non-reader stalls itself (its answers bounded) or,
    # with 16 MiB unread, is disconnected; either way the others go on.
    "3 clients that never read": r"^[0-3] of 3 disconnected$",
    "ids of 1e400": r"^alone: -32600, batch: \[None, 2\]$",
    "1,100 connections held": r"^\d+ connections opened, \d+ refused",
    "a configuration in year 9999": r"^create -> -32002$",
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    proc = DaemonProcess(tmp_path_factory.mktemp("hostile"), "--demo").start()
    try:
        # Quiet: no scheduled run may change the state while an attack runs.
        for config in hostile.call(proc.socket, "configurations.list"):
            hostile.call(proc.socket, "configurations.deactivate", {"id": config["id"]})
        yield proc
    finally:
        proc.stop()


def _state(path: Path) -> str:
    wanted = ("configurations.list", "authorisations.list", "entries.list", "syncs.list")
    return json.dumps({m: hostile.call(path, m) for m in wanted}, sort_keys=True)


def _settled_state(path: Path) -> str:
    """The state once no run is active (the demo's start-up catch-up may still be going)."""
    active = ("queued", "fetching", "building", "posting")
    until_sync(
        lambda: not any(r["state"] in active for r in hostile.call(path, "syncs.list")),
        "runs to settle",
    )
    return _state(path)


def _cli_hello(path: Path) -> dict:
    done = run_cli(path, "call", "daemon.hello")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow(seconds=30)
@pytest.mark.parametrize("name", list(hostile.ATTACKS))
def test_an_attack_leaves_the_others_served_and_the_state_unchanged(
    daemon: DaemonProcess, name: str
) -> None:
    attack = hostile.ATTACKS[name]
    before = _settled_state(daemon.socket)
    during: list[dict] = []
    with hostile.Probe(daemon.socket) as probe:
        if attack is hostile.connection_flood:
            # The CLI connects while the flood holds its connections.
            outcome = attack(daemon.socket, during=lambda: during.append(_cli_hello(daemon.socket)))
        else:
            outcome = attack(daemon.socket)
    after = _state(daemon.socket)
    assert re.search(EXPECTED[name], outcome), outcome
    assert probe.failures == [] and probe.latencies, probe.failures
    assert all(d["api_version"] for d in during)
    assert _cli_hello(daemon.socket)["api_version"]
    assert after == before
    assert daemon.proc is not None and daemon.proc.poll() is None
