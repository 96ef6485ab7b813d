"""Security checks, in one place (issue 10, point 3). Each section says what it proves.

1. Another uid is refused on the socket (SO_PEERCRED), even when the socket mode lets it in.
2. The state dir is 0700 and everything the daemon writes in it is private to its user.
3. No secret in logs, RPC results, notifications, tracebacks or the metrics file: a full demo
   run at DEBUG here, and for the whole test run the planted-secret scan
   (tests/support/secret_scan.py), proved able to fail below.
4. OAuth ``state`` and PKCE are verified: by the client layer against the authlib server, and
   through the daemon's ``authorisations.complete``.
5. A symlink planted at the socket path, the state dir or the database is not followed: the
   daemon refuses to start with a one-line message and exit code 2; the target is untouched.

Elsewhere, not repeated here: tests/test_store.py (state dir symlink refused by the store),
tests/test_rpc_protocol.py (symlink at the socket path refused by the server),
tests/test_secrets_at_rest.py (credentials encrypted with a key file), tests/test_redact.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from bexsync_tui.client import RpcCallError
from providers.oauth import OAuthFlowError, begin_code_flow, complete_code_flow
from providers.simulators.planted import PLANTED_MARK, planted_in
from providers.tokens import SecretBox
from tests.support.daemon import ROOT, DaemonProcess, demo_daemon
from tests.support.waiting import HANG_S
from tests.test_daemon_lifecycle import call, cli
from tests.test_oauth_flows import Env, code_of, consent, env  # noqa: F401  (env: a fixture)
from tests.test_rpc_protocol import RawConn, assert_error, serve

pytest_plugins = ["pytester"]

# --- 1. another uid is refused on the socket ----------------------------------------------------

NOBODY = 65534
ADMIN_GID = 4242

CLIENT = r"""
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(5)
sock.connect(sys.argv[1])
try:
    sock.sendall(b'{"jsonrpc": "2.0", "method": "test.whoami", "id": 1}\n')
except OSError:
    pass  # the daemon may already have hung up
data = b""
closed = False
while True:
    try:
        chunk = sock.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        closed = True
        break
    data += chunk
    if b"\n" in data and b'"result"' in data:
        break
