"""TokenManager and BearerAuth against the real OAuth2 simulator, mounted like a provider's API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from providers.errors import ProviderError
from providers.oauth import (
    BearerAuth,
    OAuthApp,
    OAuthFlowError,
    TokenManager,
    begin_device_flow,
    client_credentials,
    password_grant,
    poll_once,
)
from providers.simulators.base import serve
from providers.simulators.oauth_server import (
    OAuthServerConfig,
    OAuthServerState,
    SimClient,
    create_oauth_app,
    oauth_state,
)
from providers.tokens import MemoryTokenStore, SecretBox, SecretBoxError, Token

TTL = 1800


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Env:
    url: str
    state: OAuthServerState
    clock: Clock  # the daemon's clock
    server_skew: list[float]  # the provider's clock runs this much ahead
    app: OAuthApp
    s2s: OAuthApp
    api_calls: list[str]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = Clock()
    skew = [0.0]
    config = OAuthServerConfig(
        clients=(
            SimClient("xero-app"),
            SimClient(
                "bc-s2s", "s2s-secret-value-123", grant_types=frozenset({"client_credentials"})
            ),
        ),
        access_token_ttl=TTL,
        refresh_grace=1800,  # Xero: a rotated refresh token works 30 more minutes
        clock=lambda: clock() + skew[0],
    )
    oauth = create_oauth_app(config)
    state = oauth_state(oauth)
    calls: list[str] = []

    async def me(request: Request) -> Response:  # a provider API endpoint behind bearer auth
        calls.append(request.headers.get("authorization", ""))
        claims = state.bearer_claims(request)
        if claims is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"user": claims["sub"], "body": (await request.body()).decode()})

    async def always_401(request: Request) -> Response:
        calls.append(request.headers.get("authorization", ""))
        return JSONResponse({"error": "forbidden for this user"}, status_code=401)

    api = Starlette(
        routes=[
            Mount("/identity", app=oauth),
            Route("/api/me", me, methods=["GET", "POST"]),
            Route("/api/always401", always_401),
        ]
    )
    async with serve(api, name="provider") as url:
        app = OAuthApp(
            provider="xero",
            client_id="xero-app",
            authorize_url=f"{url}/identity/authorize",
            token_url=f"{url}/identity/token",
            scopes=("offline_access", "accounting.manualjournals"),
            redirect_uri="http://127.0.0.1:53682/callback",
        )
        s2s = OAuthApp(
            provider="business_central",
            client_id="bc-s2s",
            client_secret="s2s-secret-value-123",
            token_url=f"{url}/identity/token",
            scopes=("https://api.businesscentral.dynamics.com/.default",),
            grant_type="client_credentials",
        )
        yield Env(url, state, clock, skew, app, s2s, calls)


async def logged_in(env: Env) -> Token:
    return await password_grant(env.app, "demo", "demo-password", now=env.clock())


class AuthLostRecorder:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def __call__(self, message: str) -> None:
        self.messages.append(message)


def refreshes(env: Env) -> list[str | None]:
    return [r.error for r in env.state.requests_for("refresh_token")]


# --- refreshing ----------------------------------------------------------------------------


async def test_valid_token_is_used_as_is_and_refreshed_just_before_expiry(env: Env) -> None:
    first = await logged_in(env)
    store = MemoryTokenStore(first)
    manager = TokenManager(env.app, store, clock=env.clock)

    assert await manager.access_token() == first.access_token
    env.clock.advance(TTL - 61)
    assert await manager.access_token() == first.access_token
    assert refreshes(env) == []

    env.clock.advance(2)  # now within the 60 s margin
    fresh = await manager.access_token()

    assert fresh != first.access_token
    assert refreshes(env) == [None]
    assert env.state.check_bearer(fresh) is not None
    assert store.token is not None and store.token.access_token == fresh
    assert store.token.refresh_token != first.refresh_token  # rotated, and saved
    assert store.token.refresh_token in env.state.active_refresh_tokens()


async def test_concurrent_callers_share_one_refresh(env: Env) -> None:
    store = MemoryTokenStore(await logged_in(env))
    manager = TokenManager(env.app, store, clock=env.clock)
    env.clock.advance(TTL)

    tokens = await asyncio.gather(*(manager.access_token() for _ in range(20)))

    assert len(set(tokens)) == 1
    assert refreshes(env) == [None]
    assert len(store.history) == 1


class GatedStore(MemoryTokenStore):
    """A store whose save waits for the test: shows what callers see while the save runs."""

    def __init__(self, token: Token) -> None:
        super().__init__(token)
        self.saving = asyncio.Event()
        self.release = asyncio.Event()

    async def save(self, token: Token) -> None:
        self.saving.set()
        await self.release.wait()
        await super().save(token)


async def test_rotated_refresh_token_is_saved_before_the_access_token_is_handed_out(
    env: Env,
) -> None:
    old = await logged_in(env)
    store = GatedStore(old)
    manager = TokenManager(env.app, store, clock=env.clock)
    env.clock.advance(TTL)

    caller = asyncio.create_task(manager.access_token())
    await asyncio.wait_for(store.saving.wait(), 60)
    await asyncio.sleep(0.05)
    assert not caller.done()  # the new access token is held back until the save completes
    assert store.token is old
    store.release.set()
    access = await caller

    assert store.token is not None and store.token.access_token == access
    assert store.token.refresh_token in env.state.active_refresh_tokens()


class FlakyStore(MemoryTokenStore):
    def __init__(self, token: Token) -> None:
        super().__init__(token)
        self.failures = 1

    async def save(self, token: Token) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database is locked")
        await super().save(token)


async def test_a_failed_save_is_retried_before_the_new_token_is_used(env: Env) -> None:
    store = FlakyStore(await logged_in(env))
    manager = TokenManager(env.app, store, clock=env.clock)
    env.clock.advance(TTL)

    with pytest.raises(OSError):
        await manager.access_token()
    access = await manager.access_token()

    assert refreshes(env) == [None]  # the rotated token was kept, not refreshed twice
    assert store.token is not None and store.token.access_token == access
    assert store.token.refresh_token in env.state.active_refresh_tokens()


class LoseTokenResponses(httpx.AsyncHTTPTransport):
    """The network: the token request reaches the provider, the answer never comes back."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/token") and self.lose:
            self.lose -= 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("timed out", request=request)
        return response


