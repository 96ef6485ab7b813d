"""The fault matrix: provider x fault scenarios against a real daemon, with the invariants.

Each scenario takes a fresh period, injects one fault at a precise point of a manual sync, and
records what the daemon made of it: the run's state and error, the notification, whether the
daemon still answers ``daemon.status``. Then the outage ends the way it would for a user (faults
cleared, books reopened, the login redone, space freed and the daemon restarted) and the period
is run again if it was not posted. Only then is the provider's ledger counted: exactly one entry
per period, whatever happened in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bexsync_tui.client import RpcCallError
from providers.simulators.faults import Fault
from tests.reliability.rig import (
    HTTP_TIMEOUT,
    TXN_PATH,
    Rig,
    first_record_repeated,
    one_line,
    short_http_timeouts,
)
from tests.support.waiting import until_async

ROOT = Path(__file__).resolve().parents[2]
FAULTS = (
    "rate_limit_storm",
    "server_errors",
    "timeouts",
    "connection_resets",
    "token_revoked",
    "locked_period",
    "pms_malformed",
    "pms_changing",
    "disk_full",
)
LABELS = {
    "rate_limit_storm": "429 storm",
    "server_errors": "5xx burst",
    "timeouts": "timeouts",
    "connection_resets": "connection resets",
    "token_revoked": "token revoked mid-sync",
    "locked_period": "locked period",
    "pms_malformed": "PMS malformed page",
    "pms_changing": "PMS data changes between pages",
    "disk_full": "disk full during commit",
}
TERMINAL = ("posted", "failed", "needs_review", "cancelled")
RUN_TIMEOUT = 120.0


@dataclass
class ScenarioResult:
    provider: str
    fault: str
    iteration: int
    period: str
    what: str  # the fault as injected, in words
    injected: int  # faults the simulators actually injected
    first_state: str
    first_error_kind: str | None
    first_error: str | None
    final_state: str
    expected: int  # entries the provider must hold for the period
    found: int  # entries it holds
    known: int  # entries the daemon lists for the period
    notified: bool
    answering: bool
    method: str = ""  # disk full: how the disk was filled
    notes: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return max(self.found - self.expected, 0)

    @property
    def missing(self) -> int:
        return max(self.expected - self.found, 0)

    @property
    def outcome(self) -> str:
        if self.fault == "disk_full":
            how = "after restart" if "restarted" in self.what else "without restart"
            return f"unrecorded->{self.final_state} {how}"
        if self.first_state == "posted":
            return "retried->posted" if self.injected else "posted"
        kind = f"({self.first_error_kind})" if self.first_error_kind else ""
        return f"{self.first_state}{kind}->{self.final_state}"

    def problems(self) -> list[str]:
        """Every broken invariant, in words (empty when the scenario is sound)."""
        out = list(self.notes)
        if self.injected == 0:
            out.append("the fault was never injected: the scenario tested nothing")
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate entr(y/ies) at the provider")
        if self.missing:
            out.append(f"{self.missing} missing entr(y/ies) at the provider")
        if self.known != self.found:
            out.append(f"the daemon lists {self.known} entries, the provider holds {self.found}")
        if self.first_state not in TERMINAL:
            out.append(f"the run was left in {self.first_state!r}")
        unclear = not self.first_error or "internal error" in self.first_error
        if self.first_state in ("failed", "needs_review") and unclear:
            out.append(f"unclear error: {self.first_error!r}")
        if self.final_state != "posted":
            out.append(f"after the outage the period ended {self.final_state!r}, not posted")
        if not self.notified:
            out.append("no notification says what happened")
        if not self.answering:
            out.append("daemon.status did not answer")
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- injecting --------------------------------------------------------------------------------
def inject(rig: Rig, fault: str, i: int, period: str) -> str:
    """Arm ``fault`` for the next sync of ``period``; the words for the report."""
    plan, api = rig.network_plan()
    where = "the PMS" if plan is rig.pms_plan else rig.provider_id
    post = rig.post_path()
    if fault == "rate_limit_storm":
        k = (3, 6, 25)[i % 3]
        plan.add(Fault.rate_limit(retry_after="0.2", path=api, nth=range(1, k + 1)))
        return f"{k} x 429 (Retry-After 0.2) from {where}"
    if fault == "server_errors":
        status, k, wait = ((500, 2, None), (502, 4, "0.1"), (503, 25, "0.1"))[i % 3]
        plan.add(Fault.error(status, retry_after=wait, path=api, nth=range(1, k + 1)))
        return f"{k} x HTTP {status} from {where}"
    if fault == "timeouts":
        delay = HTTP_TIMEOUT + 1.0
        if i % 2 == 0 and post is not None:
            plan.add(Fault.slow(delay, after=True, path=post, nth={1}))
            return f"the post is processed but answered after the {HTTP_TIMEOUT:g}s timeout"
        path = TXN_PATH if plan is rig.pms_plan else api
        plan.add(Fault.slow(delay, path=path, nth={1, 2} if i % 2 else {2}))
        return f"requests to {where} time out"
    if fault == "connection_resets":
        if i % 2 == 0 and post is not None:
            plan.add(Fault.reset(after=True, path=post, nth={1}))
            return "the post is processed, then the connection drops before the answer"
        path = TXN_PATH if plan is rig.pms_plan else api
        plan.add(Fault.reset(path=path, nth={1, 3} if i % 2 else {2}))
        return f"connections to {where} reset"
    if fault == "token_revoked":
        rig.pms_plan.add(Fault.hook(rig.revoke, path=TXN_PATH, nth={2}))
        whose = "PMS API key" if rig.provider_id == "sandbox" else f"{rig.provider_id} token"
        return f"{whose} revoked while the PMS pages are read"
    if fault == "locked_period":
        rig.pms_plan.add(Fault.hook(lambda: rig.lock(period), path=TXN_PATH, nth={2}))
        return f"{rig.provider_id} locks {period} while the PMS pages are read"
    if fault == "pms_malformed":
        if i % 2 == 0:
            rig.pms_plan.add(Fault.malformed(path=TXN_PATH, nth={2}))
            return "PMS page 2 is truncated JSON"
        rig.pms_plan.add(
            Fault.malformed(lambda doc: {**doc, "data": {"oops": 1}}, path=TXN_PATH, nth={2})
        )
        return "PMS page 2 has 'data' that is not a list"
    if fault == "pms_changing":
        rig.pms_plan.add(Fault.malformed(first_record_repeated, path=TXN_PATH, nth={2}))
        return "a back-dated line shifts the PMS pages between page 1 and 2"
    raise ValueError(f"unknown fault {fault!r}")


def injected_count(rig: Rig) -> int:
    plans = [rig.pms_plan] + ([rig.provider_plan] if rig.provider_plan is not None else [])
    return sum(p.count() for p in plans)


async def heal(rig: Rig, fault: str) -> None:
    """The outage ends: what a user or the world would do."""
    rig.pms_plan.clear()
    if rig.provider_plan is not None:
        rig.provider_plan.clear()
    if fault == "locked_period":
        rig.lock(None)
    if fault == "token_revoked":
        await rig.restore_credentials()


# -- observing --------------------------------------------------------------------------------
async def wait_settled(rig: Rig, run_id: int, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """The run once it ended, or as it is after ``timeout`` (the result says it did not end)."""

    async def ended() -> dict[str, Any] | None:
        run: dict[str, Any] = await rig.call("syncs.get", {"run_id": run_id})
        return run if run["state"] in TERMINAL else None

    with contextlib.suppress(AssertionError):
        return await until_async(ended, f"run {run_id} to end", timeout)
    return await rig.call("syncs.get", {"run_id": run_id})


async def answering(rig: Rig) -> bool:
    try:
        status = await asyncio.wait_for(rig.call("daemon.status"), 15)
    except Exception:
        return False
    return isinstance(status, dict) and "counts" in status


async def last_note_id(rig: Rig) -> int:
    notes = await rig.call("notifications.list")
    return max((n["id"] for n in notes), default=0)


async def notified(rig: Rig, after: int, run: dict[str, Any]) -> bool:
    """A notification for this run's outcome: success when posted, error/warning otherwise."""
    notes = [n for n in await rig.call("notifications.list") if n["id"] > after]
    period = run["period"]
    if run["state"] == "posted":
        return any(n["level"] == "success" and period in n["title"] for n in notes)
    return any(
        n["level"] in ("error", "warning") and (period in n["title"] or "Log in" in n["title"])
        for n in notes
    )


