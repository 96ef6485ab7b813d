"""OAuth client flows against the real authlib-based OAuth2 server on 127.0.0.1.

The PKCE verifier and state-before-token checks live in tests/test_security.py (section 4).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import httpx
import pytest

from providers.errors import ProviderError
from providers.oauth import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceFlow,
    OAuthApp,
    OAuthFlowError,
    PendingCodeFlow,
    begin_code_flow,
    begin_device_flow,
    client_credentials,
    complete_code_flow,
    json_token_request,
    parse_redirect_url,
    password_grant,
    poll_device_flow,
    poll_once,
)
from providers.simulators.base import serve
from providers.simulators.faults import Fault, FaultPlan
from providers.simulators.oauth_server import (
    OAuthServerConfig,
    OAuthServerState,
    SimClient,
    create_oauth_app,
    oauth_state,
)
from providers.tokens import MemoryTokenStore, Token

REDIRECT = "http://127.0.0.1:53682/callback"
CLIENT_SECRET = "bc-client-secret-0123456789"
PASSWORD = "inqom-user-password-42"


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
    clock: Clock
    public: OAuthApp  # Xero-like desktop app: PKCE, no secret
    confidential: OAuthApp  # Entra-like app with a secret
    secrets: set[str] = field(default_factory=set)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = Clock()
    config = OAuthServerConfig(
        clients=(
            SimClient("xero-app", redirect_uris=("http://127.0.0.1:1/callback",)),
            SimClient("bc-app", CLIENT_SECRET),
        ),
        users={"demo": "demo-password", "ana": PASSWORD},
        access_token_ttl=1800,
        device_interval=5,
        device_code_ttl=900,
        clock=clock,
    )
    app = create_oauth_app(config)
    async with serve(app, name="oauth") as url:
        public = OAuthApp(
            provider="xero",
            client_id="xero-app",
            authorize_url=f"{url}/authorize",
            token_url=f"{url}/token",
            device_authorization_url=f"{url}/devicecode",
            scopes=("openid", "offline_access", "accounting.manualjournals"),
            redirect_uri=REDIRECT,
        )
        confidential = OAuthApp(
            provider="business_central",
            client_id="bc-app",
            client_secret=CLIENT_SECRET,
            authorize_url=f"{url}/authorize",
            token_url=f"{url}/token",
            device_authorization_url=f"{url}/devicecode",
            scopes=("https://api.businesscentral.dynamics.com/.default",),
            redirect_uri=REDIRECT,
            extra_authorize_params={"prompt": "select_account"},
        )
        yield Env(url, oauth_state(app), clock, public, confidential, {CLIENT_SECRET, PASSWORD})


async def consent(pending: PendingCodeFlow, extra: str = "") -> str:
    """What the browser does: open the URL; the provider redirects to redirect_uri."""
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        response = await browser.get(pending.url + extra)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def code_of(redirect_url: str) -> str:
    return parse_redirect_url(redirect_url)["code"]


# --- authorization code + PKCE ----------------------------------------------------------------


async def test_code_flow_pasted_redirect_url_gives_a_working_token(env: Env) -> None:
    pending = begin_code_flow(env.public, now=env.clock())
    assert "code_challenge_method=S256" in pending.url and "state=" in pending.url
    # the daemon persists the pending flow and may restart before the user pastes
    restored = PendingCodeFlow.from_json(pending.to_json())
    redirect_url = await consent(pending)

    token = await complete_code_flow(
        env.public, restored, redirect_url=redirect_url, now=env.clock()
    )

    claims = env.state.check_bearer(token.access_token)
    assert claims is not None and claims["sub"] == "demo"
    assert token.refresh_token in env.state.active_refresh_tokens()
    assert token.expires_at == env.clock() + 1800
    assert token.scope == "openid offline_access accounting.manualjournals"
    assert Token.from_json(token.to_json()) == token
    async with httpx.AsyncClient() as client:
        introspected = await client.post(
            f"{env.url}/introspect", data={"token": token.access_token}
        )
    assert introspected.json()["active"] is True and introspected.json()["sub"] == "demo"


async def test_code_flow_with_just_the_code_and_extra_authorize_params(env: Env) -> None:
    pending = begin_code_flow(env.confidential, now=env.clock())
    assert "prompt=select_account" in pending.url
    code = code_of(await consent(pending))
    token = await complete_code_flow(env.confidential, pending, code=code, now=env.clock())
    assert env.state.check_bearer(token.access_token) is not None


async def test_public_client_without_pkce_is_refused_by_the_server(env: Env) -> None:
    app = replace(env.public, use_pkce=False)
    pending = begin_code_flow(app, now=env.clock())
    assert "code_challenge" not in pending.url
    with pytest.raises(OAuthFlowError) as caught:
        await complete_code_flow(app, pending, redirect_url=await consent(pending), now=env.clock())
    assert caught.value.reason == "invalid_request"


@pytest.mark.parametrize(
    ("case", "reason", "kind", "words"),
    [
        ("wrong_state", "state_mismatch", "rejected", "belongs to another login attempt"),
        ("expired", "flow_expired", "auth_expired", "expired"),
        ("denied", "access_denied", "rejected", "declined"),
        ("bad_code", "invalid_grant", "rejected", "already used"),
        ("reused_code", "invalid_grant", "rejected", "already used"),
        ("no_code", "missing_code", "rejected", "no authorization code"),
        ("nothing", "missing_code", "rejected", "paste the address"),
    ],
)
async def test_code_flow_failures_are_clear_and_save_nothing(
    env: Env, case: str, reason: str, kind: str, words: str
) -> None:
    pending = begin_code_flow(env.public, now=env.clock())
    kwargs: dict[str, str] = {}
    if case == "wrong_state":
        other = begin_code_flow(env.public, now=env.clock())
        kwargs["redirect_url"] = await consent(other)
    elif case == "expired":
        kwargs["redirect_url"] = await consent(pending)
        env.clock.advance(901)
    elif case == "denied":
        kwargs["redirect_url"] = await consent(pending, "&consent=deny")
        assert "error=access_denied" in kwargs["redirect_url"]
    elif case == "bad_code":
        kwargs["code"] = "not-a-code-the-server-issued"
    elif case == "reused_code":
        kwargs["redirect_url"] = await consent(pending)
        first = await complete_code_flow(env.public, pending, **kwargs, now=env.clock())
        env.secrets.update({first.access_token, first.refresh_token or ""})
    elif case == "no_code":
        kwargs["redirect_url"] = f"{REDIRECT}?state={pending.state}"
    store = MemoryTokenStore()

    with pytest.raises(OAuthFlowError) as caught:
        token = await complete_code_flow(env.public, pending, **kwargs, now=env.clock())
        await store.save(token)

    error = caught.value
    assert isinstance(error, ProviderError)
    assert (error.reason, error.kind) == (reason, kind)
    assert words in error.message
    assert store.history == []
    if "redirect_url" in kwargs and "code=" in kwargs["redirect_url"]:
        assert code_of(kwargs["redirect_url"]) not in str(error)
    if case == "reused_code":  # RFC 6749 §4.1.2: the replay also revokes the first grant
        assert env.state.check_bearer(first.access_token) is None


# --- device code -------------------------------------------------------------------------------


async def test_device_flow_pending_then_approved(env: Env) -> None:
    flow = await begin_device_flow(env.confidential, now=env.clock())
    assert flow.verification_uri.endswith("/device/approve") and flow.user_code
    flow = DeviceFlow.from_json(flow.to_json())  # survives a daemon restart
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        env.clock.advance(seconds)
        if len(sleeps) == 3:  # the user approves in a browser meanwhile
            async with httpx.AsyncClient() as browser:
                response = await browser.get(flow.verification_uri_complete or "")
            assert response.json()["approved"] is True

    token = await poll_device_flow(env.confidential, flow, sleep=sleep, clock=env.clock)

    assert sleeps == [5, 5, 5]
    assert env.state.check_bearer(token.access_token) is not None
    outcomes = [r.error for r in env.state.requests_for(DEVICE_CODE_GRANT_TYPE)]
    assert outcomes == ["authorization_pending", "authorization_pending", None]


async def test_device_flow_slow_down_grows_the_interval(env: Env) -> None:
    flow = await begin_device_flow(env.confidential, now=env.clock())
    assert await poll_once(env.confidential, flow, now=env.clock()) is None
    assert await poll_once(env.confidential, flow, now=env.clock()) is None  # too fast
    assert flow.interval == 10
    assert env.state.requests_for(DEVICE_CODE_GRANT_TYPE)[-1].error == "slow_down"


async def test_device_flow_denied(env: Env) -> None:
    flow = await begin_device_flow(env.confidential, now=env.clock())
    async with httpx.AsyncClient() as browser:
        await browser.post(flow.verification_uri, data={"user_code": flow.user_code, "deny": "1"})
    with pytest.raises(OAuthFlowError) as caught:
        await poll_once(env.confidential, flow, now=env.clock())
    assert (caught.value.kind, caught.value.reason) == ("rejected", "access_denied")
    assert "declined" in caught.value.message


async def test_device_flow_expired_at_the_server_and_locally(env: Env) -> None:
    flow = await begin_device_flow(env.confidential, now=env.clock())
    env.clock.advance(901)
    with pytest.raises(OAuthFlowError) as local:
        await poll_once(env.confidential, flow, now=env.clock())
    assert local.value.kind == "auth_expired"
    assert env.state.requests_for(DEVICE_CODE_GRANT_TYPE) == []
    # a daemon whose clock lags still learns it from the server
    with pytest.raises(OAuthFlowError) as remote:
        await poll_once(env.confidential, flow, now=flow.expires_at - 100)
    assert (remote.value.kind, remote.value.reason) == ("auth_expired", "expired_token")
    assert "start the login again" in remote.value.message


# --- password and client credentials ------------------------------------------------------------


async def test_password_grant(env: Env) -> None:
    app = replace(env.confidential, provider="inqom", scopes=("openid", "apidata"))
    token = await password_grant(app, "ana", PASSWORD, now=env.clock())
    assert env.state.check_bearer(token.access_token)["sub"] == "ana"  # type: ignore[index]
    assert token.scope == "openid apidata"

    with pytest.raises(OAuthFlowError) as caught:
        await password_grant(app, "ana", "wrong-password-123", now=env.clock())
    assert (caught.value.kind, caught.value.reason) == ("rejected", "invalid_grant")
    assert "username or password" in caught.value.message


async def test_client_credentials(env: Env) -> None:
    token = await client_credentials(env.confidential, now=env.clock())
    assert token.refresh_token is None
    assert env.state.check_bearer(token.access_token)["sub"] is None  # type: ignore[index]

    wrong = replace(env.confidential, client_secret="not-the-secret-000")
    with pytest.raises(OAuthFlowError) as caught:
        await client_credentials(wrong, now=env.clock())
    assert caught.value.reason == "invalid_client"
    assert "client_secret_file" in caught.value.message


async def test_unreachable_token_endpoint_is_unavailable(env: Env) -> None:
    app = replace(env.confidential, token_url="http://127.0.0.1:9/token")
    with pytest.raises(OAuthFlowError) as caught:
        await client_credentials(app)
    assert (caught.value.kind, caught.value.reason) == ("unavailable", "unreachable")
    assert caught.value.retryable


async def test_a_throttled_token_endpoint_keeps_its_retry_after_even_as_a_date() -> None:
    config = OAuthServerConfig(clients=(SimClient("bc-app", CLIENT_SECRET),))
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    plan = FaultPlan([Fault.rate_limit(retry_after=when, path="/token", nth={1})])
    async with serve(plan.wrap(create_oauth_app(config)), name="oauth") as url:
        app = OAuthApp("chift", "bc-app", CLIENT_SECRET, token_url=f"{url}/token")
        with pytest.raises(OAuthFlowError) as caught:
            await client_credentials(app)
        assert caught.value.kind == "rate_limited"
        assert caught.value.retry_after is not None and 25 <= caught.value.retry_after <= 30
        with pytest.raises(OAuthFlowError) as caught:
            await json_token_request(app, {"clientId": "x"}, now=time.time())
        assert caught.value.kind == "rejected"  # the next answer: no token for that body
        plan.add(Fault.rate_limit(retry_after=7, path="/token", nth={1}))
        with pytest.raises(OAuthFlowError) as caught:
            await json_token_request(app, {"clientId": "x"}, now=time.time())
        assert (caught.value.kind, caught.value.retry_after) == ("rate_limited", 7.0)


# --- secrets stay secret ----------------------------------------------------------------------


async def test_no_secret_in_logs_messages_or_reprs(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[BaseException] = []
    shown: list[str] = []
    pending = begin_code_flow(env.confidential, now=env.clock())
    redirect_url = await consent(pending)  # the browser's part; from here on it is bexsync's
    caplog.set_level(logging.DEBUG)
    env.secrets.update({code_of(redirect_url), pending.code_verifier or ""})
    token = await complete_code_flow(
        env.confidential, pending, redirect_url=redirect_url, now=env.clock()
    )
    env.secrets.update({token.access_token, token.refresh_token or ""})
    shown += [repr(token), str(token), repr(pending), repr(env.confidential)]
    for attempt in (
        complete_code_flow(env.confidential, pending, redirect_url=redirect_url),  # reused
        complete_code_flow(
            env.confidential, replace(pending, state="x"), redirect_url=redirect_url
        ),
        password_grant(env.confidential, "ana", "wrong-" + PASSWORD),
        client_credentials(replace(env.confidential, client_secret=CLIENT_SECRET + "-old")),
    ):
        try:
            await attempt
        except ProviderError as exc:
            errors.append(exc)
    env.secrets.add("wrong-" + PASSWORD)
    flow = await begin_device_flow(env.confidential, now=env.clock())
    env.secrets.add(flow.device_code)
    shown.append(repr(flow))
    try:
        await poll_once(env.confidential, replace(flow, expires_at=env.clock() + 5000))
        await poll_once(env.confidential, flow, now=env.clock() + 10_000)
    except ProviderError as exc:
        errors.append(exc)

    assert len(errors) == 5
    shown += [str(e) for e in errors] + [repr(e) for e in errors]
    # The simulator's own authlib grants log issued tokens at DEBUG; that is the fake
    # provider's log, not ours.
    ours = [r for r in caplog.records if not r.name.startswith("authlib.oauth2.rfc")]
    shown += [r.getMessage() for r in ours]
    assert ours, "expected some log records from the OAuth layer"
    for secret in filter(None, env.secrets):
        leaks = [text for text in shown if secret in text]
        assert not leaks, f"a secret leaked into: {leaks[0][:200]}"
