"""Secrets sealed by default (issue 17.7): a default install creates its key (0600, beside the
state dir) and has no plain secret in any database file; plain secrets of an older version
are sealed at the next start; plain storage only by opting in, with a warning at every start."""

from __future__ import annotations

import stat
from pathlib import Path

from daemon.secret_key import default_key_path
from daemon.store.db import DB_NAME
from providers.simulators.planted import PLANTED_MARK
from tests.support.daemon import DaemonProcess
from tests.test_fuzz_daemon import Line
from tests.test_fuzz_rules import rpc

PLAIN_WARNING = "secrets are stored in plain text"


class ConfiguredDaemon(DaemonProcess):
    """``bexsyncd --demo`` with a config file of its own."""

    def __init__(self, tmp: Path, config: str) -> None:
        super().__init__(tmp, "--demo")
        self.config = tmp / "bexsyncd.toml"
        self.config.write_text(config)

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("--config") + 1] = str(self.config)
        return cmd


def _files_holding_a_secret(state_dir: Path) -> list[str]:
    mark = PLANTED_MARK.encode()
    return [p.name for p in sorted(state_dir.glob(DB_NAME + "*")) if mark in p.read_bytes()]


def test_a_default_install_seals_with_a_key_it_creates(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, "--demo").start()
    try:
        holding = _files_holding_a_secret(daemon.state_dir)  # the WAL included, while running
    finally:
        assert daemon.stop() == 0
    key = default_key_path(daemon.state_dir)
    assert holding == []
    assert _files_holding_a_secret(daemon.state_dir) == []
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert key.parent != daemon.state_dir  # a copy of the state dir alone reveals nothing
    assert "back it up" in daemon.output() and PLAIN_WARNING not in daemon.output()
    # The same key opens them at the next start: no new key, the PMS still connected.
    before = key.read_bytes()
    again = DaemonProcess(tmp_path).start()
    try:
        again.line = Line(again.socket)
        assert rpc(again, "pms.get")["result"]["status"] == "connected"
    finally:
        again.stop()
    assert key.read_bytes() == before


def test_plain_storage_is_an_opt_in_that_warns_and_an_upgrade_seals_it(tmp_path: Path) -> None:
    plain = ConfiguredDaemon(tmp_path, "[daemon]\nplain_secrets = true\n").start()
    assert plain.stop() == 0
    assert _files_holding_a_secret(plain.state_dir)  # what older versions did by default
    assert plain.output().count(PLAIN_WARNING) == 1
    plain.start()
    assert plain.stop() == 0
    assert plain.output().count(PLAIN_WARNING) == 2  # at every start
    assert not default_key_path(plain.state_dir).exists()

    sealed = DaemonProcess(tmp_path).start()  # the default again: seals what it finds
    assert sealed.stop() == 0
    assert "sealed" in sealed.output() and "stored in plain text" in sealed.output()
    assert _files_holding_a_secret(sealed.state_dir) == []


def test_plain_storage_and_a_key_file_contradict() -> None:
    import pytest

    from daemon.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="plain_secrets contradicts encryption_key_file"):
        parse_config({"daemon": {"plain_secrets": True, "encryption_key_file": "k"}})


def test_the_key_comes_from_config_then_a_systemd_credential_then_a_new_file(
    tmp_path: Path,
) -> None:
    from daemon.secret_key import KEY_CREDENTIAL, secrets_box
    from providers.tokens import SecretBox

    state = tmp_path / "state"
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / KEY_CREDENTIAL).write_bytes(SecretBox.generate_key())
    configured = tmp_path / "configured.key"
    configured.write_bytes(SecretBox.generate_key())
    configured.chmod(0o600)

    def opens_with(box: SecretBox | None, key: Path) -> bool:
        assert box is not None
        return SecretBox(key.read_bytes()).decrypt(box.encrypt(b"x")) == b"x"

    box = secrets_box(state, key_file=str(configured), plain=False, credentials_dir=str(creds))
    assert opens_with(box, configured)
    box = secrets_box(state, key_file=None, plain=False, credentials_dir=str(creds))
    assert opens_with(box, creds / KEY_CREDENTIAL)
    assert not default_key_path(state).exists()  # a credential means no key file is made
    box = secrets_box(state, key_file=None, plain=False, credentials_dir=None)
    assert opens_with(box, default_key_path(state))
    assert secrets_box(state, key_file=None, plain=True, credentials_dir=None) is None


def test_a_key_that_cannot_be_made_stops_the_daemon_with_a_clear_line(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path)
    default_key_path(daemon.state_dir).parent.write_text("not a directory")
    daemon.start(wait=False)
    assert daemon.proc is not None and daemon.proc.wait(60) == 2
    output = daemon.output()
    assert "cannot start: the key that seals stored secrets" in output
    assert "Traceback" not in output
