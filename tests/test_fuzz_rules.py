"""Hypothesis on the configuration rules: ``configurations.create`` agrees with
``daemon.model.validate_configuration``, field for field, and a refusal changes nothing.

A demo daemon (scheduler quiet: its own configurations deactivated) gets random combinations
of administration (granted, not granted, unknown), frequency, ledger (known, blank, unknown at
the provider), start and end dates and delay. The oracle is the pure rule function, then the
provider's ledger list.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.model import FREQUENCIES, ConfigurationFields, FieldProblem, validate_configuration
from tests.support.daemon import DaemonProcess
from tests.support.fuzz_counts import fuzz_settings, tried
from tests.support.waiting import until_sync
from tests.test_fuzz_daemon import Line, dump

ACTIVE = ("queued", "fetching", "building", "posting")


def rpc(daemon: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    return json.loads(daemon.line.ask(json.dumps(request).encode()))


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Any:
    proc = DaemonProcess(tmp_path_factory.mktemp("rules"), "--demo").start(timeout=60)
    proc.line = Line(proc.socket)
    try:
        for config in rpc(proc, "configurations.list")["result"]:
            rpc(proc, "configurations.deactivate", {"id": config["id"]})
        until_sync(
            lambda: not any(r["state"] in ACTIVE for r in rpc(proc, "syncs.list")["result"]),
            "the demo's catch-up to finish",
        )
        made = rpc(proc, "authorisations.create", {"name": "Rules", "provider": "sandbox"})
        proc.auth_id = made["result"]["authorisation"]["id"]
        assert "result" in rpc(proc, "authorisations.activate", {"id": proc.auth_id})
        admins = rpc(proc, "administrations.list")["result"]
        rpc(proc, "administrations.set_access", {"id": admins[-1]["id"], "access": False})
        proc.access = {a["id"]: a is not admins[-1] for a in admins}
        options = rpc(proc, "configurations.options", {"authorisation_id": proc.auth_id})
        proc.ledgers = [x["id"] for x in options["result"]["ledgers"]]
        yield proc
    finally:
        proc.stop()


days = st.dates(date(2019, 1, 1), date(2031, 12, 31))


@fuzz_settings(120)
@given(data=st.data())
def test_create_agrees_with_the_rules_and_a_refusal_changes_nothing(daemon: Any, data) -> None:
    start = data.draw(days)
    fields = ConfigurationFields(
        administration_id=data.draw(st.sampled_from([*daemon.access, "no-such-admin"])),
        frequency=data.draw(st.sampled_from([*FREQUENCIES, "weekly", ""])),
        ledger_id=data.draw(st.sampled_from([*daemon.ledgers, "", "   ", "NO-SUCH-LEDGER"])),
        start_date=start,
        end_date=data.draw(st.none() | days | st.just(start) | st.just(start + timedelta(1))),
        delay_days=data.draw(st.integers(-3, 17)),
        automatic=data.draw(st.booleans()),
    )
    problems = validate_configuration(
        fields,
        administration_access=daemon.access.get(fields.administration_id),
        today=date.today(),
    )
    # Once the rules pass, the daemon asks the provider whether the ledger exists.
    if not problems and fields.ledger_id not in daemon.ledgers:
        problems = [FieldProblem("ledger_id", "unknown at the provider")]
    params = {
        "authorisation_id": daemon.auth_id,
        "administration_id": fields.administration_id,
        "frequency": fields.frequency,
        "ledger_id": fields.ledger_id,
        "start_date": fields.start_date.isoformat(),
        "end_date": fields.end_date.isoformat() if fields.end_date else None,
        "delay_days": fields.delay_days,
        "automatic": fields.automatic,
        "activate": False,
    }
    before = dump(daemon)
    answer = rpc(daemon, "configurations.create", params)
    if fields.frequency not in FREQUENCIES:  # the params schema refuses it before the rules
        assert answer["error"]["code"] == -32602, answer
        assert {e["field"] for e in answer["error"]["data"]["errors"]} == {"frequency"}
    elif problems:
        assert answer["error"]["code"] == -32002, (answer, problems)
        assert {e["field"] for e in answer["error"]["data"]["errors"]} == {
            p.field for p in problems
        }, answer
    else:
        assert "result" in answer, (answer, fields)
        assert rpc(daemon, "configurations.delete", {"id": answer["result"]["id"]})["result"]
        tried("configuration rules (create vs model)")
        return
    assert dump(daemon) == before
    tried("configuration rules (create vs model)", refused=True)