print(json.dumps({"lines": [json.loads(l) for l in data.splitlines()], "closed": closed}))
"""

as_another_user = pytest.mark.skipif(
    shutil.which("setpriv") is None or os.geteuid() != 0,
    reason="running a client as another uid needs root and setpriv (util-linux)",
)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path lives under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="bexsync-peercred-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def run_as(uid: int, gid: int, groups: list[int], socket_path: Path) -> dict[str, Any]:
    group_args = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    process = await asyncio.create_subprocess_exec(
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        *group_args,
        sys.executable,
        "-c",
        CLIENT,
        str(socket_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/",
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout)


@as_another_user
async def test_other_user_is_refused_with_32006_and_disconnected(open_dir: Path) -> None:
    path = open_dir / "d.sock"
    async with serve(path, socket_mode=0o666, allowed_gid=ADMIN_GID) as srv:
        outcome = await run_as(NOBODY, NOBODY, [], path)
        assert outcome["closed"] is True
        assert len(outcome["lines"]) == 1  # the refusal, and no answer to its call
        error = assert_error(outcome["lines"][0], -32006, "PermissionDenied")
        assert f"uid {NOBODY}" in error["message"]
        assert srv.clients == 0
        own = await RawConn.open(path)  # root (and the daemon's own uid) still get in
        assert (await own.call("test.whoami"))["result"]["uid"] == os.geteuid()
        own.close()


@as_another_user
async def test_no_admin_group_means_only_the_daemon_user_and_root(open_dir: Path) -> None:
    path = open_dir / "d.sock"
    async with serve(path, socket_mode=0o666):
        outcome = await run_as(NOBODY, ADMIN_GID, [ADMIN_GID], path)
        assert_error(outcome["lines"][0], -32006, "PermissionDenied")
        assert outcome["closed"] is True


@as_another_user
async def test_member_of_the_admin_group_is_allowed(open_dir: Path) -> None:
    path = open_dir / "d.sock"
    async with serve(path, socket_mode=0o666, allowed_gid=ADMIN_GID):
        by_primary = await run_as(NOBODY, ADMIN_GID, [], path)
        assert by_primary["closed"] is False
        (answer,) = by_primary["lines"]
        assert answer["id"] == 1
        assert (answer["result"]["uid"], answer["result"]["gid"]) == (NOBODY, ADMIN_GID)
        assert answer["result"]["pid"] > 0
        by_supplementary = await run_as(NOBODY, NOBODY, [ADMIN_GID], path)
        result = by_supplementary["lines"][0]["result"]
        assert (result["uid"], result["gid"]) == (NOBODY, NOBODY)


# --- 2. file permissions ------------------------------------------------------------------------


def start_with_umask(daemon: DaemonProcess, umask: int = 0o022, **kw: Any) -> DaemonProcess:
    """Start a child daemon under a permissive umask, as a careless unit file would."""
    old = os.umask(umask)
    try:
        return daemon.start(**kw)
    finally:
        os.umask(old)


def test_state_dir_is_0700_and_every_file_in_it_is_private(tmp_path: Path) -> None:
    key = tmp_path / "bexsync.key"
    key.write_bytes(SecretBox.generate_key())
    key.chmod(0o600)
    config = tmp_path / "bexsyncd.toml"
    config.write_text(f'[daemon]\nencryption_key_file = "{key}"\n')
    metrics = tmp_path / "state" / "bexsync.prom"
    daemon = DaemonProcess(
        tmp_path, "--demo", "--config", str(config), "--metrics-file", str(metrics)
    )
    start_with_umask(daemon, timeout=60)
    try:
        sync = cli(daemon.socket, "sync", "2", "--wait")  # the sandbox ledger gets an entry
        assert sync.returncode == 0, sync.stdout + sync.stderr
        state = daemon.state_dir
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600
        files = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in state.rglob("*") if p.is_file()}
        # The catch-up may be rewriting the metrics file right now: its temporary twin (written,
        # then renamed over it) has the same content and mode.
        files = {n: m for n, m in files.items() if not n.startswith(".bexsync.prom.")}
        assert {"bexsync.sqlite3", "sandbox-ledger.sqlite3", "bexsync.prom"} <= set(files)
        # The metrics file is 0644 on purpose: node_exporter reads it as another user. It
        # holds counts, never a secret (section 3 greps it).
        assert files.pop("bexsync.prom") == 0o644
        leaky = {name: oct(mode) for name, mode in files.items() if mode & 0o077}
        assert leaky == {}
        assert not planted_in(metrics.read_text())
        assert "can be read by other users" not in daemon.output()
    finally:
        daemon.stop()


def test_a_key_file_readable_by_others_is_named_in_a_warning(tmp_path: Path) -> None:
    key = tmp_path / "bexsync.key"
    key.write_bytes(SecretBox.generate_key())
    key.chmod(0o644)
    config = tmp_path / "bexsyncd.toml"
    config.write_text(f'[daemon]\nencryption_key_file = "{key}"\n')
    daemon = DaemonProcess(tmp_path, "--config", str(config)).start()
    daemon.stop()
    assert f"run: chmod 600 {key}" in daemon.output()


# --- 3. no secret in logs, RPC results, notifications, tracebacks, metrics ----------------------


def _secrets(state_dir: Path) -> set[str]:
    """Every secret the daemon stores, opened with the key it created (sealed by default)."""
    from daemon.secret_key import default_key_path
    from daemon.vault import SEALED_PREFIX
    from providers.tokens import SecretBox

    box = SecretBox.from_file(default_key_path(state_dir))

    def opened(sealed: str) -> Any:
        assert sealed.startswith(SEALED_PREFIX)
        return json.loads(box.decrypt(sealed.removeprefix(SEALED_PREFIX)))

    found: set[str] = set()
    with sqlite3.connect(state_dir / "bexsync.sqlite3") as db:
        (pms_key,) = db.execute("SELECT api_key FROM pms_connection").fetchone()
        found.add(opened(pms_key))
        for (data,) in db.execute("SELECT data FROM credentials"):
            for value in opened(data).values():
                token = json.loads(value) if value.startswith("{") else None
                if token:
                    found |= {token.get("access_token"), token.get("refresh_token")}
                else:
                    found.add(value)
    for path in (state_dir / "demo-providers").glob("*"):
        if path.is_file():
            found.add(path.read_text().strip())
    return {s for s in found if s and len(s) >= 8}


@pytest.mark.slow(seconds=10)
@pytest.mark.timeout(600)  # a hang bound: under a loaded CI the catch-ups of 13 providers are slow
def test_no_secret_in_logs_results_or_metrics(tmp_path: Path) -> None:
    """A demo with every provider simulator at DEBUG: logins, activations, options, previews,
    posts and failures through the CLI; grep everything printed for every secret it holds."""
    metrics = tmp_path / "bexsync.prom"
    daemon = DaemonProcess(
        tmp_path,
        "--demo",
        "--demo-providers",
        "all",
        "--log-level",
        "DEBUG",
        "--metrics-file",
        str(metrics),
    ).start(timeout=60)
    outputs: list[str] = []
    try:

        def run(*args: Any) -> subprocess.CompletedProcess[str]:
            result = call(daemon.socket, *args)
            outputs.extend([result.stdout, result.stderr])
            return result

        auths = json.loads(run("authorisations.list").stdout)
        for auth in auths:
            run("authorisations.activate", {"id": auth["id"]})
            run("configurations.options", {"authorisation_id": auth["id"]})
        for config in json.loads(run("configurations.list").stdout):
            run("configurations.activate", {"id": config["id"]})
            run("syncs.preview", {"configuration_id": config["id"]})
        manual = [c for c in json.loads(run("configurations.list").stdout) if not c["automatic"]]
        for config in manual[:4]:
            # Queued behind the start-up catch-up of a dozen providers: the bound is for a hang.
            result = cli(daemon.socket, "sync", str(config["id"]), "--wait", timeout=5 * HANG_S)
            outputs.extend([result.stdout, result.stderr])
        run("notifications.list")
        run("daemon.status")
        run("authorisations.complete", {"id": auths[-1]["id"], "code": "not-a-real-code"})
        secrets = _secrets(daemon.state_dir)
    finally:
        daemon.stop()
    assert len(secrets) >= 5, secrets
    planted = [s for s in secrets if s.endswith(PLANTED_MARK)]
    assert len(planted) >= 5, "the demo's secrets should come from simulators/planted.plant"
    haystacks = {"daemon log": daemon.output(), "rpc output": "\n".join(outputs)}
    if metrics.exists():
        haystacks["metrics"] = metrics.read_text()
    assert "DEBUG" in haystacks["daemon log"]
    leaks = [
        (where, s[:6] + "...") for where, text in haystacks.items() for s in secrets if s in text
    ]
    assert leaks == []
    assert [where for where, text in haystacks.items() if planted_in(text)] == []


SCAN_CONFTEST = """
from tests.support.secret_scan import SecretScanPlugin

