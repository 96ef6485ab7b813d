"""``bexsync demo``: a demo daemon in a temporary state dir, the TUI on it, then clean up.

The daemon must not outlive its TUI, however the TUI ends: ctrl+q, a closed terminal (SIGHUP,
an SSH drop), SIGTERM, or a SIGKILL. The daemon gets a parent-death signal (Linux), so it stops
even when nothing of the TUI runs any more; SIGHUP and SIGTERM end the TUI normally, so its
``finally`` stops the daemon and removes the temporary state dir.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def start_demo_daemon(
    state_dir: Path, socket_path: Path, providers: str | None = None, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "daemon.main",
        "--demo",
        "--state-dir",
        str(state_dir),
        "--socket",
        str(socket_path),
        "--config",
        os.devnull,
    ]
    if providers:
        cmd += ["--demo-providers", providers]
    log = open(log_path or state_dir.parent / "bexsyncd.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        cmd,
        stdout=log,
        stderr=log,
        start_new_session=True,
        preexec_fn=_stop_with_parent(os.getpid()) if sys.platform == "linux" else None,
    )


PR_SET_PDEATHSIG = 1


def _stop_with_parent(parent: int) -> Callable[[], None]:
    """In the child before exec: SIGTERM when the parent dies (``prctl(PR_SET_PDEATHSIG)``);
    if it already died before that was set, stop at once."""

    def arm() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return arm


def _exit_on_signal(signum: int, _frame: object) -> None:
    """SIGHUP or SIGTERM before or after the TUI runs: unwind, so the clean-up runs."""
    raise SystemExit(128 + signum)


def wait_for_socket(proc: subprocess.Popen[bytes], socket_path: Path, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if socket_path.exists():
            return True
        time.sleep(0.05)
    return False


def run_demo(*, providers: str | None = None, keep: bool = False) -> int:
    for signum in (signal.SIGHUP, signal.SIGTERM):  # the TUI handles them while it runs
        signal.signal(signum, _exit_on_signal)
    root = Path(tempfile.mkdtemp(prefix="bexsync-demo-"))
    state_dir, socket_path, log_path = root / "state", root / "bexsyncd.sock", root / "bexsyncd.log"
    print(f"bexsync demo: starting a demo daemon in {root} ...", file=sys.stderr)
    proc = start_demo_daemon(state_dir, socket_path, providers, log_path)
    try:
        if not wait_for_socket(proc, socket_path):
            print(f"bexsync demo: the daemon did not start; see {log_path}:", file=sys.stderr)
            print(log_path.read_text(errors="replace")[-2000:], file=sys.stderr)
            return 2
        from bexsync_tui.app import run_tui

        return int(run_tui(str(socket_path)) or 0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if keep:
            print(f"bexsync demo: state kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
