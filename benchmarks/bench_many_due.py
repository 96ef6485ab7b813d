"""1,000 configurations due at the same moment vs the lower bound the provider's limits allow.

The real daemon in its own process (``benchmarks/_bench_provider.py`` runs ``bexsyncd``'s own
``main`` with one extra provider registered: an account with 30 ms latency and a 100 calls/s,
8-concurrent limit, the usual case of one ledger for many administrations). The PMS is the BEX
simulator over real HTTP, in this process. Everything is set up through the daemon's RPC
socket: PMS connected, 1,000 administrations given access, one authorisation with an inactive
automatic daily configuration per administration; then one JSON-RPC batch activates all 1,000
(t0): due at once. Done when 1,000 ``sync.finished`` events with state ``posted`` arrived.
Lower bound: the provider calls the runs made, at the limit's pace and concurrency. Goal:
within 1.1x of it.

Run: ``.venv/bin/python benchmarks/bench_many_due.py [configurations]``
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _bench_provider import LATENCY, LIMIT  # noqa: E402
from _result import result  # noqa: E402

from bexsync_tui.client import Client  # noqa: E402
from providers.simulators.base import SimulatorServer  # noqa: E402
from providers.simulators.bex import BexDataset, create_bex_app  # noqa: E402
from providers.simulators.bex_dataset import AdministrationSpec  # noqa: E402
from tests.support.daemon import wait_listening  # noqa: E402

PMS_RATE = 400  # PMS calls per second allowed in this run
API_KEY = "bench-key-0001"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_daemon(tmp: Path) -> subprocess.Popen[bytes]:
    # The PMS limit is raised (as BEX does on request) so that the provider's limit binds.
    config = tmp / "bexsyncd.toml"
    config.write_text(
        f"[pms]\npage_size = 1000\ncalls_per_15min = {PMS_RATE * 900}\n"
        f"calls_per_minute = {PMS_RATE * 60}\n[daemon]\nmax_concurrent_syncs = 16\n"
    )
    command = [sys.executable, str(ROOT / "benchmarks" / "_bench_provider.py")]
    command += ["--state-dir", str(tmp / "state"), "--socket", str(tmp / "s.sock")]
    command += ["--config", str(config), "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_CALLS_FILE": str(tmp / "calls")}
    log = (tmp / "bexsyncd.log").open("wb")
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


async def connect(tmp: Path, daemon: subprocess.Popen[bytes]) -> Client:
    wait_listening(daemon, tmp / "s.sock", tmp / "bexsyncd.log")
    return await Client().connect(str(tmp / "s.sock"))


async def seed(client: Client, pms_url: str) -> list[int]:
    """Everything but activating the configurations; returns their ids."""
    await client.call("pms.connect", {"base_url": pms_url, "api_key": API_KEY})
    admins = await client.call("administrations.list")
    made = await client.call("authorisations.create", {"name": "Bench", "provider": "bench"})
    auth_id: int = made["authorisation"]["id"]
    await client.call("authorisations.activate", {"id": auth_id})
    ids = []
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    for admin in admins:
        await client.call("administrations.set_access", {"id": admin["id"], "access": True})
        config = await client.call(
            "configurations.create",
            {"authorisation_id": auth_id, "administration_id": admin["id"],
             "frequency": "daily", "ledger_id": "BEX", "start_date": yesterday,
             "delay_days": 0, "automatic": True, "activate": False, "no_vat_code": "NONE"},
        )  # fmt: skip
        ids.append(config["id"])
    return ids


async def activate_at_once(socket_path: Path, ids: list[int]) -> None:
    """One JSON-RPC batch: the daemon activates every configuration in one go."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=1 << 24)
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "configurations.activate", "params": {"id": i}}
        for i in ids
    ]
    writer.write(json.dumps(batch).encode() + b"\n")
    answers = json.loads(await reader.readline())
    writer.close()
    refused = [a for a in answers if "error" in a]
    if refused:
        raise SystemExit(f"{len(refused)} activations refused: {refused[0]}")


async def main(n: int) -> None:
    today = datetime.now(UTC).date()
    admins = [AdministrationSpec(f"{9000 + i}", f"{i:04d}", f"Park {i}") for i in range(n)]
    dataset = BexDataset(7, today, admins, history_days=3)
    pms = SimulatorServer(create_bex_app(dataset, api_key=API_KEY, rate_limit=None))
    pms_url = await pms.start()
    with tempfile.TemporaryDirectory(prefix="bx-bench-", dir="/tmp") as name:
        tmp = Path(name)
        daemon = start_daemon(tmp)
        try:
            client = await connect(tmp, daemon)
            config_ids = await seed(client, pms_url)
            posted: set[int] = set()
            failed: list[dict[str, Any]] = []
            done = asyncio.Event()

            def on_event(topic: str, data: dict[str, Any]) -> None:
                if data.get("state") == "posted":
                    posted.add(data["run_id"])
                elif data.get("state") == "failed":
                    failed.append(data)
                if len(posted) >= n or failed:
                    done.set()

            client.on_event(on_event)
            await client.subscribe(["sync.finished"])
            calls_file = tmp / "calls"
            calls_before = int(calls_file.read_text()) if calls_file.exists() else 0
            cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
            await activate_at_once(tmp / "s.sock", config_ids)  # all due now
            await asyncio.wait_for(done.wait(), 3600)
            elapsed, cpu = time.monotonic() - t0, cpu_seconds(daemon.pid) - cpu0
            if failed:
                raise SystemExit(f"{len(failed)} runs failed: {failed[0]}")
            await client.aclose()
        finally:
            daemon.terminate()
            daemon.wait(60)
            await pms.stop()
        calls = int(calls_file.read_text()) - calls_before  # those the runs made
    rate_bound = calls / (LIMIT.calls / LIMIT.per_seconds)
    concurrency_bound = calls * LATENCY / (LIMIT.concurrent or 1)
    bound = max(rate_bound, concurrency_bound)
    print(f"{n} configurations due at once: {n} periods posted in {elapsed:.1f}s")
    print(
        f"provider calls: {calls} ({calls / n:.2f} per run); limit {LIMIT.calls} per "
        f"{LIMIT.per_seconds:.0f}s, {LIMIT.concurrent} concurrent, {LATENCY * 1000:.0f} ms each"
    )
    print(f"lower bound from those limits: {bound:.1f}s; the daemon used {cpu:.1f}s of CPU")
    print(f"achieved/bound: {elapsed / bound:.2f}x (goal <= 1.10x)")
    result(
        "bench_many_due",
        "elapsed",
        f"{elapsed:.1f}s",
        f"{bound:.1f}s",
        elapsed / bound,
        "<=1.10x",
        elapsed / bound <= 1.10,
        configurations=str(n),
        daemon_cpu=f"{cpu:.1f}s",
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
