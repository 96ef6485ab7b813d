"""``python -m tests.under_load [--runs 3] [--hogs N] -- <pytest args>`` (``make test-under-load``):
run the whole suite several times in a row while busy-loop processes keep every core busy.

The suite must pass on a machine whose cores are busy (CI shares its 2 cores). The hogs run at
the tests' own priority, one per core by default; they are killed when this script ends, however
it ends (normal exit, a failure, Ctrl-C, SIGTERM) and, through PR_SET_PDEATHSIG, even if this
process is SIGKILLed. Prints each run's pytest summary line and wall time, and how many cores the
hogs really kept busy. Exit status: 0 only when every run passed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1


def _hog() -> None:
    """Burn one core until killed; die with the parent."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        pass


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cpu_hogs(count: int) -> Iterator[list[int]]:
    pids: list[int] = []
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:  # the child never returns into the caller's code
                try:
                    _hog()
                finally:
                    os._exit(0)
            pids.append(pid)
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


@dataclass
class Run:
    number: int
    exit_code: int
    seconds: float
    summary: str


def _run_suite(number: int, pytest_args: list[str], log_dir: Path) -> Run:
    """One whole-suite run; its output goes to the terminal and to a log file."""
    log_path = log_dir / f"run{number}.log"
    started = time.monotonic()
    summary = ""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", *pytest_args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # progress as it happens
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
            if (" passed" in line or " failed" in line or " error" in line) and " in " in line:
                summary = line.strip().strip("=").strip()
        code = proc.wait()
    return Run(number, code, time.monotonic() - started, summary or f"(no summary: {log_path})")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through cpu_hogs' cleanup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.under_load", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="whole-suite runs in a row (3)")
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2, help="busy processes")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bexsync-under-load-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    started = time.monotonic()
    with cpu_hogs(args.hogs) as hogs:
        print(f"under load: {args.hogs} busy-loop processes {hogs} on {os.cpu_count()} cores")
        for number in range(1, args.runs + 1):
            print(f"=== run {number} of {args.runs}: pytest {' '.join(args.pytest_args)}")
            runs.append(_run_suite(number, args.pytest_args, log_dir))
        hog_cores = sum(_cpu_seconds(pid) for pid in hogs) / (time.monotonic() - started)
    print(f"=== under load: {len(runs)} runs, the hogs kept {hog_cores:.2f} cores busy on average")
    for run in runs:
        verdict = "PASSED" if run.exit_code == 0 else f"FAILED (exit {run.exit_code})"
        print(f"run {run.number}: {verdict} in {run.seconds:.0f} s: {run.summary}")
    print(f"logs: {log_dir}")
    return 0 if runs and all(run.exit_code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
