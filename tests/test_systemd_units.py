"""The shipped systemd files as systemd itself judges them (verify, security, sysusers, tmpfiles).

`systemd-analyze verify` insists that ExecStart= exists, so each unit is checked as a copy with
ExecStart= pointed at the venv's `bexsyncd` (or /bin/true before it is installed). Needs the
Debian package `systemd` (systemd-analyze, systemd-sysusers, systemd-tmpfiles); no running
systemd is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
SYSTEM_UNIT = SYSTEMD / "bexsyncd.service"
USER_UNIT = SYSTEMD / "user" / "bexsyncd.service"
MAX_EXPOSURE = 2.0
MAX_USER_EXPOSURE = 2.0
"""The user unit scored 6.3 before issue 17.8; 1.8 with namespaces and no capabilities."""


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install systemd)")
    return path


def executable() -> str:
    venv_daemon = Path(sys.executable).parent / "bexsyncd"
    return str(venv_daemon) if os.access(venv_daemon, os.X_OK) else "/bin/true"


def copy_with_real_exec(unit: Path, tmp_path: Path) -> Path:
    """The unit with ExecStart= pointing at an executable that exists on this machine."""
    text = unit.read_text()
    assert len(re.findall(r"(?m)^ExecStart=", text)) == 1
    out = tmp_path / unit.name
    out.write_text(re.sub(r"(?m)^ExecStart=.*$", f"ExecStart={executable()}", text))
    return out


def directives(unit: Path) -> dict[str, list[str]]:
    """Key -> every value assigned in the file (systemd allows repeats), comments skipped."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


