"""The daemon's config file (TOML) and the default paths of CONTRACT.md section 1."""

from __future__ import annotations

import grp
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from providers.settings import ProviderSettings, SettingsError

APP = "bexsync"


class ConfigError(Exception):
    """The config file cannot be used; the message says which key and why."""


def default_state_dir() -> Path:
    for var in ("BEXSYNC_STATE_DIR", "STATE_DIRECTORY"):
        if os.environ.get(var):
            return Path(os.environ[var].split(":")[0])
    return Path(platformdirs.user_data_dir(APP))


def default_socket_path() -> Path:
    if os.environ.get("BEXSYNC_SOCKET"):
        return Path(os.environ["BEXSYNC_SOCKET"])
    if os.environ.get("RUNTIME_DIRECTORY"):
        return Path(os.environ["RUNTIME_DIRECTORY"].split(":")[0]) / "bexsyncd.sock"
    return Path(platformdirs.user_runtime_dir(APP)) / "bexsyncd.sock"


def default_config_path() -> Path:
    if os.environ.get("BEXSYNC_CONFIG"):
        return Path(os.environ["BEXSYNC_CONFIG"])
    return Path(platformdirs.user_config_dir(APP)) / "bexsyncd.toml"


@dataclass(frozen=True)
class DaemonConfig:
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    pms: Mapping[str, Any] = field(default_factory=dict)
    socket_mode: int = 0o600
    admin_group: str | None = None
    max_concurrent_syncs: int = 4
    oauth_loopback_port: int | None = None
    oauth_redirect_uri: str | None = None
    metrics_file: Path | None = None
    encryption_key_file: str | None = None
    pms_page_size: int = 100
    # BEX's documented limits (2020 docs); BEX raises them on request, so they are settings.
    pms_calls_per_15min: int = 500
    pms_calls_per_minute: int = 100
    path: Path | None = None

    def provider(self, provider_id: str) -> ProviderSettings:
        return self.providers.get(provider_id) or ProviderSettings(provider_id)

    def admin_gid(self) -> int | None:
        if not self.admin_group:
            return None
        try:
            return grp.getgrnam(self.admin_group).gr_gid
        except KeyError:
            raise ConfigError(f"admin_group {self.admin_group!r} does not exist") from None


def _int(table: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"[daemon] {key} must be a whole number from {lo} to {hi}")
    return value


PMS_KEYS = frozenset(
    {
        "api_url",
        "page_size",
        "calls_per_15min",
        "calls_per_minute",
        # the PMS's OAuth2 app registration (pms.connect with auth "oauth")
        "client_id",
        "client_secret_file",
        "authorize_url",
        "token_url",
    }
)


def _check_pms_keys(pms: Mapping[str, Any]) -> None:
    """[pms]: known keys only, strings where strings belong, and no secret in the file."""
    if "client_secret" in pms:
        raise ConfigError(
            "[pms] put the OAuth client secret in a file and name it with client_secret_file; "
            "secrets do not belong in the config file"
        )
    unknown = set(pms) - PMS_KEYS
    if unknown:
        raise ConfigError(f"[pms] unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("client_id", "client_secret_file"):
        value = pms.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"[pms] {key} must be a non-empty string")
    for key in ("api_url", "authorize_url", "token_url"):
        value = pms.get(key)
        if value is not None and (
            not isinstance(value, str) or not value.startswith(("http://", "https://"))
        ):
            raise ConfigError(f"[pms] {key} must be an http(s) URL")


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> DaemonConfig:
    daemon = data.get("daemon", {})
    if not isinstance(daemon, Mapping):
        raise ConfigError("[daemon] must be a table")
    unknown = set(data) - {"daemon", "providers", "pms"}
    if unknown:
        raise ConfigError(f"unknown top-level table(s): {', '.join(sorted(unknown))}")
    providers: dict[str, ProviderSettings] = {}
    raw_providers = data.get("providers", {})
    if not isinstance(raw_providers, Mapping):
        raise ConfigError("[providers] must contain one table per provider id")
    for provider_id, table in raw_providers.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"[providers.{provider_id}] must be a table")
        try:
            providers[provider_id] = ProviderSettings.from_table(provider_id, table)
        except SettingsError as exc:
            raise ConfigError(str(exc)) from None
    socket_mode = daemon.get("socket_mode", os.environ.get("BEXSYNC_SOCKET_MODE", "0600"))
    try:
        mode = int(str(socket_mode), 8)
    except ValueError:
        raise ConfigError('[daemon] socket_mode must be an octal string like "0660"') from None
    if mode not in (0o600, 0o660, 0o666):
        raise ConfigError("[daemon] socket_mode must be 0600, 0660 or 0666")
    metrics = daemon.get("metrics_file")
    port = daemon.get("oauth_loopback_port")
    if port is not None:
        port = _int(daemon, "oauth_loopback_port", 0, 1, 65535)
    pms = data.get("pms", {})
    if not isinstance(pms, Mapping):
        raise ConfigError("[pms] must be a table")
    _check_pms_keys(pms)
    page_size = pms.get("page_size", 100)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 1000:
        raise ConfigError("[pms] page_size must be a whole number from 1 to 1000")
    limits = {}
    for key, default in (("calls_per_15min", 500), ("calls_per_minute", 100)):
        value = pms.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**7:
            raise ConfigError(f"[pms] {key} must be a whole number from 1 to 10000000")
        limits[key] = value
    return DaemonConfig(
        providers=providers,
        pms_page_size=page_size,
        pms_calls_per_15min=limits["calls_per_15min"],
        pms_calls_per_minute=limits["calls_per_minute"],
        pms=dict(data.get("pms", {})),
        socket_mode=mode,
        admin_group=daemon.get("admin_group", os.environ.get("BEXSYNC_ADMIN_GROUP")) or None,
        max_concurrent_syncs=_int(daemon, "max_concurrent_syncs", 4, 1, 64),
        oauth_loopback_port=port,
        oauth_redirect_uri=daemon.get("oauth_redirect_uri"),
        metrics_file=Path(metrics) if metrics else None,
        encryption_key_file=daemon.get("encryption_key_file"),
        path=path,
    )


def load_config(path: Path | None, *, required: bool = False) -> DaemonConfig:
    """Read the TOML file; a missing optional file means defaults."""
    if path is None or not path.exists():
        if required and path is not None:
            raise ConfigError(f"config file {path} does not exist")
        return parse_config({}, None)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    return parse_config(data, path)
