"""The daemon's config file (TOML) and the default paths of CONTRACT.md section 1.

The file's tables are msgspec Structs that refuse unknown keys, read with the same machinery
as the RPC params (``daemon.rpc.explain``), so a broken file gets every problem at once, each
named by its key path: ``daemon.max_concurrent_syncs must be between 1 and 64``.
"""

from __future__ import annotations

import grp
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec
import platformdirs

from daemon.rpc.explain import Errors, Invalid, convert, join_path, struct_spec
from daemon.rpc.wire import JSONValue, Meta, pattern
from providers.settings import ProviderSettings, SettingsError

APP = "bexsync"
SOCKET_MODES = {"0600": 0o600, "0660": 0o660, "0666": 0o666}
SECRET_IN_FILE = (
    "is refused: put the client secret in a file and name it with client_secret_file "
    "(secrets do not belong in the config file)"
)


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
    max_connections: int = 512
    max_connections_per_client: int = 64
    idle_timeout_s: float = 900.0
    oauth_loopback_port: int | None = None
    oauth_redirect_uri: str | None = None
    metrics_file: Path | None = None
    encryption_key_file: str | None = None
    plain_secrets: bool = False
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


# --- the file's tables --------------------------------------------------------------------------

Name = Annotated[str, pattern(r"[\s\S]*\S[\s\S]*", "must not be empty")]
HTTP_URL = "must be an http(s) URL"
HttpUrl = Annotated[str, pattern("https?://.+", HTTP_URL)]


class DaemonTable(msgspec.Struct, forbid_unknown_fields=True):
    socket_mode: str | int | None = None
    """Octal digits, quoted or not: "0660", 660 and "0o660" are the same mode."""
    admin_group: str | None = None
    max_concurrent_syncs: Annotated[int, Meta(ge=1, le=64)] = 4
    max_connections: Annotated[int, Meta(ge=2, le=10_000)] = 512
    max_connections_per_client: Annotated[int, Meta(ge=1, le=10_000)] = 64
    idle_timeout_s: Annotated[float, Meta(ge=0, le=86_400)] = 900.0
    """0: idle connections stay open."""
    oauth_loopback_port: Annotated[int, Meta(ge=1, le=65535)] | None = None
    oauth_redirect_uri: str | None = None
    metrics_file: str | None = None
    encryption_key_file: str | None = None
    plain_secrets: bool = False
    """Opt-in: store secrets unsealed (the daemon warns at every start)."""


class PmsTable(msgspec.Struct, forbid_unknown_fields=True):
    api_url: HttpUrl | None = None
    page_size: Annotated[int, Meta(ge=1, le=1000)] = 100
    calls_per_15min: Annotated[int, Meta(ge=1, le=10**7)] = 500
    calls_per_minute: Annotated[int, Meta(ge=1, le=10**7)] = 100
    # the PMS's OAuth2 app registration (pms.connect with auth "oauth")
    client_id: Name | None = None
    client_secret_file: Name | None = None
    authorize_url: HttpUrl | None = None
    token_url: HttpUrl | None = None


class ProviderTable(msgspec.Struct):
    """A provider's app registration; its other keys are ``*_url`` overrides and options."""

    client_id: str | None = None
    client_secret_file: str | None = None


class ConfigFile(msgspec.Struct, forbid_unknown_fields=True):
    daemon: DaemonTable = msgspec.field(default_factory=DaemonTable)
    pms: PmsTable = msgspec.field(default_factory=PmsTable)
    providers: dict[str, ProviderTable] = {}


_SPEC = struct_spec(ConfigFile, unknown="is not a known key", root="the file")


def _table(data: Mapping[str, JSONValue], name: str) -> Mapping[str, JSONValue]:
    value = data.get(name)
    return value if isinstance(value, Mapping) else {}


