"""The daemon's RPC methods against a real demo daemon: what a user of `bexsync call` sees."""

from __future__ import annotations

import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from bexsync_tui.client import RpcCallError
from tests.support.daemon import demo_daemon, wait_run

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "CONTRACT.md"
if not CONTRACT.exists():  # the repo checked out elsewhere: the known location
    CONTRACT = Path("/work/shared/CONTRACT.md")


async def _error(client, method, params):
    with pytest.raises(RpcCallError) as info:
        await client.call(method, params)
    return info.value


async def test_discover_lists_every_contract_method(tmp_path):
    names = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)`", CONTRACT.read_text(), re.M))
    # "configurations.get / .delete / ..." rows name several methods in one cell
    for line in CONTRACT.read_text().splitlines():
        m = re.match(r"^\| `([a-z_]+)\.([a-z_]+)`((?: / `?\.[a-z_]+`?)+)", line)
        if m:
            names |= {f"{m[1]}.{x}" for x in re.findall(r"\.([a-z_]+)", m[3])}
        m = re.match(r"^\| `([a-z_]+\.[a-z_]+)` / `([a-z_]+\.[a-z_]+)`", line)
        if m:
            names |= {m[1], m[2]}
    assert {"daemon.hello", "syncs.preview", "configurations.deactivate"} <= names
    async with demo_daemon(tmp_path) as (_app, client):
        doc = await client.call("rpc.discover")
    methods = {m["name"] for m in doc["methods"]}
    assert names <= methods, names - methods


async def test_demo_seed_matches_the_contract(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        admins = await client.call("administrations.list")
        auths = await client.call("authorisations.list")
        configs = await client.call("configurations.list")
    assert len(admins) >= 3 and all(a["access"] for a in admins)
    assert [(a["name"], a["provider"], a["status"]) for a in auths] == [
        ("Demo sandbox", "sandbox", "active")
    ]
    assert len(configs) == len(admins)
    assert any(c["frequency"] == "daily" and c["automatic"] for c in configs)
    assert any(c["frequency"] == "monthly" and not c["automatic"] for c in configs)
    assert all(c["active"] for c in configs)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"end_date": "2026-01-01", "start_date": "2026-02-01"}, "end_date", "after the start"),
        ({"delay_days": 15}, "delay_days", "between 0 and 14"),
        ({"delay_days": -1}, "delay_days", "between 0 and 14"),
        ({"ledger_id": "  "}, "ledger_id", "ledger"),
        ({"administration_id": "nope"}, "administration_id", "unknown administration"),
        ({"schedule": "every day"}, "schedule", "cron"),
    ],
)
async def test_each_configuration_rule_names_its_field(tmp_path, change, field, words):
    async with demo_daemon(tmp_path) as (_app, client):
        # The manual configuration: no scheduled run changes it meanwhile.
        config = next(c for c in await client.call("configurations.list") if not c["automatic"])
        before = await client.call("configurations.get", {"id": config["id"]})
        err = await _error(client, "configurations.update", {"id": config["id"], **change})
        after = await client.call("configurations.get", {"id": config["id"]})
    assert err.code == -32002 and err.name == "ValidationFailed"
    fields = {e["field"]: e["message"] for e in err.data["errors"]}
    assert field in fields and words in fields[field]
    assert after == before


async def test_wrong_types_are_invalid_params_naming_the_field(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        err = await _error(
            client,
            "configurations.create",
            {"authorisation_id": "one", "administration_id": "x", "frequency": "weekly"},
        )
    assert err.code == -32602
    fields = {e["field"] for e in err.data["errors"]}
    assert {"authorisation_id", "frequency", "ledger_id", "start_date"} <= fields


async def test_access_is_required_and_duplicates_conflict(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        admins = await client.call("administrations.list")
        auth = (await client.call("authorisations.list"))[0]
        taken = (await client.call("configurations.list"))[0]
        err = await _error(
            client,
            "configurations.create",
            {
                "authorisation_id": auth["id"],
                "administration_id": taken["administration_id"],
                "frequency": "monthly",
                "ledger_id": "MEM",
                "start_date": "2026-01-01",
            },
        )
        assert err.name == "Conflict"
        await client.call("administrations.set_access", {"id": admins[0]["id"], "access": False})
        second = await client.call(
            "authorisations.create", {"name": "Second ledger", "provider": "sandbox"}
        )
        err = await _error(
            client,
            "configurations.create",
            {
                "authorisation_id": second["authorisation"]["id"],
                "administration_id": admins[0]["id"],
                "frequency": "monthly",
                "ledger_id": "MEM",
                "start_date": "2026-01-01",
            },
        )
    assert err.name == "ValidationFailed"
    assert err.data["errors"][0]["field"] == "administration_id"
    assert "access" in err.data["errors"][0]["message"]


async def test_authorisation_names_are_unique_and_delete_needs_no_configurations(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        err = await _error(
            client, "authorisations.create", {"name": "demo SANDBOX", "provider": "sandbox"}
        )
        assert err.name == "Conflict"
        err = await _error(client, "authorisations.create", {"name": "X", "provider": "nope"})
        assert err.name == "ValidationFailed" and err.data["errors"][0]["field"] == "provider"
        auth = (await client.call("authorisations.list"))[0]
        err = await _error(client, "authorisations.delete", {"id": auth["id"]})
        assert err.name == "Conflict"
        created = await client.call(
            "authorisations.create", {"name": "Temp", "provider": "sandbox"}
        )
        assert created["next_step"]["kind"] == "none"
        assert created["authorisation"]["status"] == "inactive"
        activated = await client.call(
            "authorisations.activate", {"id": created["authorisation"]["id"]}
        )
        assert activated["status"] == "active"
        assert await client.call("authorisations.delete", {"id": activated["id"]}) == {
            "deleted": True
        }
        err = await _error(client, "authorisations.get", {"id": activated["id"]})
        assert err.name == "NotFound" and err.code == -32001


@pytest.mark.parametrize(
    "name",
    ["Park\u202eroF", "zero\u200bwidth", "tab\there", "line\u2028break", "nul\x00"],
    ids=["bidi-override", "zero-width", "tab", "line-separator", "nul"],
)
async def test_a_name_that_would_display_as_another_is_refused(tmp_path, name):
    async with demo_daemon(tmp_path) as (_app, client):
        before = await client.call("authorisations.list")
        err = await _error(client, "authorisations.create", {"name": name, "provider": "sandbox"})
        assert err.name == "ValidationFailed"
        assert err.data["errors"][0]["field"] == "name"
        assert "invisible" in err.data["errors"][0]["message"]
        assert await client.call("authorisations.list") == before
        created = await client.call(
            "authorisations.create", {"name": "Camping Zée ☀ 2", "provider": "sandbox"}
        )
        assert created["authorisation"]["name"] == "Camping Zée ☀ 2"


async def test_a_ledger_the_provider_does_not_have_is_refused_when_configuring(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        before = await client.call("configurations.get", {"id": manual["id"]})
        err = await _error(
            client, "configurations.update", {"id": manual["id"], "ledger_id": "NOPE"}
        )
        assert err.name == "ValidationFailed"
        problem = err.data["errors"][0]
        assert problem["field"] == "ledger_id" and "no ledger 'NOPE'" in problem["message"]
        assert manual["ledger_id"] in problem["message"]  # says which ledgers there are
        assert await client.call("configurations.get", {"id": manual["id"]}) == before


async def test_manual_preview_correct_post_and_entries(tmp_path):
    async with demo_daemon(tmp_path) as (_app, client):
        manual = next(c for c in await client.call("configurations.list") if not c["automatic"])
        draft = await client.call("syncs.preview", {"configuration_id": manual["id"]})
        assert draft["balanced"] and draft["lines"], draft["errors"]
        assert draft["sources"]["transactions"] > 0
        assert draft["sources"]["invoice_count"] > 0
        assert re.fullmatch(r"\d+\.\d{2}", draft["totals"]["debit"])
        # Correct a line: move one line's description and split nothing; balance stays.
        lines = draft["lines"]
        lines[0]["description"] = "Corrected by the bookkeeper"
        updated = await client.call("drafts.update", {"id": draft["id"], "lines": lines})
        assert updated["balanced"] and updated["lines"][0]["description"].startswith("Corrected")
        # An unbalanced edit is reported, not posted.
        bad = [dict(line) for line in lines]
        bad[0]["debit"] = f"{Decimal(bad[0]['debit']) + 1:.2f}"
        unbalanced = await client.call("drafts.update", {"id": draft["id"], "lines": bad})
        assert not unbalanced["balanced"]
        assert any(e["code"] == "unbalanced" for e in unbalanced["errors"])
        await client.call("drafts.update", {"id": draft["id"], "lines": lines})
        started = await client.call(
            "syncs.run", {"configuration_id": manual["id"], "draft_id": draft["id"]}
        )
        run = await wait_run(client, started["run_id"])
        assert run["state"] == "posted", run
        entry = await client.call("entries.get", {"id": run["entry_id"]})
        assert entry["period"] == draft["period"]
        assert entry["lines"][0]["description"] == "Corrected by the bookkeeper"
        listed = await client.call("entries.list", {"configuration_id": manual["id"]})
        assert [e["id"] for e in listed] == [entry["id"]]
        # Exactly once: a second run of the same period is refused.
        err = await _error(
            client, "syncs.run", {"configuration_id": manual["id"], "period": draft["period"]}
        )
        assert err.name == "Conflict"
        notes = await client.call("notifications.list", {"unread_only": True})
        assert any(n["link"] and n["link"].get("entry_id") == entry["id"] for n in notes)
    ledger = tmp_path / "state" / "sandbox-ledger.sqlite3"
    with sqlite3.connect(ledger) as conn:
        refs = [r[0] for r in conn.execute("SELECT reference FROM journal_entries")]
    assert refs.count(f"bexsync:{manual['id']}:{draft['period']}") == 1
