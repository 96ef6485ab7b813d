"""The daemon's PMS connection over OAuth2 (issue 3): ``pms.connect {auth: "oauth"}`` gives a URL
to open, ``pms.complete`` (or the loopback listener) finishes it; the shared PMS client refreshes
and stores rotated tokens sealed; a refused refresh puts the connection in error with a
notification. Against the BEX simulator and its authlib OAuth server over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from bexsync_tui.client import Client, RpcCallError
from daemon.config import ConfigError, parse_config
from daemon.logsetup import setup_logging
from daemon.store.db import DB_NAME
from providers.simulators.base import serve
from providers.simulators.bex import BexDataset, create_bex_app
from providers.simulators.oauth_server import (
    OAuthServerConfig,
    OAuthServerState,
    SimClient,
    create_oauth_app,
    oauth_state,
)
from providers.tokens import SecretBox, Token
from tests.support.daemon import demo_daemon, open_when_listening, wait_run
from tests.support.waiting import until_async

CLIENT_ID = "bexsync-pms-app"
CLIENT_SECRET = "pms-client-secret-4f9a2c7e1b"  # planted: must never leave the daemon
API_KEY = "pms-api-key-7d3e9a0c55"  # planted too
TOKEN_TTL = 600


class Clock:
    """One clock for the daemon and the OAuth server, so tokens expire when the test says."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def ts(self) -> float:
        return self.now.timestamp()

    def expire_tokens(self) -> None:
        self.now += timedelta(seconds=TOKEN_TTL * 6)


@dataclass
class Pms:
    url: str
    oauth: OAuthServerState

    def secrets(self) -> list[str]:
        out = [CLIENT_SECRET, API_KEY]
        for rec in self.oauth.tokens:
            out += [rec.access_token, rec.refresh_token or ""]
        out += list(self.oauth.codes)
        return [s for s in out if s]


@contextlib.asynccontextmanager
async def pms_with_oauth(clock: Clock) -> AsyncIterator[Pms]:
    """The BEX API and its OAuth server on one host (/oauth/authorize, /oauth/token), as BEX
    documents them, so the daemon's default endpoints derived from base_url are exercised."""
    auth_app = create_oauth_app(
        OAuthServerConfig(
            clients=(SimClient(CLIENT_ID, CLIENT_SECRET),),
            access_token_ttl=TOKEN_TTL,
            clock=clock.ts,
        )
    )
    state = oauth_state(auth_app)

    class IssuedTokens(set):  # the PMS accepts exactly the bearer tokens the server vouches for
        def __contains__(self, token: object) -> bool:
            return state.check_bearer(str(token)) is not None

    bex = create_bex_app(
        BexDataset(7, date(2026, 11, 27)),
        api_key=API_KEY,
        access_tokens=IssuedTokens(),
        rate_limit=None,
    )
    host = Starlette(routes=[Mount("/oauth", auth_app), Mount("", bex)])
    async with serve(host) as url:
        yield Pms(url, state)


@pytest.fixture
def daemon_log() -> Iterator[io.StringIO]:
    """The daemon's own log set-up (with its redaction) at DEBUG, into a string."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = setup_logging("DEBUG", journald=False, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_files(tmp: Path) -> tuple[Path, Path]:
    secret = tmp / "pms-client-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    key = tmp / "bexsync.key"
    if not key.exists():
        key.write_bytes(SecretBox.generate_key())
    return secret, key


def daemon(
    tmp: Path,
    clock: Clock,
    *,
    pms: dict[str, Any] | None = None,
    daemon_table: dict[str, Any] | None = None,
) -> contextlib.AbstractAsyncContextManager[tuple[Any, Client]]:
    secret, key = write_files(tmp)
    pms_table = {"page_size": 1000, "client_id": CLIENT_ID, "client_secret_file": str(secret)}
    config = {
        "daemon": {"encryption_key_file": str(key), **(daemon_table or {})},
        "pms": pms_table if pms is None else {"page_size": 1000, **pms},
    }
    return demo_daemon(tmp, clock=clock, config=config, seed=False)


class Recorder:
    """Every RPC result of a test, to prove that none carries a secret."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: list[Any] = []

    async def __call__(self, method: str, params: Any = None) -> Any:
        try:
            result = await self.client.call(method, params)
        except RpcCallError as exc:
            self.seen.append(exc.to_json())
            raise
        self.seen.append(result)
        return result

    def text(self) -> str:
        return json.dumps(self.seen)