def test_system_unit_verifies_clean(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = copy_with_real_exec(SYSTEM_UNIT, tmp_path)
    result = run(analyze, "verify", str(unit))
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output == "", f"systemd-analyze verify is not clean:\n{output}"


def test_system_unit_exposure_is_at_most_2(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = copy_with_real_exec(SYSTEM_UNIT, tmp_path)
    result = run(analyze, "security", "--offline=yes", "--no-pager", str(unit))
    match = re.search(r"Overall exposure level for bexsyncd\.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_user_unit_verifies_clean(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = copy_with_real_exec(USER_UNIT, tmp_path)
    # --user needs a runtime dir, even offline; a short one, as sockets under it (gpg-agent's)
    # must fit in 108 bytes, which pytest's tmp_path under an xdist worker does not.
    with tempfile.TemporaryDirectory(prefix="xdg-", dir="/tmp") as runtime:
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
        result = run(analyze, "--user", "verify", str(unit), env=env)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output == "", f"systemd-analyze --user verify is not clean:\n{output}"


def test_system_unit_wiring_the_daemon_relies_on() -> None:
    d = directives(SYSTEM_UNIT)
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["30"]
    assert d["Restart"] == ["on-failure"]
    assert (d["User"], d["Group"]) == (["bexsync"], ["bexsync"])
    # bexsync-keys: where the daemon creates the key that seals secrets (daemon.secret_key)
    assert (d["StateDirectory"], d["StateDirectoryMode"]) == (["bexsync bexsync-keys"], ["0700"])
    assert (d["RuntimeDirectory"], d["RuntimeDirectoryMode"]) == (["bexsync"], ["0750"])
    env = " ".join(d["Environment"]).split()
    assert "BEXSYNC_SOCKET_MODE=0660" in env
    assert "BEXSYNC_ADMIN_GROUP=bexsync" in env
    # The daemon talks to the PMS and the providers: outbound IP must not be denied wholesale.
    assert all("any" not in v.split() for v in d.get("IPAddressDeny", []))
    # A user namespace would show every admin's uid as `nobody` to SO_PEERCRED.
    assert d.get("PrivateUsers", ["no"]) == ["no"]


def test_user_unit_has_the_same_service_features() -> None:
    d = directives(USER_UNIT)
    assert d["Type"] == ["notify"]
    assert d["WatchdogSec"] == ["30"]
    assert d["Restart"] == ["on-failure"]
    assert d["RuntimeDirectory"] == ["bexsync"]
    assert "BEXSYNC_SOCKET_MODE=0600" in " ".join(d["Environment"]).split()
    assert "User" not in d


def test_sysusers_creates_the_bexsync_user_and_group(tmp_path: Path) -> None:
    sysusers = tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    result = run(sysusers, f"--root={tmp_path}", str(SYSTEMD / "bexsync.sysusers.conf"))
    assert result.returncode == 0, result.stderr
    (passwd,) = [
        line.split(":")
        for line in (tmp_path / "etc/passwd").read_text().splitlines()
        if line.startswith("bexsync:")
    ]
    (group,) = [
        line.split(":")
        for line in (tmp_path / "etc/group").read_text().splitlines()
        if line.startswith("bexsync:")
    ]
    assert passwd[3] == group[2]  # primary group is bexsync
    assert int(passwd[2]) < 1000  # a system user
    assert passwd[5] == "/var/lib/bexsync"
    assert passwd[6].endswith("nologin")


def test_tmpfiles_makes_the_config_dir_readable_by_the_daemon_only(tmp_path: Path) -> None:
    sysusers = tool("systemd-sysusers")
    tmpfiles = tool("systemd-tmpfiles")
    (tmp_path / "etc").mkdir()
    assert (
        run(sysusers, f"--root={tmp_path}", str(SYSTEMD / "bexsync.sysusers.conf")).returncode == 0
    )
    result = run(tmpfiles, f"--root={tmp_path}", "--create", str(SYSTEMD / "bexsync.tmpfiles.conf"))
    assert result.returncode == 0, result.stderr
    gid = next(
        int(line.split(":")[2])
        for line in (tmp_path / "etc/group").read_text().splitlines()
        if line.startswith("bexsync:")
    )
    conf = (tmp_path / "etc/bexsync").stat()
    assert (stat.S_IMODE(conf.st_mode), conf.st_uid, conf.st_gid) == (0o750, 0, gid)
    creds = (tmp_path / "etc/bexsync/credentials").stat()
    assert (stat.S_IMODE(creds.st_mode), creds.st_uid, creds.st_gid) == (0o700, 0, 0)


UNDER_MDWE = textwrap.dedent(
    """
    import ctypes, importlib.util, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
        sys.exit(77)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit("W+X memory was allowed: MDWE not in force")
    except OSError:
        pass
    import asyncio, ssl
    import aiosqlite, authlib.integrations.httpx_client, croniter, httpx
    from cryptography.hazmat.primitives.asymmetric import rsa
    for name in ("daemon.sdnotify", "daemon.logsetup", "daemon.metrics", "daemon.backup",
                 "daemon.main", "daemon.app"):
        if importlib.util.find_spec(name) is not None:
            __import__(name)
    rsa.generate_private_key(65537, 2048)
    ssl.create_default_context()
    assert ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)() == 7

    async def main():
        async with aiosqlite.connect(":memory:") as db:
            await db.execute("CREATE TABLE t (x)")
            await db.execute("INSERT INTO t VALUES (1)")
        async with httpx.AsyncClient() as client:
            pass
    asyncio.run(main())
    print("ok")
    """
)


def test_python_stack_runs_with_memory_deny_write_execute() -> None:
    """MemoryDenyWriteExecute=yes must not break the daemon's interpreter and libraries.

    The kernel's PR_SET_MDWE (Linux >= 6.3) enforces the same rule as systemd's seccomp filter:
    no memory that is both writable and executable.
    """
    # The child sets the flag (it cannot be undone), so the test process is not affected.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", UNDER_MDWE],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    if result.returncode == 77:
        pytest.skip("kernel without PR_SET_MDWE (Linux < 6.3)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_both_units_leave_file_descriptors_above_the_connection_cap() -> None:
    from daemon.config import DaemonConfig

    cap = DaemonConfig().max_connections
    for unit in (SYSTEM_UNIT, USER_UNIT):
        limit = directives(unit)["LimitNOFILE"]
        assert len(limit) == 1 and int(limit[0]) >= 4 * cap, unit


def test_a_damaged_database_is_not_restarted_in_a_loop() -> None:
    from daemon.main import EXIT_DATABASE_DAMAGED

    for unit in (SYSTEM_UNIT, USER_UNIT):
        prevent = " ".join(directives(unit).get("RestartPreventExitStatus", [])).split()
        assert str(EXIT_DATABASE_DAMAGED) in prevent, unit


def test_user_unit_exposure_is_at_most_2(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = copy_with_real_exec(USER_UNIT, tmp_path)
    with tempfile.TemporaryDirectory(prefix="xdg-", dir="/tmp") as runtime:
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
        result = run(
            analyze, "security", "--offline=yes", "--user", "--no-pager", str(unit), env=env
        )
    match = re.search(r"Overall exposure level for bexsyncd\.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_USER_EXPOSURE, result.stdout