def _file_problems(data: Mapping[str, JSONValue]) -> Errors:
    """What the Structs cannot say: a secret in the file, a provider's ``*_url`` keys."""
    problems: Errors = []
    if "client_secret" in _table(data, "pms"):
        problems.append({"field": "pms.client_secret", "message": SECRET_IN_FILE})
    for provider_id, table in _table(data, "providers").items():
        if not isinstance(table, Mapping):
            continue
        where = join_path("providers", provider_id)
        if "client_secret" in table:
            problems.append({"field": f"{where}.client_secret", "message": SECRET_IN_FILE})
        for key, value in table.items():
            if key.endswith("_url") and not (
                isinstance(value, str) and value.startswith(("http://", "https://"))
            ):
                problems.append({"field": join_path(where, key), "message": HTTP_URL})
    return problems


def _without_secrets(data: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """``data`` minus the refused ``client_secret`` keys (already reported as such)."""
    clean = dict(data)
    pms = _table(data, "pms")
    if "client_secret" in pms:
        clean["pms"] = {k: v for k, v in pms.items() if k != "client_secret"}
    return clean


def _socket_mode(value: JSONValue, problems: Errors) -> int:
    """The socket's file mode: the file's, else ``$BEXSYNC_SOCKET_MODE``, else 0600."""
    where = "daemon.socket_mode"
    if value is None:
        where, value = "BEXSYNC_SOCKET_MODE", os.environ.get("BEXSYNC_SOCKET_MODE", "0600")
    if not isinstance(value, str | int) or isinstance(value, bool):
        return 0o600  # the wrong type is reported by the Struct
    digits = str(value).removeprefix("0o").zfill(4)
    if not (len(digits) == 4 and set(digits) <= set("01234567")):
        problems.append({"field": where, "message": 'must be an octal string like "0660"'})
    elif digits not in SOCKET_MODES:
        problems.append({"field": where, "message": "must be 0600, 0660 or 0666"})
    return SOCKET_MODES.get(digits, 0o600)


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> DaemonConfig:
    """The config of a parsed TOML document; ConfigError naming every problem at once."""
    problems = _file_problems(data)
    try:
        file = convert(_SPEC, _without_secrets(data))
    except Invalid as exc:
        problems += exc.errors
        file = ConfigFile()
    mode = _socket_mode(_table(data, "daemon").get("socket_mode"), problems)
    if file.daemon.plain_secrets and file.daemon.encryption_key_file:
        problems.append(
            {"field": "daemon.plain_secrets", "message": "contradicts encryption_key_file"}
        )
    providers: dict[str, ProviderSettings] = {}
    if not problems:
        for provider_id, table in _table(data, "providers").items():
            assert isinstance(table, Mapping)
            try:
                providers[provider_id] = ProviderSettings.from_table(provider_id, table)
            except SettingsError as exc:  # pragma: no cover - _file_problems checks the same
                problems.append({"field": join_path("providers", provider_id), "message": str(exc)})
    if problems:
        # "key message", as the RPC API says it; "key: value" would look like a secret to the
        # log's redaction for keys such as client_secret
        listed = "; ".join(f"{p['field']} {p['message']}" for p in problems)
        raise ConfigError(f"{path}: {listed}" if path is not None else listed)
    daemon, pms = file.daemon, file.pms
    return DaemonConfig(
        providers=providers,
        pms=dict(_table(data, "pms")),
        socket_mode=mode,
        admin_group=daemon.admin_group or os.environ.get("BEXSYNC_ADMIN_GROUP") or None,
        max_concurrent_syncs=daemon.max_concurrent_syncs,
        max_connections=daemon.max_connections,
        max_connections_per_client=daemon.max_connections_per_client,
        idle_timeout_s=daemon.idle_timeout_s,
        oauth_loopback_port=daemon.oauth_loopback_port,
        oauth_redirect_uri=daemon.oauth_redirect_uri,
        metrics_file=Path(daemon.metrics_file) if daemon.metrics_file else None,
        encryption_key_file=daemon.encryption_key_file,
        plain_secrets=daemon.plain_secrets,
        pms_page_size=pms.page_size,
        pms_calls_per_15min=pms.calls_per_15min,
        pms_calls_per_minute=pms.calls_per_minute,
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