async def test_lost_refresh_answer_is_retried_with_the_same_refresh_token(env: Env) -> None:
    old = await logged_in(env)
    store = MemoryTokenStore(old)
    lost = AuthLostRecorder()
    manager = TokenManager(
        env.app,
        store,
        clock=env.clock,
        transport=LoseTokenResponses(lose=1),
        on_auth_lost=lost,
        sleep=lambda s: asyncio.sleep(0),
    )
    env.clock.advance(TTL)

    access = await manager.access_token()

    assert refreshes(env) == [None, None]  # the provider rotated twice: both used `old`
    assert env.state.check_bearer(access) is not None
    assert lost.messages == []
    assert (
        store.token is not None and store.token.refresh_token in env.state.active_refresh_tokens()
    )


async def test_unanswered_refresh_is_unavailable_then_recovers_within_the_grace(
    env: Env,
) -> None:
    store = MemoryTokenStore(await logged_in(env))
    network = LoseTokenResponses(lose=3)
    lost = AuthLostRecorder()
    manager = TokenManager(
        env.app,
        store,
        clock=env.clock,
        transport=network,
        on_auth_lost=lost,
        sleep=lambda s: asyncio.sleep(0),
    )
    env.clock.advance(TTL)

    with pytest.raises(ProviderError) as caught:
        await manager.access_token()
    assert (caught.value.kind, caught.value.retryable) == ("unavailable", True)
    assert lost.messages == [] and manager.auth_lost is None

    env.clock.advance(20 * 60)  # the next sync, 20 minutes later: still inside Xero's grace
    access = await manager.access_token()
    assert env.state.check_bearer(access) is not None
    assert lost.messages == []