def pytest_configure(config):
    config.pluginmanager.register(SecretScanPlugin(config), "bexsync-secret-scan")
"""

SCAN_TESTS = """
import logging
from providers.simulators.planted import plant

def test_clean():
    print("nothing to see")

def test_prints_a_secret():
    print("token:", plant("demo-"))

def test_logs_a_secret():
    logging.getLogger("bexsync").warning("key %s", plant("k-"))

def test_fails_with_a_secret():
    assert plant("x-") == "something else"

def test_writes_a_secret_to_a_log_file(tmp_path):
    (tmp_path / "bexsyncd.log").write_text("api_key=" + plant("p-"))
"""


@pytest.fixture
def scan_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run an inner pytest session with the secret scan; its leaked files are removed after,
    so that this (outer) run's own scan does not find them."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(SCAN_CONFTEST)

    def run(tests: str, *args: str) -> pytest.RunResult:
        pytester.makepyfile(test_inner=tests)
        # --tb=no and -rN: the inner terminal never prints a secret into this test's own output
        # (on CI, where $CI is set, pytest's short summary would print failure messages whole).
        return pytester.runpytest_subprocess(
            "-q", "--tb=no", "-rN", "-p", "no:cacheprovider", *args
        )

    yield run
    for path in pytester.path.iterdir():
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


XDIST = pytest.mark.parametrize(
    "workers",
    [
        pytest.param((), id="one-process"),
        pytest.param(("-n", "1"), id="xdist", marks=pytest.mark.slow(seconds=10)),
    ],
)
"""The scan must fail the session alike when the leak happened in an xdist worker (whose
reports and files the controller gathers)."""


def test_secret_scan_fails_the_session_and_names_each_leaking_test(scan_run: Any) -> None:
    result = scan_run(SCAN_TESTS)
    text = result.stdout.str()
    assert "PLANTED SECRETS LEAKED" in text
    assert "test_prints_a_secret: a planted secret appears in 'Captured stdout call'" in text
    for name in ("test_prints_a_secret", "test_logs_a_secret", "test_fails_with_a_secret"):
        assert f"test_inner.py::{name}: a planted secret appears in" in text
    assert "the traceback of its call phase" in text
    assert "bexsyncd.log: a planted secret appears in this file the run wrote" in text
    assert "test_clean" not in text
    assert not planted_in(text)  # the scan names where, never what
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@XDIST
def test_secret_scan_fails_a_run_whose_tests_all_passed(
    scan_run: Any, workers: tuple[str, ...]
) -> None:
    result = scan_run(SCAN_TESTS, "-k", "prints_a_secret or clean", *workers)
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "test_prints_a_secret: a planted secret appears in" in result.stdout.str()
    if workers:
        return  # a clean run is the same either way; an inner xdist session costs seconds
    clean = scan_run(SCAN_TESTS, "-k", "clean")
    assert "PLANTED SECRETS LEAKED" not in clean.stdout.str()
    assert clean.ret == pytest.ExitCode.OK


# --- 4. OAuth state and PKCE ---------------------------------------------------------------------


async def test_code_flow_sends_a_verifier_that_the_server_checks(env: Env) -> None:  # noqa: F811
    pending = begin_code_flow(env.public, now=env.clock())
    redirect_url = await consent(pending)
    record = env.state.codes[code_of(redirect_url)]
    assert record.code_challenge_method == "S256" and record.code_challenge
    wrong = replace(pending, code_verifier="x" * 64)

    with pytest.raises(OAuthFlowError) as caught:
        await complete_code_flow(env.public, wrong, redirect_url=redirect_url, now=env.clock())

    assert caught.value.reason == "invalid_grant"
    assert env.state.requests_for("authorization_code")[-1].error == "invalid_grant"


async def test_state_check_happens_before_any_token_request(env: Env) -> None:  # noqa: F811
    pending = begin_code_flow(env.public, now=env.clock())
    other = begin_code_flow(env.public, now=env.clock())
    with pytest.raises(OAuthFlowError):
        await complete_code_flow(env.public, pending, redirect_url=await consent(other))
    assert env.state.token_requests == []


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def credentials_dump(app: Any) -> list[Any]:
    return [tuple(r) for r in await app.store.db.fetchall("SELECT * FROM credentials ORDER BY 1")]


async def test_daemon_refuses_a_redirect_with_another_state_and_saves_nothing(
    tmp_path: Path,
) -> None:
    async with demo_daemon(tmp_path, providers="xero") as (app, client):
        demo = app.demo_providers["xero"]
        created = await client.call("authorisations.create", {"name": "X", "provider": "xero"})
        auth_id, url = created["authorisation"]["id"], created["next_step"]["url"]
        query = dict(parse_qsl(urlsplit(url).query))
        assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 16
        redirect = await demo.browser_login(url)
        before = await credentials_dump(app)
        forged = with_query(redirect, state="forged-" + query["state"][:8])
        with pytest.raises(RpcCallError) as caught:
            await client.call("authorisations.complete", {"id": auth_id, "redirect_url": forged})
        assert (caught.value.code, caught.value.name) == (-32004, "ProviderError")
        assert "its state does not match the login started last" in caught.value.message
        assert await credentials_dump(app) == before
        auth = await client.call("authorisations.get", {"id": auth_id})
        assert not auth["logged_in"]
        # The genuine redirect still completes: the refusal was the state, nothing else.
        done = await client.call(
            "authorisations.complete", {"id": auth_id, "redirect_url": redirect}
        )
        assert done["logged_in"]


async def test_daemon_login_fails_when_the_pkce_challenge_was_swapped(tmp_path: Path) -> None:
    """An attacker who rewrites the consent URL's code_challenge gets a code bound to it: the
    daemon's own verifier does not match, the provider refuses, nothing is saved."""
    async with demo_daemon(tmp_path, providers="xero") as (app, client):
        demo = app.demo_providers["xero"]
        created = await client.call("authorisations.create", {"name": "X", "provider": "xero"})
        auth_id, url = created["authorisation"]["id"], created["next_step"]["url"]
        swapped = with_query(url, code_challenge="A" * 43)
        redirect = await demo.browser_login(swapped)
        before = await credentials_dump(app)
        with pytest.raises(RpcCallError) as caught:
            await client.call("authorisations.complete", {"id": auth_id, "redirect_url": redirect})
        assert (caught.value.code, caught.value.name) == (-32004, "ProviderError")
        assert "xero refused the authorization code" in caught.value.message
        assert await credentials_dump(app) == before
        assert not (await client.call("authorisations.get", {"id": auth_id}))["logged_in"]