async def count_known(rig: Rig, period: str) -> int:
    entries = await rig.call("entries.list", {"configuration_id": rig.config["id"], "limit": 1000})
    return sum(1 for e in entries if e["period"] == period)


async def start_run(rig: Rig, period: str) -> int | None:
    try:
        started = await rig.call(
            "syncs.run", {"configuration_id": rig.config["id"], "period": period}
        )
    except RpcCallError as exc:
        if exc.name == "Conflict":
            return None  # already synced
        raise
    return int(started["run_id"])


async def rerun_until_settled(rig: Rig, period: str) -> str:
    """Run the period again after the outage; the state it ends in."""
    for _ in range(3):
        run_id = await start_run(rig, period)
        if run_id is None:
            return "posted"
        run = await wait_settled(rig, run_id)
        if run["state"] == "posted":
            return "posted"
    return run["state"]


# -- one scenario -----------------------------------------------------------------------------
async def run_scenario(rig: Rig, fault: str, i: int) -> ScenarioResult:
    period = rig.next_period()
    before_notes = await last_note_id(rig)
    before = injected_count(rig)
    what = inject(rig, fault, i, period)
    run_id = await start_run(rig, period)
    assert run_id is not None, "a fresh period was already synced"
    first = await wait_settled(rig, run_id)
    result = await first_outcome(
        rig, first, fault=fault, iteration=i, period=period, what=what,
        injected=injected_count(rig) - before, before_notes=before_notes,
    )  # fmt: skip
    await heal(rig, fault)
    await settle_and_count(rig, result)
    return result