async def test_after_the_grace_window_the_login_is_lost_and_says_why(env: Env) -> None:
    store = MemoryTokenStore(await logged_in(env))
    lost = AuthLostRecorder()
    manager = TokenManager(
        env.app,
        store,
        clock=env.clock,
        transport=LoseTokenResponses(lose=1),
        on_auth_lost=lost,
        refresh_attempts=1,
    )
    env.clock.advance(TTL)
    with pytest.raises(ProviderError):
        await manager.access_token()

    env.clock.advance(31 * 60)
    with pytest.raises(ProviderError) as caught:
        await manager.access_token()

    assert caught.value.kind == "auth_expired"
    assert "log in again" in caught.value.message
    assert "more than 30 minutes" in caught.value.message
    assert len(lost.messages) == 1


async def test_refused_refresh_loses_the_login_once(env: Env) -> None:
    store = MemoryTokenStore(await logged_in(env))
    lost = AuthLostRecorder()
    manager = TokenManager(env.app, store, clock=env.clock, on_auth_lost=lost)
    env.state.revoke_all()
    env.clock.advance(TTL)

    for _ in range(3):
        with pytest.raises(ProviderError) as caught:
            await manager.access_token()
        assert caught.value.kind == "auth_expired"
        assert "log in again" in caught.value.message

    assert refreshes(env) == ["invalid_grant"]  # no hammering once we know
    assert len(lost.messages) == 1 and "log in again" in lost.messages[0]
    assert manager.auth_lost == lost.messages[0]

    await manager.replace(await logged_in(env))  # the user logged in again
    assert manager.auth_lost is None
    assert env.state.check_bearer(await manager.access_token()) is not None


async def test_no_refresh_token_or_no_login_means_log_in_again(env: Env) -> None:
    token = replace(await logged_in(env), refresh_token=None)
    lost = AuthLostRecorder()
    manager = TokenManager(env.app, MemoryTokenStore(token), clock=env.clock, on_auth_lost=lost)
    env.clock.advance(TTL)
    with pytest.raises(ProviderError) as caught:
        await manager.access_token()
    assert caught.value.kind == "auth_expired" and "no refresh token" in caught.value.message
    assert len(lost.messages) == 1

    empty = TokenManager(env.app, MemoryTokenStore(), clock=env.clock, on_auth_lost=lost)
    with pytest.raises(ProviderError) as caught:
        await empty.access_token()
    assert caught.value.kind == "auth_expired" and "log in again" in caught.value.message
    assert len(lost.messages) == 2
    assert refreshes(env) == []


async def test_client_credentials_app_requests_a_new_token_instead_of_refreshing(
    env: Env,
) -> None:
    store = MemoryTokenStore(await client_credentials(env.s2s, now=env.clock()))
    manager = TokenManager(env.s2s, store, clock=env.clock)
    first = await manager.access_token()
    env.clock.advance(TTL)

    second = await manager.access_token()

    assert second != first and env.state.check_bearer(second) is not None
    assert env.state.request_counts()["client_credentials"] == 2
    assert refreshes(env) == []
    # and it needs no stored token at all
    fresh = TokenManager(env.s2s, MemoryTokenStore(), clock=env.clock)
    assert env.state.check_bearer(await fresh.access_token()) is not None


async def test_client_credentials_with_a_revoked_secret_loses_the_authorisation(
    env: Env,
) -> None:
    lost = AuthLostRecorder()
    wrong = replace(env.s2s, client_secret="rotated-away-secret")
    manager = TokenManager(wrong, MemoryTokenStore(), clock=env.clock, on_auth_lost=lost)
    with pytest.raises(ProviderError) as caught:
        await manager.access_token()
    assert caught.value.kind == "auth_expired"
    assert "client_secret_file" in lost.messages[0]


# --- BearerAuth ------------------------------------------------------------------------------


