"""Idle daemon with 1,000 configurations: CPU share and RSS over a quiet minute.

Budget (DESIGN.md): under 0.1% CPU (the daemon sleeps until the next due time) and under 80 MB
RSS. Baseline in the same run: a bare Python interpreter that imports the daemon's modules and
sleeps, measured the same way. Run: .venv/bin/python benchmarks/bench_idle.py [seconds]
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _result import result  # noqa: E402

from bexsync_tui.client import Client  # noqa: E402
from tests.support.daemon import wait_listening  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(pid: int, seconds: float) -> tuple[float, float]:
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used = cpu_seconds(pid) - start_cpu
    return 100 * used / (time.monotonic() - start), rss_mb(pid)


async def seed(socket: str, configurations: int, pms_url: str) -> None:
    client = Client()
    await client.connect(socket)
    await client.call("pms.connect", {"base_url": pms_url, "api_key": "bench-key-123456"})
    admins = await client.call("administrations.list")
    for admin in admins:
        await client.call("administrations.set_access", {"id": admin["id"], "access": True})
    today = time.strftime("%Y-%m-%d")
    made = 0
    n = 0
    while made < configurations:
        n += 1
        auth = await client.call(
            "authorisations.create", {"name": f"Bench {n}", "provider": "sandbox"}
        )
        auth_id = auth["authorisation"]["id"]
        await client.call("authorisations.activate", {"id": auth_id})
        for admin in admins:
            if made >= configurations:
                break
            await client.call(
                "configurations.create",
                {"authorisation_id": auth_id, "administration_id": admin["id"],
                 "frequency": "daily", "ledger_id": "BEX", "start_date": today,
                 "automatic": True, "activate": True, "allow_duplicate_target": True},
            )  # fmt: skip
            made += 1
    await client.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pms_url(proc: subprocess.Popen[str]) -> str:
    """The simulator prints its URL when it listens."""
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if match:
            return match.group(0)
    raise RuntimeError("the PMS simulator did not start")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    tmp = Path(tempfile.mkdtemp(prefix="bexsync-bench-"))
    sock_path = tmp / "bexsyncd.sock"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The PMS simulator runs in its own process: the daemon measured is a production daemon.
    pms = subprocess.Popen(
        [sys.executable, "-m", "providers.simulators.bex", "--port", str(free_port()), "--api-key",
         "bench-key-123456", "--no-rate-limit"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    daemon = subprocess.Popen(
        [sys.executable, "-m", "daemon.main", "--state-dir", str(tmp / "state"),
         "--socket", str(sock_path), "--config", os.devnull, "--log-level", "WARNING"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    baseline = subprocess.Popen(
        [sys.executable, "-c", "import daemon.app, time; time.sleep(10**6)"], env=env
    )
    try:
        wait_listening(daemon, sock_path)
        t0 = time.monotonic()
        asyncio.run(seed(str(sock_path), 1000, pms_url(pms)))
        print(f"seeded 1000 configurations in {time.monotonic() - t0:.1f}s; settling...")
        time.sleep(20)  # let the demo's start-up catch-up finish
        base_cpu, base_rss = measure(baseline.pid, seconds)
        cpu, rss = measure(daemon.pid, seconds)
    finally:
        daemon.terminate()
        baseline.terminate()
        pms.terminate()
        daemon.wait(30)
    print(f"idle over {seconds:.0f}s: daemon {cpu:.3f}% CPU, {rss:.1f} MB RSS")
    print(f"baseline (bare interpreter with the daemon's imports): {base_cpu:.3f}% CPU, "
          f"{base_rss:.1f} MB RSS")  # fmt: skip
    print(f"RSS ratio daemon/baseline: {rss / base_rss:.2f}x")
    print(f"budget: CPU < 0.1% -> {'met' if cpu < 0.1 else 'MISSED'}; "
          f"RSS < 80 MB -> {'met' if rss < 80 else 'MISSED'}")  # fmt: skip
    result(
        "bench_idle",
        "rss",
        f"{rss:.1f}MB",
        f"{base_rss:.1f}MB",
        rss / base_rss,
        "cpu<0.1%,rss<80MB",
        cpu < 0.1 and rss < 80,
        cpu=f"{cpu:.3f}%",
        baseline_cpu=f"{base_cpu:.3f}%",
    )


if __name__ == "__main__":
    main()