# --- 5. planted symlinks are not followed --------------------------------------------------------


def refused_start(daemon: DaemonProcess) -> tuple[int, str]:
    daemon.start(wait=False)
    assert daemon.proc is not None
    code = daemon.proc.wait(60)
    return code, daemon.output()


def test_symlink_at_the_socket_path_stops_the_start(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    daemon = DaemonProcess(tmp_path)
    daemon.socket.symlink_to(target)
    code, output = refused_start(daemon)
    assert code == 2
    assert "cannot start" in output and "is a symbolic link" in output
    assert "Traceback" not in output
    assert daemon.socket.is_symlink() and target.read_text() == "keep me\n"


def test_symlinked_state_dir_stops_the_start(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    daemon = DaemonProcess(tmp_path)
    daemon.state_dir.symlink_to(target)
    code, output = refused_start(daemon)
    assert code == 2
    assert "state dir" in output and "symbolic link" in output and "Traceback" not in output
    assert list(target.iterdir()) == [] and stat.S_IMODE(target.stat().st_mode) == 0o755
    assert not daemon.socket.exists()


def test_symlinked_database_stops_the_start(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.sqlite3"
    target.write_bytes(b"not yours")
    daemon = DaemonProcess(tmp_path)
    daemon.state_dir.mkdir(mode=0o700)
    (daemon.state_dir / "bexsync.sqlite3").symlink_to(target)
    code, output = refused_start(daemon)
    assert code == 2
    assert "symbolic link" in output and "Traceback" not in output
    assert target.read_bytes() == b"not yours"