async def test_bearer_auth_refreshes_once_on_401_and_replays(env: Env) -> None:
    manager = TokenManager(env.app, MemoryTokenStore(await logged_in(env)), clock=env.clock)
    async with httpx.AsyncClient(base_url=env.url, auth=BearerAuth(manager)) as client:
        ok = await client.post("/api/me", content=b"payload")
        assert ok.status_code == 200
        # The provider's clock runs ahead: it sees our "valid" token as expired.
        env.server_skew[0] = TTL
        replayed = await client.post("/api/me", content=b"payload")

    assert replayed.status_code == 200
    assert replayed.json() == {"user": "demo", "body": "payload"}  # body replayed intact
    assert refreshes(env) == [None]
    assert len(env.api_calls) == 3
    assert env.api_calls[1] != env.api_calls[2]


async def test_bearer_auth_gives_up_after_one_replay(env: Env) -> None:
    manager = TokenManager(env.app, MemoryTokenStore(await logged_in(env)), clock=env.clock)
    async with httpx.AsyncClient(base_url=env.url, auth=BearerAuth(manager)) as client:
        response = await client.get("/api/always401")
    assert response.status_code == 401
    assert len(env.api_calls) == 2
    assert refreshes(env) == [None]


async def test_bearer_auth_with_revoked_login_raises_auth_expired(env: Env) -> None:
    lost = AuthLostRecorder()
    manager = TokenManager(
        env.app, MemoryTokenStore(await logged_in(env)), clock=env.clock, on_auth_lost=lost
    )
    async with httpx.AsyncClient(base_url=env.url, auth=BearerAuth(manager)) as client:
        assert (await client.get("/api/me")).status_code == 200
        env.state.revoke_all()  # the user disconnected the app at the provider mid-sync
        with pytest.raises(OAuthFlowError) as caught:
            await client.get("/api/me")
    assert caught.value.kind == "auth_expired"
    assert len(lost.messages) == 1


async def test_bearer_auth_is_async_only(env: Env) -> None:
    manager = TokenManager(env.app, MemoryTokenStore(), clock=env.clock)
    with httpx.Client(auth=BearerAuth(manager)) as client, pytest.raises(RuntimeError):
        client.get(f"{env.url}/api/me")


async def test_simulator_mounted_under_a_prefix_serves_device_logins(env: Env) -> None:
    app = replace(env.app, device_authorization_url=f"{env.url}/identity/devicecode")
    flow = await begin_device_flow(app, now=env.clock())
    assert flow.verification_uri == f"{env.url}/identity/device/approve"
    async with httpx.AsyncClient() as browser:
        approved = await browser.get(flow.verification_uri, params={"user_code": flow.user_code})
    assert approved.status_code == 200
    token = await poll_once(app, flow, now=env.clock())
    assert token is not None and env.state.check_bearer(token.access_token) is not None


# --- Token and SecretBox ---------------------------------------------------------------------


def test_token_repr_hides_secrets_and_json_round_trips() -> None:
    token = Token(
        "access-abcdef123", "Bearer", 1000.0, "refresh-abcdef123", "a b", {"tenant": "t1"}
    )
    assert "abcdef123" not in repr(token) and "abcdef123" not in str(token)
    assert Token.from_json(token.to_json()) == token
    assert token.is_expiring(now=941, margin=60) and not token.is_expiring(now=939, margin=60)
    assert not replace(token, expires_at=None).is_expiring(now=10**12)


def test_secret_box_from_credentials_directory_and_wrong_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token-key").write_bytes(SecretBox.generate_key())
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    box = SecretBox.from_file("token-key")
    sealed = box.encrypt(b'{"refresh_token": "r-123456"}')
    assert "r-123456" not in sealed
    assert box.decrypt(sealed) == b'{"refresh_token": "r-123456"}'

    (tmp_path / "random-key").write_bytes(os.urandom(32))  # e.g. systemd-creds output
    other = SecretBox.from_file(tmp_path / "random-key")
    assert other.decrypt(other.encrypt(b"x")) == b"x"
    with pytest.raises(SecretBoxError) as caught:
        other.decrypt(sealed)
    assert "cannot be decrypted with this key" in str(caught.value)

    (tmp_path / "short").write_bytes(b"tiny")
    with pytest.raises(SecretBoxError, match="too short"):
        SecretBox.from_file(tmp_path / "short")
    with pytest.raises(SecretBoxError, match="cannot be read"):
        SecretBox.from_file(tmp_path / "missing")