async def consent(url: str) -> str:
    """The user's browser: log in at BEX (the simulator consents at once), land on redirect."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url)
    assert response.status_code in (302, 303), response.text
    return response.headers["location"]


async def connect_oauth(call: Recorder, pms: Pms) -> dict[str, Any]:
    started = await call("pms.connect", {"base_url": pms.url, "auth": "oauth"})
    redirect = await consent(started["next_step"]["url"])
    return await call("pms.complete", {"redirect_url": redirect})


async def sandbox_configuration(call: Recorder) -> int:
    """A manual monthly configuration posting to the local sandbox ledger."""
    admin = (await call("administrations.list"))[0]
    await call("administrations.set_access", {"id": admin["id"], "access": True})
    created = await call("authorisations.create", {"name": "Ledger", "provider": "sandbox"})
    auth_id = created["authorisation"]["id"]
    assert (await call("authorisations.activate", {"id": auth_id}))["status"] == "active"
    cfg = await call(
        "configurations.create",
        {
            "authorisation_id": auth_id,
            "administration_id": admin["id"],
            "frequency": "monthly",
            "ledger_id": "BEX",
            "start_date": "2026-09-01",
            "delay_days": 0,
            "automatic": False,
            "activate": True,
        },
    )
    return int(cfg["id"])


def stored_token(app: Any) -> Token:
    row = sqlite3.connect(app.state_dir / DB_NAME).execute(
        "SELECT auth, token, api_key FROM pms_connection"
    )
    auth, sealed, api_key = row.fetchone()
    assert auth == "oauth" and api_key is None
    assert sealed.startswith("sealed:")  # encrypted with the key file, not just JSON
    return Token.from_json(app.vault.unseal(sealed)["token"])


def refreshes(pms: Pms) -> list[int]:
    return [r.status for r in pms.oauth.requests_for("refresh_token")]


async def test_connect_with_oauth_by_pasting_the_redirect(tmp_path, daemon_log):
    clock = Clock()
    async with pms_with_oauth(clock) as pms, daemon(tmp_path, clock) as (app, client):
        call = Recorder(client)
        started = await call("pms.connect", {"base_url": pms.url, "auth": "oauth"})
        assert started["status"] == "not_connected" and started["login_pending"] is True
        step = started["next_step"]
        assert step["kind"] == "open_url"
        assert step["url"].startswith(f"{pms.url}/oauth/authorize?")  # BEX's path on its host
        assert f"client_id={CLIENT_ID}" in step["url"]
        assert step["redirect_uri"] == app.logins.redirect_uri()
        assert "pms.complete" in step["instructions"]
        redirect = await consent(step["url"])
        assert redirect.startswith(step["redirect_uri"])
        done = await call("pms.complete", {"redirect_url": redirect})
        assert done["status"] == "connected" and done["auth"] == "oauth"
        assert done["login_pending"] is False and "3 administrations" in done["message"]
        admins = await call("administrations.list")
        assert [a["number"] for a in admins] == ["101", "102", "103"]
        token = stored_token(app)
        assert pms.oauth.check_bearer(token.access_token) is not None
        # A replayed redirect finds no login in progress and spends nothing.
        with pytest.raises(RpcCallError) as info:
            await call("pms.complete", {"redirect_url": redirect})
        assert info.value.name == "ValidationFailed" and "pms.connect" in info.value.message
        assert pms.oauth.requests_for("authorization_code") and all(
            r.status == 200 for r in pms.oauth.requests_for("authorization_code")
        )
        status = await call("daemon.status")
        assert status["pms"]["status"] == "connected"
    assert "PMS connected with OAuth" in daemon_log.getvalue()  # the log is really captured
    for secret in pms.secrets():
        assert secret not in call.text()
        assert secret not in daemon_log.getvalue()


async def test_the_loopback_listener_completes_the_pms_login(tmp_path):
    clock = Clock()
    port = free_port()
    table = {"oauth_loopback_port": port}
    async with (
        pms_with_oauth(clock) as pms,
        daemon(tmp_path, clock, daemon_table=table) as (
            _app,
            client,
        ),
    ):
        started = await client.call("pms.connect", {"base_url": pms.url, "auth": "oauth"})
        step = started["next_step"]
        assert step["redirect_uri"] == f"http://127.0.0.1:{port}/callback"
        redirect = await consent(step["url"])
        async with httpx.AsyncClient() as browser:  # the browser's request through `ssh -L`
            page = await open_when_listening(browser, redirect)
        assert page.status_code == 200 and "close this tab" in page.text
        pms_now = await client.call("pms.get")
        assert pms_now["status"] == "connected" and pms_now["auth"] == "oauth"
        assert not pms_now["login_pending"]
        assert len(await client.call("administrations.list")) == 3


async def test_refresh_saves_the_rotated_token_sealed_and_it_survives_a_restart(tmp_path):
    clock = Clock()
    async with pms_with_oauth(clock) as pms:
        async with daemon(tmp_path, clock) as (app, client):
            call = Recorder(client)
            await connect_oauth(call, pms)
            config_id = await sandbox_configuration(call)
            first = stored_token(app)
            draft = await call(
                "syncs.preview", {"configuration_id": config_id, "period": "2026-10"}
            )
            assert draft["balanced"] and draft["lines"]
            assert refreshes(pms) == []
            clock.expire_tokens()
            again = await call(
                "syncs.preview", {"configuration_id": config_id, "period": "2026-10"}
            )
            assert again["totals"] == draft["totals"]
            assert refreshes(pms) == [200]
            rotated = stored_token(app)
            assert rotated.refresh_token != first.refresh_token
            assert rotated.refresh_token in pms.oauth.active_refresh_tokens()
            assert first.refresh_token not in pms.oauth.active_refresh_tokens()
            run = await call("syncs.run", {"configuration_id": config_id, "period": "2026-10"})
            assert (await wait_run(client, run["run_id"]))["state"] == "posted"
        dump = "\n".join(sqlite3.connect(tmp_path / "state" / DB_NAME).iterdump())
        for secret in pms.secrets():
            assert secret not in dump  # the token set is encrypted at rest
        # A new daemon process reads the rotated pair from the database: were it the first,
        # revoked refresh token, this refresh would be refused.
        async with daemon(tmp_path, clock) as (app, client):
            clock.expire_tokens()
            # Two previews at once on a fresh daemon share one client and ONE refresh: two
            # refreshers would spend the same rotating refresh token twice.
            both = await asyncio.gather(
                *(
                    client.call("syncs.preview", {"configuration_id": config_id, "period": p})
                    for p in ("2026-10", "2026-11")
                )
            )
            # 2026-10 is posted: its preview is the correction (empty: the PMS is unchanged).
            assert [d["kind"] for d in both] == ["correction", "entry"] and both[1]["lines"]
            assert refreshes(pms) == [200, 200]
            assert stored_token(app).refresh_token in pms.oauth.active_refresh_tokens()
            assert (await client.call("pms.get"))["status"] == "connected"


async def test_a_refused_refresh_stops_syncs_with_a_pms_error_until_reconnected(
    tmp_path, daemon_log
):
    clock = Clock()
    async with pms_with_oauth(clock) as pms, daemon(tmp_path, clock) as (_app, client):
        call = Recorder(client)
        await connect_oauth(call, pms)
        config_id = await sandbox_configuration(call)
        pms.oauth.revoke_all()  # the app was uninstalled or the grant revoked at BEX
        clock.expire_tokens()
        with pytest.raises(RpcCallError) as info:
            await call("syncs.preview", {"configuration_id": config_id, "period": "2026-10"})
        assert info.value.name == "ProviderError"
        assert info.value.data["provider"] == "bex" and info.value.data["kind"] == "auth_expired"
        state = await call("pms.get")
        assert state["status"] == "error" and "pms.connect" in state["message"]
        notes = await call("notifications.list", {"unread_only": True})
        assert [n["title"] for n in notes] == ["Connect the PMS again"]
        assert "pms.connect" in notes[0]["body"]
        attention = (await call("daemon.status"))["attention"]
        # `bexsync status` exits 1; the manual configuration's overdue months are listed too.
        assert [a["kind"] for a in attention] == ["pms", "configuration"]
        # A sync fails at once with that reason, without asking the PMS or the OAuth server.
        tried = len(pms.oauth.token_requests)
        run = await call("syncs.run", {"configuration_id": config_id, "period": "2026-10"})
        failed = await wait_run(client, run["run_id"])
        assert failed["state"] == "failed" and "PMS login stopped working" in failed["error"]
        assert len(pms.oauth.token_requests) == tried
        # The accounting authorisation did nothing wrong and stays active.
        auths = await call("authorisations.list")
        assert [a["status"] for a in auths] == ["active"]
        # A new login resumes syncs.
        reconnected = await connect_oauth(call, pms)
        assert reconnected["status"] == "connected"
        assert not [a for a in (await call("daemon.status"))["attention"] if a["kind"] == "pms"]
        run = await call("syncs.run", {"configuration_id": config_id, "period": "2026-10"})
        assert (await wait_run(client, run["run_id"]))["state"] == "posted"
    for secret in pms.secrets():
        assert secret not in call.text()
        assert secret not in daemon_log.getvalue()


async def test_scheduled_periods_refused_by_the_pms_login_are_retried_after_reconnecting(
    tmp_path,
):
    clock = Clock()
    async with pms_with_oauth(clock) as pms, daemon(tmp_path, clock) as (_app, client):
        call = Recorder(client)
        await connect_oauth(call, pms)
        config_id = await sandbox_configuration(call)
        pms.oauth.revoke_all()
        clock.expire_tokens()
        await call("configurations.update", {"id": config_id, "automatic": True})

        async def periods(state: str) -> set[str]:
            found = await call("syncs.list", {"configuration_id": config_id})
            return {r["period"] for r in found if r["state"] == state}

        await wait_until(lambda: periods("failed"), {"2026-09"})  # the oldest due period first
        assert await periods("posted") == set()
        clock.now += timedelta(minutes=5)  # the sysadmin logs in again a little later
        await connect_oauth(call, pms)
        await wait_until(lambda: periods("posted"), {"2026-09", "2026-10"})


async def wait_until(observe: Any, want: set[str], timeout: float = 60) -> None:
    """Poll ``observe()`` until it returns ``want``."""
    seen: set[str] = set()

    async def arrived() -> bool:
        nonlocal seen
        seen = await observe()
        return seen == want

    await until_async(arrived, lambda: f"{sorted(want)}, not {sorted(seen)}", timeout)


async def test_bad_requests_are_refused_and_change_nothing(tmp_path):
    clock = Clock()
    async with pms_with_oauth(clock) as pms, daemon(tmp_path, clock) as (app, client):
        call = Recorder(client)
        connected = await call("pms.connect", {"base_url": pms.url, "api_key": API_KEY})
        assert connected["status"] == "connected" and connected["auth"] == "api_key"

        async def refused(method: str, params: dict[str, Any]) -> RpcCallError:
            before = await call("pms.get")
            with pytest.raises(RpcCallError) as info:
                await call(method, params)
            assert await call("pms.get") == before
            return info.value

        err = await refused("pms.connect", {"base_url": pms.url, "auth": "password"})
        assert err.code == -32602 and [e["field"] for e in err.data["errors"]] == ["auth"]
        err = await refused("pms.connect", {"auth": "oauth", "api_key": "pms-key-in-oauth-9"})
        assert err.code == -32602 and err.data["errors"][0]["field"] == "api_key"
        for bad_key in ("clé-du-pms", "key\x00", "two words"):  # would not fit in a header
            err = await refused("pms.connect", {"base_url": pms.url, "api_key": bad_key})
            assert err.code == -32602 and err.data["errors"][0]["field"] == "api_key"
            assert bad_key not in err.message
        for bad_url in ("http://\x00", "http://[::1", "https://", "ftp://bex"):
            err = await refused("pms.connect", {"base_url": bad_url, "auth": "oauth"})
            assert err.name == "ValidationFailed" and err.data["errors"][0]["field"] == "base_url"
        err = await refused("pms.complete", {})
        assert err.code == -32602 and err.data["errors"][0]["field"] == "redirect_url"
        err = await refused("pms.complete", {"redirect_url": "http://127.0.0.1/cb?code=x&state=y"})
        assert err.name == "ValidationFailed"

        # An OAuth login in progress leaves the working API-key connection alone ...
        started = await call("pms.connect", {"auth": "oauth"})
        assert started["status"] == "connected" and started["auth"] == "api_key"
        assert started["login_pending"] is True
        # ... a redirect of another login attempt is refused and spends no code ...
        stray = "http://127.0.0.1:8765/callback?code=stolen-code-123&state=another-attempt"
        err = await refused("pms.complete", {"redirect_url": stray})
        assert err.name == "ProviderError" and "another login attempt" in err.message
        assert pms.oauth.requests_for("authorization_code") == []
        # ... and the right one switches the connection to OAuth.
        redirect = await consent(started["next_step"]["url"])
        done = await call("pms.complete", {"redirect_url": redirect})
        assert done["auth"] == "oauth" and done["status"] == "connected"
        assert stored_token(app).access_token
        # Back to an API key needs the key: none is stored with OAuth.
        err = await refused("pms.connect", {"auth": "api_key"})
        assert err.code == -32602 and err.data["errors"][0]["field"] == "api_key"
        # An OAuth login left unfinished stops counting as pending once it expires.
        await call("pms.connect", {"auth": "oauth"})
        assert (await call("pms.get"))["login_pending"] is True
        clock.now += timedelta(hours=1)
        assert (await call("pms.get"))["login_pending"] is False
    assert CLIENT_SECRET not in call.text() and API_KEY not in call.text()


@pytest.mark.parametrize(
    ("pms_table", "missing"),
    [
        ({}, "client_id"),
        ({"client_id": CLIENT_ID}, "client_secret_file"),
        ({"client_id": CLIENT_ID, "client_secret_file": "/nonexistent/pms"}, "client_secret_file"),
    ],
)
async def test_oauth_without_the_app_registration_is_invalid_params(tmp_path, pms_table, missing):
    clock = Clock()
    async with (
        pms_with_oauth(clock) as pms,
        daemon(tmp_path, clock, pms=pms_table) as (
            app,
            client,
        ),
    ):
        before = await client.call("pms.get")
        with pytest.raises(RpcCallError) as info:
            await client.call("pms.connect", {"base_url": pms.url, "auth": "oauth"})
        assert info.value.code == -32602
        assert missing in info.value.message and "[pms]" in info.value.message
        assert info.value.data["errors"][0]["field"] == "auth"
        assert await client.call("pms.get") == before
        assert await app.store.db.fetchval("SELECT count(*) FROM pms_pending_login") == 0


async def test_endpoint_overrides_and_discovery(tmp_path):
    clock = Clock()
    async with pms_with_oauth(clock) as pms:
        overrides = {
            "client_id": CLIENT_ID,
            "client_secret_file": str(write_files(tmp_path)[0]),
            "authorize_url": f"{pms.url}/oauth/authorize?tenant=park",
            "token_url": f"{pms.url}/oauth/token",
        }
        async with daemon(tmp_path, clock, pms=overrides) as (_app, client):
            started = await client.call("pms.connect", {"base_url": pms.url, "auth": "oauth"})
            assert started["next_step"]["url"].startswith(f"{pms.url}/oauth/authorize?tenant=park")
            doc = await client.call("rpc.discover")
    methods = {m["name"]: m for m in doc["methods"]}
    connect_params = {p["name"]: p for p in methods["pms.connect"]["params"]}
    assert set(connect_params) >= {"kind", "base_url", "auth", "api_key"}
    assert "oauth" in json.dumps(connect_params["auth"])
    assert {p["name"] for p in methods["pms.complete"]["params"]} == {"redirect_url", "code"}
    assert "next_step" in json.dumps(methods["pms.connect"]["result"])


def test_the_pms_table_refuses_an_inline_secret_and_bad_urls():
    with pytest.raises(ConfigError, match="client_secret_file"):
        parse_config({"pms": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}})
    with pytest.raises(ConfigError, match="token_url"):
        parse_config({"pms": {"token_url": "ftp://bex/token"}})
    config = parse_config({"pms": {"client_id": CLIENT_ID, "client_secret_file": "pms-secret"}})
    assert config.pms["client_id"] == CLIENT_ID
