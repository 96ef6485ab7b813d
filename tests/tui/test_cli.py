"""The scripting CLI's exit codes and messages (README "Scripting"), as a script sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bexsync_tui.cli import EXIT_NO_DAEMON, EXIT_USAGE


def bexsync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bexsync_tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_bad_params_are_a_usage_error_not_no_daemon(tmp_path: Path) -> None:
    socket = str(tmp_path / "none.sock")
    bad = bexsync("call", "x", "{bad", "--socket", socket)
    assert bad.returncode == EXIT_USAGE != EXIT_NO_DAEMON
    assert "not valid JSON" in bad.stderr
    assert bexsync("call", "x", "3", "--socket", socket).returncode == EXIT_USAGE
    assert bexsync("sync", "not-a-number", "--socket", socket).returncode == EXIT_USAGE
    assert bexsync("call", "x", "{}", "--socket", socket).returncode == EXIT_NO_DAEMON


def test_no_daemon_is_one_line_without_a_runtime_dir_warning(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "BEXSYNC_SOCKET")}
    env.pop("RUNTIME_DIRECTORY", None)
    result = subprocess.run(
        [sys.executable, "-m", "bexsync_tui.cli", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_NO_DAEMON
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Warning" not in result.stderr
    assert lines[0].count("no daemon answers") + lines[0].count("No daemon answers") == 1
    assert "no such socket" in lines[0] and "bexsync demo" in lines[0]
