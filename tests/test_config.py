"""The config file (bexsyncd.toml): what the README documents is accepted, and a broken file
is refused with every problem at once, each named by its key path."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config, parse_config
from tests.support.daemon import ROOT, DaemonProcess


def refusal(data: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return str(caught.value)


def test_every_bexsyncd_toml_example_of_the_readme_is_a_valid_config() -> None:
    blocks = [
        block
        for block in re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
        if re.match(r"\[(daemon|pms|store|providers\.)", block)  # not the TUI's own tui.toml
    ]
    assert len(blocks) >= 3
    for block in blocks:
        config = parse_config(tomllib.loads(block))
        assert config.max_concurrent_syncs >= 1


def test_a_full_file_becomes_the_daemon_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEXSYNC_SOCKET_MODE", raising=False)
    config = parse_config(
        {
            "daemon": {"socket_mode": "0660", "max_concurrent_syncs": 8, "metrics_file": "/m"},
            "pms": {"api_url": "https://pms.example", "page_size": 500, "client_id": "app"},
            "providers": {"xero": {"client_id": "x", "api_url": "http://127.0.0.1:9", "a": 1}},
        }
    )
    assert config.socket_mode == 0o660 and config.max_concurrent_syncs == 8
    assert config.metrics_file == Path("/m") and config.pms_page_size == 500
    assert config.pms["api_url"] == "https://pms.example"
    xero = config.provider("xero")
    assert xero.client_id == "x" and xero.url("api_url", "") == "http://127.0.0.1:9"
    assert xero.options == {"a": 1}
    assert config.provider("odoo").client_id is None


def test_every_problem_is_named_by_its_key_path_at_once() -> None:
    message = refusal(
        {
            "daemon": {"max_concurrent_syncs": 99, "colour": "red", "oauth_loopback_port": "x"},
            "pms": {"page_size": True, "token_url": "ftp://pms/token", "client_id": "  "},
            "providers": {"xero": {"client_id": 7, "api_url": "xero.com"}},
            "extra": {},
        }
    )
    problems = message.split("; ")
    assert problems == [
        "providers.xero.api_url must be an http(s) URL",
        "daemon.max_concurrent_syncs must be between 1 and 64",
        "daemon.oauth_loopback_port must be an integer",
        "daemon.colour is not a known key",
        "pms.page_size must be an integer",
        "pms.client_id must not be empty",
        "pms.token_url must be an http(s) URL",
        "providers.xero.client_id must be a string",
        "extra is not a known key",
    ]


@pytest.mark.parametrize("table", ["pms", "providers"])
def test_a_client_secret_in_the_file_is_refused_without_repeating_it(table: str) -> None:
    secret = "s3cr3t-in-the-config"
    data: dict[str, object] = {"client_id": "app", "client_secret": secret}
    message = refusal({table: {"xero": data} if table == "providers" else data})
    where = "providers.xero" if table == "providers" else "pms"
    assert message.startswith(f"{where}.client_secret is refused: put the client secret in a file")
    assert "client_secret_file" in message and secret not in message


@pytest.mark.parametrize(("written", "mode"), [("0660", 0o660), (660, 0o660), ("0o666", 0o666)])
def test_socket_mode_is_octal_digits_quoted_or_not(written: object, mode: int) -> None:
    assert parse_config({"daemon": {"socket_mode": written}}).socket_mode == mode


def test_socket_mode_refusals_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal({"daemon": {"socket_mode": "0777"}}) == (
        "daemon.socket_mode must be 0600, 0660 or 0666"
    )
    assert refusal({"daemon": {"socket_mode": "rw-rw----"}}) == (
        'daemon.socket_mode must be an octal string like "0660"'
    )
    monkeypatch.setenv("BEXSYNC_SOCKET_MODE", "0660")
    assert parse_config({}).socket_mode == 0o660
    monkeypatch.setenv("BEXSYNC_SOCKET_MODE", "0644")
    assert refusal({}) == "BEXSYNC_SOCKET_MODE must be 0600, 0660 or 0666"


def test_a_file_names_itself_in_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "bexsyncd.toml"
    path.write_text("[daemon]\nmax_concurrent_syncs = 0\n")
    with pytest.raises(
        ConfigError, match=f"^{re.escape(str(path))}: daemon.max_concurrent_syncs must be"
    ):
        load_config(path)
    path.write_text("[daemon\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", required=True)
    assert load_config(tmp_path / "missing.toml").path is None


def test_the_daemon_refuses_to_start_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "bexsyncd.toml"
    path.write_text('[pms]\nclient_secret = "s3cr3t"\n\n[daemon]\nsocket_mode = "0777"\n')
    daemon = DaemonProcess(tmp_path, "--config", str(path)).start(wait=False)
    assert daemon.proc is not None
    assert daemon.proc.wait(timeout=60) == 2
    output = daemon.output()
    assert "pms.client_secret is refused: put the client secret in a file" in output
    assert "daemon.socket_mode must be 0600, 0660 or 0666" in output
    assert "s3cr3t" not in output and "Traceback" not in output


def test_the_store_url_selects_the_backend_and_never_holds_a_password(tmp_path: Path) -> None:
    assert parse_config({}).store.backend == "sqlite"
    sqlite = parse_config({"store": {"url": "sqlite:///var/lib/bexsync/x.sqlite3"}}).store
    assert (sqlite.backend, sqlite.sqlite_path) == ("sqlite", Path("/var/lib/bexsync/x.sqlite3"))
    secret = tmp_path / "pgpass"
    secret.write_text("s3cret-pw\n")
    pg = parse_config(
        {"store": {"url": "postgresql://bexsync@db.example/bexsync", "password_file": str(secret)}}
    ).store
    assert (pg.backend, pg.shown) == ("postgresql", "postgresql://bexsync@db.example/bexsync")
    assert pg.password() == "s3cret-pw"
    for url in ("postgresql://u:s3cret-pw@h/db", "postgresql://u@h/db?password=s3cret-pw"):
        message = refusal({"store": {"url": url}})
        assert "store.url" in message and "password_file" in message
        assert "s3cret-pw" not in message
    assert "sqlite:/// or postgresql://" in refusal({"store": {"url": "mysql://h/db"}})
    assert "absolute path" in refusal({"store": {"url": "sqlite:///"}})
    assert "database name" in refusal({"store": {"url": "postgresql://u@h"}})
    assert "password_file goes with" in refusal({"store": {"password_file": "pw"}})