async def first_outcome(
    rig: Rig,
    first: dict[str, Any],
    *,
    fault: str,
    iteration: int,
    period: str,
    what: str,
    injected: int,
    before_notes: int,
    answered: bool = True,
    method: str = "",
) -> ScenarioResult:
    """A scenario's result as its first run left it (``first``); ``settle_and_count`` ends it."""
    return ScenarioResult(
        provider=rig.provider_id,
        fault=fault,
        iteration=iteration,
        period=period,
        what=what,
        injected=injected,
        first_state=first["state"],
        first_error_kind=first.get("error_kind"),
        first_error=one_line(first.get("error")),
        final_state=first["state"],
        expected=1,
        found=0,
        known=0,
        notified=await notified(rig, before_notes, first),
        answering=answered and await answering(rig),
        method=method,
    )


async def settle_and_count(rig: Rig, result: ScenarioResult) -> None:
    """Once the fault is gone: the period run again until it settles (if its first run did not
    post), and the entries the provider holds and the daemon lists for it."""
    if result.first_state != "posted":
        result.final_state = await rerun_until_settled(rig, result.period)
    result.found = rig.count_at_provider(rig.reference(result.period))
    result.known = await count_known(rig, result.period)


async def run_provider(
    provider: str,
    faults: Iterable[str],
    iterations: int,
    workdir: Path,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Every fault but disk full, ``iterations`` times, against one rig (one daemon)."""
    results: list[ScenarioResult] = []
    with short_http_timeouts():
        async with Rig(provider, workdir / provider) as rig:
            for fault in faults:
                if fault == "disk_full":
                    continue
                for i in range(iterations):
                    result = await run_scenario(rig, fault, i)
                    results.append(result)
                    if on_result is not None:
                        on_result(result)
    return results


# -- disk full --------------------------------------------------------------------------------
def can_mount_tmpfs() -> bool:
    """Root and allowed to mount (not the case in most unprivileged containers)."""
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as probe:
        ok = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], capture_output=True
            ).returncode
            == 0
        )
        if ok:
            subprocess.run(["umount", probe], capture_output=True)
    return ok


def disk_full_method() -> str:
    return "tmpfs" if can_mount_tmpfs() else "rlimit_fsize"


def run_disk_full(
    provider: str, iterations: int, workdir: Path, method: str | None = None
) -> list[ScenarioResult]:
    """Disk-full scenarios in a child process (a mount or a file-size limit of its own)."""
    method = method or disk_full_method()
    out = workdir / f"diskfull-{provider}.json"
    cmd = [sys.executable, "-m", "tests.reliability.diskfull", provider, str(iterations),
           method, str(workdir / f"diskfull-{provider}"), str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"disk-full child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return [ScenarioResult(**r) for r in json.loads(out.read_text())]


# -- the table --------------------------------------------------------------------------------
def table(results: list[ScenarioResult]) -> str:
    """The counts, one row per provider x fault."""
    header = (
        f"{'provider':<11}{'fault':<31}{'runs':>5}{'expect':>7}{'found':>6}{'dup':>4}{'miss':>5}"
        f"{'notified':>9}{'answers':>8}  outcomes (first run -> after the outage)"
    )
    lines = [header, "-" * len(header)]
    groups: dict[tuple[str, str], list[ScenarioResult]] = {}
    for r in results:
        groups.setdefault((r.provider, r.fault), []).append(r)
    for (provider, fault), rs in groups.items():
        outcomes = Counter(r.outcome for r in rs)
        label = LABELS[fault] + (f" [{rs[0].method}]" if rs[0].method else "")
        lines.append(
            f"{provider:<11}{label:<31}{len(rs):>5}{sum(r.expected for r in rs):>7}"
            f"{sum(r.found for r in rs):>6}{sum(r.duplicates for r in rs):>4}"
            f"{sum(r.missing for r in rs):>5}"
            f"{sum(r.notified for r in rs):>5}/{len(rs):<3}"
            f"{sum(r.answering for r in rs):>4}/{len(rs):<3} "
            + ", ".join(f"{k} x{v}" for k, v in sorted(outcomes.items()))
        )
    bad = [r for r in results if r.problems()]
    lines.append("-" * len(header))
    lines.append(
        f"{len(results)} scenarios, {sum(r.duplicates for r in results)} duplicates, "
        f"{sum(r.missing for r in results)} missing, {len(bad)} with a broken invariant"
    )
    for r in bad:
        lines.append(f"  ! {r.provider} {r.fault} #{r.iteration} {r.period}: {r.problems()}")
    return "\n".join(lines)
