"""The OAuth2 client flows every provider shares, and the token manager that keeps a login alive.

Built on authlib's httpx client (``AsyncOAuth2Client``) for the token endpoint; the parts authlib
has no client for (the device grant's polling, a pasted redirect URL) are small and live here.

Flows are headless-friendly: the daemon builds the authorisation URL, the user consents in any
browser and pastes the final redirect URL (or the loopback catcher receives it). ``PendingCodeFlow``
and ``DeviceFlow`` serialise to JSON so that a daemon restart does not lose a login in progress.

Every failure is an ``OAuthFlowError`` (a ``ProviderError``) whose message a sysadmin can act on
and which never contains a code, verifier, token or client secret.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import authlib.deprecate  # noqa: F401  (imported first: see the warning filter below)
import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from providers.errors import ErrorKind, ProviderError
from providers.http import parse_retry_after
from providers.tokens import Token, TokenStore, _register_secret

with warnings.catch_warnings():
    # authlib prefers the "httpx2" fork and warns when it falls back to httpx, which we pin.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

__all__ = [
    "DEVICE_CODE_GRANT_TYPE",
    "BearerAuth",
    "DeviceFlow",
    "OAuthApp",
    "OAuthFlowError",
    "PendingCodeFlow",
    "TokenManager",
    "begin_code_flow",
    "begin_device_flow",
    "client_credentials",
    "complete_code_flow",
    "json_token_request",
    "parse_redirect_url",
    "password_grant",
    "poll_device_flow",
    "poll_once",
    "refresh_grant",
    "token_from_response",
]

log = logging.getLogger(__name__)

DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
# Reasons (OAuth error codes) after which only a new login helps.
LOGIN_LOST_REASONS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
# Reasons that mean "no answer": the request may or may not have reached the provider.
NO_ANSWER_REASONS = frozenset({"no_response", "unreachable"})


@dataclass
class OAuthFlowError(ProviderError):
    """An OAuth step failed. ``reason`` is the OAuth error code (``invalid_grant``,
    ``access_denied``...) or one of ours (``state_mismatch``, ``flow_expired``, ``missing_code``,
    ``no_response``, ``unreachable``, ``auth_lost``), so callers branch without parsing text."""

    reason: str | None = None


def _fail(
    app: OAuthApp, kind: ErrorKind, message: str, reason: str | None, **kw: Any
) -> OAuthFlowError:
    return OAuthFlowError(app.provider, kind, message, reason=reason, **kw)


# --- the app registration ------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthApp:
    """One provider app registration plus the endpoints to use (overridable for simulators)."""

    provider: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    authorize_url: str | None = None
    token_url: str = ""
    device_authorization_url: str | None = None
    scopes: tuple[str, ...] = ()
    redirect_uri: str | None = None
    use_pkce: bool = True
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict, hash=False)
    # "client_secret_post", "client_secret_basic" or "none"; default: post with a secret.
    token_endpoint_auth_method: str | None = None
    # The grant this app logs in with; "client_credentials" apps re-request instead of refreshing.
    grant_type: str = "authorization_code"
    timeout: float = 30.0
    # What to change when the provider refuses a scope (the config key, the choices).
    scope_advice: str = ""

    def __post_init__(self) -> None:
        if not self.token_url:
            raise ValueError(f"{self.provider}: an OAuth app needs a token_url")
        object.__setattr__(self, "scopes", tuple(self.scopes))
        _register_secret(self.client_secret)

    @property
    def auth_method(self) -> str:
        if self.token_endpoint_auth_method:
            return self.token_endpoint_auth_method
        return "client_secret_post" if self.client_secret else "none"

    @property
    def scope(self) -> str | None:
        return " ".join(self.scopes) or None


async def _raise_throttled(response: httpx.Response) -> None:
    """authlib reads a 429's body as a token answer; raise it as the HTTP error it is."""
    if response.status_code == 429:
        response.raise_for_status()


def _client(app: OAuthApp, transport: httpx.AsyncBaseTransport | None) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=app.client_id,
        client_secret=app.client_secret,
        token_endpoint_auth_method=app.auth_method,
        scope=app.scope,
        code_challenge_method="S256",
        transport=transport,
        timeout=app.timeout,
        event_hooks={"response": [_raise_throttled]},
    )


# --- token endpoint calls and their error mapping ------------------------------------------


def _clean(text: str | None, secrets: tuple[str | None, ...] = ()) -> str:
    """Provider text is quoted in messages; strip anything secret it might echo back."""
    if not text:
        return ""
    out = str(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    try:
        from providers.redact import redact
    except ImportError:  # pragma: no cover - redact ships with the package
        pass
    else:
        out = redact(out)
    return out[:300]


def _oauth_error(
    app: OAuthApp,
    error: str,
    description: str | None,
    messages: Mapping[str, tuple[ErrorKind, str]],
    secrets: tuple[str | None, ...],
    status: int | None = None,
) -> OAuthFlowError:
    detail = _clean(description, secrets)
    if error in messages:
        kind, message = messages[error]
    elif error == "invalid_client":
        kind, message = (
            "rejected",
            f"{app.provider} refused this app's client id or secret; check client_id and "
            f"client_secret_file in [providers.{app.provider}] of bexsyncd.toml",
        )
    elif _scope_refusal(error, description):
        kind, message = "rejected", _scope_message(app, error, description)
    elif error == "unauthorized_client":
        kind, message = (
            "rejected",
            f"this app registration is not allowed to use that kind of login at {app.provider}",
        )
    elif error in ("temporarily_unavailable", "server_error"):
        kind, message = "unavailable", f"{app.provider}'s login service is unavailable"
    else:
        kind, message = "rejected", f"{app.provider} refused the request ({_clean(error)})"
    if detail and error not in messages:  # our own sentences say it all already
        message = f"{message}: {detail}"
    return _fail(app, kind, message, error, status=status)


def _scope_refusal(error: str, description: str | None) -> bool:
    """``invalid_scope``, or ``unauthorized_client`` about a scope (Xero: "Invalid scope for
    client")."""
    return error == "invalid_scope" or (
        error == "unauthorized_client" and "scope" in (description or "").lower()
    )


def _scope_message(app: OAuthApp, error: str, description: str | None) -> str:
    """Which of the requested scopes the provider refused (those its answer names, else all
    of them), and what to change."""
    named = [scope for scope in app.scopes if scope in (description or "")]
    scopes = " ".join(named or app.scopes) or "none"
    message = f"{app.provider} refused the requested scope(s) {scopes} ({error})"
    return f"{message}; {app.scope_advice}" if app.scope_advice else message


def _extras(raw: Mapping[str, Any]) -> dict[str, Any]:
    known = {"access_token", "token_type", "expires_in", "expires_at", "refresh_token", "scope"}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in known or "token" in key.lower():
            continue
        if isinstance(value, (str, int, float, bool)) or value is None:
            extra[key] = value
    claims = _jwt_claims(raw.get("id_token"))
    if claims:
        extra["id_token_claims"] = claims
    return extra


def _jwt_claims(jwt: object) -> dict[str, Any] | None:
    """The id_token's claims (tenant, user) for display; not verified, never used to authorise."""
    if not isinstance(jwt, str) or jwt.count(".") != 2:
        return None
    payload = jwt.split(".")[1]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    return data if isinstance(data, dict) else None


def token_from_response(raw: Mapping[str, Any], now: float) -> Token:
    """A token endpoint's JSON as a ``Token``, expiring on OUR clock (``now + expires_in``)."""
    expires_in = raw.get("expires_in")
    if expires_in not in (None, ""):
        expires_at: float | None = now + float(expires_in)
    elif raw.get("expires_at") or raw.get("expires_on"):
        expires_at = float(raw.get("expires_at") or raw["expires_on"])
    else:
        expires_at = None
    _register_secret(raw.get("id_token"))
    return Token(
        access_token=str(raw["access_token"]),
        token_type=str(raw.get("token_type") or "Bearer"),
        expires_at=expires_at,
        refresh_token=raw.get("refresh_token") or None,
        scope=raw.get("scope") or None,
        extra=_extras(raw),
    )


async def _token_request(
    app: OAuthApp,
    grant_type: str,
    *,
    now: float | None,
    transport: httpx.AsyncBaseTransport | None,
    messages: Mapping[str, tuple[ErrorKind, str]] | None = None,
    secrets: tuple[str | None, ...] = (),
    **params: Any,
) -> Token:
    """POST to the token endpoint through authlib and map every failure to ``OAuthFlowError``."""
    secrets = (*secrets, app.client_secret)
    try:
        async with _client(app, transport) as client:
            raw = await client.fetch_token(app.token_url, grant_type=grant_type, **params)
    except OAuthError as exc:
        raise _oauth_error(
            app, exc.error or "oauth_error", exc.description, messages or {}, secrets
        ) from None
    except httpx.HTTPStatusError as exc:
        raise _status_error(app, exc.response) from None
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _fail(
            app,
            "unavailable",
            f"cannot reach {app.provider}'s token endpoint ({type(exc).__name__})",
            "unreachable",
        ) from None
    except httpx.TransportError as exc:
        raise _fail(
            app,
            "unavailable",
            f"no answer from {app.provider}'s token endpoint ({type(exc).__name__})",
            "no_response",
        ) from None
    except ValueError:  # a 2xx/4xx body that is not a JSON object (a proxy page...)
        raise _fail(
            app,
            "unavailable",
            f"{app.provider}'s token endpoint did not answer with a token",
            "bad_response",
        ) from None
    if not raw.get("access_token"):
        raise _fail(app, "unavailable", f"{app.provider} sent no access token", "bad_response")
    token = token_from_response(raw, time.time() if now is None else now)
    log.debug("%s: obtained an access token (%s grant)", app.provider, _grant_label(grant_type))
    return token


def _status_error(app: OAuthApp, response: httpx.Response) -> OAuthFlowError:
    """A token endpoint's HTTP failure without an OAuth error body; a 429 or 503 keeps the
    Retry-After (seconds or HTTP date) for the engine to honour."""
    status = response.status_code
    kind: ErrorKind = "rejected"
    if status == 429:
        kind = "rate_limited"
    elif status >= 500:
        kind = "unavailable"
    return _fail(
        app,
        kind,
        f"{app.provider}'s token endpoint answered HTTP {status}",
        f"http_{status}",
        status=status,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def _grant_label(grant_type: str) -> str:
    return "device code" if grant_type == DEVICE_CODE_GRANT_TYPE else grant_type


# --- authorization code + PKCE ---------------------------------------------------------------


@dataclass
class PendingCodeFlow:
    """A login in progress: what the user must open, and what we need to finish it."""

    provider: str
    url: str
    state: str
    code_verifier: str | None = field(repr=False)
    redirect_uri: str
    expires_at: float
    created_at: float

    def __post_init__(self) -> None:
        _register_secret(self.code_verifier)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> PendingCodeFlow:
        return cls(**json.loads(text))


def begin_code_flow(
    app: OAuthApp,
    *,
    now: float | None = None,
    ttl: float = 900,
    redirect_uri: str | None = None,
) -> PendingCodeFlow:
    """Build the authorisation URL with a fresh ``state`` and (S256) PKCE verifier."""
    if not app.authorize_url:
        raise ValueError(f"{app.provider}: this app has no authorize_url")
    redirect = redirect_uri or app.redirect_uri
    if not redirect:
        raise ValueError(f"{app.provider}: a code flow needs a redirect_uri")
    now = time.time() if now is None else now
    state = generate_token(32)
    verifier = generate_token(64) if app.use_pkce else None
    params: dict[str, Any] = dict(app.extra_authorize_params)
    if verifier:
        params["code_challenge"] = create_s256_code_challenge(verifier)
        params["code_challenge_method"] = "S256"
    url = prepare_grant_uri(
        app.authorize_url,
        client_id=app.client_id,
        response_type="code",
        redirect_uri=redirect,
        scope=app.scope,
        state=state,
        **params,
    )
    return PendingCodeFlow(
        provider=app.provider,
        url=url,
        state=state,
        code_verifier=verifier,
        redirect_uri=redirect,
        expires_at=now + ttl,
        created_at=now,
    )


def parse_redirect_url(text: str) -> dict[str, str]:
    """The parameters of a pasted redirect: query, fragment, or a bare ``code=..&state=..``."""
    text = text.strip()
    parts = urlsplit(text)
    if not parts.scheme and "?" not in text and "=" in text:
        candidates = [text.lstrip("#")]
    else:
        candidates = [parts.query, parts.fragment]
    params: dict[str, str] = {}
    for candidate in candidates:
        for key, values in parse_qs(candidate, keep_blank_values=True).items():
            params.setdefault(key, values[0])
    return params


async def complete_code_flow(
    app: OAuthApp,
    pending: PendingCodeFlow,
    *,
    redirect_url: str | None = None,
    code: str | None = None,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Token:
    """Finish a code flow from the pasted final redirect URL (preferred: it carries ``state``)
    or from the bare code, and exchange the code (with the PKCE verifier) for tokens."""
    now = time.time() if now is None else now
    if code and "://" in code and redirect_url is None:  # a URL pasted into the code field
        redirect_url, code = code, None
    if now > pending.expires_at:
        minutes = max(1, round((pending.expires_at - pending.created_at) / 60))
        raise _fail(
            app,
            "auth_expired",
            f"this login attempt expired (it was valid for {minutes} minutes); start the "
            "login again",
            "flow_expired",
        )
    if redirect_url is not None:
        params = parse_redirect_url(redirect_url)
        _register_secret(params.get("code"))
        state = params.get("state")
        if state != pending.state and (state is not None or "code" in params):
            raise _fail(
                app,
                "rejected",
                "this redirect belongs to another login attempt (its state does not match the "
                "login started last); paste the address from the latest login or start again",
                "state_mismatch",
            )
        if params.get("error"):
            raise _redirect_error(app, params)
        code = params.get("code")
        if not code:
            raise _fail(
                app,
                "rejected",
                "the pasted address has no authorization code in it; after approving access, "
                "copy the complete address from the browser's address bar (it starts with "
                f"{pending.redirect_uri})",
                "missing_code",
            )
    elif not code:
        raise _fail(
            app,
            "rejected",
            "paste the address the browser ended on after you approved access (or the code)",
            "missing_code",
        )
    _register_secret(code)
    extra: dict[str, str] = {}
    if pending.code_verifier:
        extra["code_verifier"] = pending.code_verifier
    return await _token_request(
        app,
        "authorization_code",
        now=now,
        transport=transport,
        secrets=(code, pending.code_verifier),
        messages={
            "invalid_grant": (
                "rejected",
                f"{app.provider} refused the authorization code: it was already used, has "
                "expired, or belongs to another login attempt; start the login again",
            )
        },
        code=code,
        redirect_uri=pending.redirect_uri,
        **extra,
    )


def _redirect_error(app: OAuthApp, params: Mapping[str, str]) -> OAuthFlowError:
    error = params["error"]
    detail = _clean(params.get("error_description"))
    if _scope_refusal(error, detail):
        return _fail(app, "rejected", _scope_message(app, error, detail), error)
    if error == "access_denied":
        message = f"access was not granted: the consent at {app.provider} was declined"
    else:
        message = f"{app.provider} returned an error instead of a code ({_clean(error)})"
    if detail:
        message = f"{message}: {detail}"
    return _fail(app, "rejected", message, error)


# --- device code (RFC 8628) ----------------------------------------------------------------


@dataclass
class DeviceFlow:
    """A device login in progress. ``interval`` grows on ``slow_down``: persist it again."""

    provider: str
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int
    expires_at: float
    verification_uri_complete: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        _register_secret(self.device_code)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> DeviceFlow:
        return cls(**json.loads(text))


async def begin_device_flow(
    app: OAuthApp,
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DeviceFlow:
    """Ask for a device code and the user code to show (RFC 8628 §3.1)."""
    if not app.device_authorization_url:
        raise ValueError(f"{app.provider}: this app has no device_authorization_url")
    now = time.time() if now is None else now
    data = {"scope": app.scope} if app.scope else {}
    try:
        async with _client(app, transport) as client:
            response = await client.post(
                app.device_authorization_url,
                data=data,
                auth=client.client_auth(app.auth_method),
                headers={"Accept": "application/json"},
            )
    except httpx.TransportError as exc:
        raise _fail(
            app,
            "unavailable",
            f"cannot reach {app.provider}'s device login endpoint ({type(exc).__name__})",
            "unreachable",
        ) from None
    body = _json_object(response)
    if response.status_code >= 400 or "error" in body:
        if "error" in body:
            raise _oauth_error(
                app, str(body["error"]), body.get("error_description"), {}, (app.client_secret,)
            )
        kind: ErrorKind = "unavailable" if response.status_code >= 500 else "rejected"
        raise _fail(
            app,
            kind,
            f"{app.provider}'s device login endpoint answered HTTP {response.status_code}",
            f"http_{response.status_code}",
            status=response.status_code,
        )
    try:
        expires_in = int(body["expires_in"])
        flow = DeviceFlow(
            provider=app.provider,
            device_code=str(body["device_code"]),
            user_code=str(body["user_code"]),
            verification_uri=str(body.get("verification_uri") or body["verification_url"]),
            verification_uri_complete=body.get("verification_uri_complete"),
            expires_in=expires_in,
            interval=int(body.get("interval") or 5),
            expires_at=now + expires_in,
            message=body.get("message"),
        )
    except (KeyError, TypeError, ValueError):
        raise _fail(
            app,
            "unavailable",
            f"{app.provider}'s device login endpoint sent an incomplete answer",
            "bad_response",
        ) from None
    log.info("%s: device login started (user code shown to the user)", app.provider)
    return flow


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


_DEVICE_EXPIRED = "the device code expired before the sign-in was approved; start the login again"


async def poll_once(
    app: OAuthApp,
    flow: DeviceFlow,
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Token | None:
    """One poll: the token once approved, ``None`` while pending (``slow_down`` adds 5 s to
    ``flow.interval``); raises when denied or expired. For the daemon's background poller."""
    now = time.time() if now is None else now
    if now >= flow.expires_at:
        raise _fail(app, "auth_expired", _DEVICE_EXPIRED, "expired_token")
    try:
        return await _token_request(
            app,
            DEVICE_CODE_GRANT_TYPE,
            now=now,
            transport=transport,
            secrets=(flow.device_code,),
            messages={
                "expired_token": ("auth_expired", _DEVICE_EXPIRED),
                "access_denied": ("rejected", "the sign-in was declined in the browser"),
            },
            device_code=flow.device_code,
        )
    except OAuthFlowError as exc:
        if exc.reason == "authorization_pending":
            return None
        if exc.reason == "slow_down":
            flow.interval += 5
            return None
        raise


async def poll_device_flow(
    app: OAuthApp,
    flow: DeviceFlow,
    *,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Token:
    """Poll at the provider's interval until the user approves, declines, or the code expires."""
    while True:
        if clock() >= flow.expires_at:
            raise _fail(app, "auth_expired", _DEVICE_EXPIRED, "expired_token")
        await sleep(flow.interval)
        token = await poll_once(app, flow, now=clock(), transport=transport)
        if token is not None:
            return token


# --- non-interactive grants ----------------------------------------------------------------


async def password_grant(
    app: OAuthApp,
    username: str,
    password: str,
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Token:
    """Resource-owner password grant (Inqom): the password is used once and never stored."""
    _register_secret(password)
    return await _token_request(
        app,
        "password",
        now=now,
        transport=transport,
        secrets=(password,),
        messages={
            "invalid_grant": ("rejected", f"{app.provider} refused the username or password"),
        },
        username=username,
        password=password,
    )


async def client_credentials(
    app: OAuthApp,
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Token:
    """Client credentials (Business Central service-to-service): no user, no refresh token."""
    return await _token_request(app, "client_credentials", now=now, transport=transport)


async def refresh_grant(
    app: OAuthApp,
    refresh_token: str,
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Token:
    """One refresh request. Prefer ``TokenManager``, which serialises refreshes and saves the
    rotated refresh token before anyone uses the new access token."""
    return await _token_request(
        app,
        "refresh_token",
        now=now,
        transport=transport,
        secrets=(refresh_token,),
        refresh_token=refresh_token,
    )


async def json_token_request(
    app: OAuthApp,
    body: Mapping[str, Any],
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Token:
    """A JSON token request outside the OAuth spec (Chift ``POST /token`` with clientId,
    clientSecret, accountId) answered with a standard token JSON."""
    secrets = tuple(str(v) for k, v in body.items() if "secret" in k.lower() and v)
    for secret in secrets:
        _register_secret(secret)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=app.timeout) as client:
            response = await client.post(
                app.token_url, json=dict(body), headers={"Accept": "application/json"}
            )
    except httpx.TransportError as exc:
        reason = (
            "unreachable"
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            else "no_response"
        )
        raise _fail(
            app,
            "unavailable",
            f"no answer from {app.provider}'s token endpoint ({type(exc).__name__})",
            reason,
        ) from None
    data = _json_object(response)
    if response.status_code >= 400 or not data.get("access_token"):
        status = response.status_code
        if status in (400, 401, 403):
            raise _fail(
                app,
                "rejected",
                f"{app.provider} refused the app credentials (HTTP {status}); check the client "
                f"id and secret file in [providers.{app.provider}] of bexsyncd.toml",
                "invalid_client",
                status=status,
            )
        if status < 400:
            raise _fail(
                app,
                "unavailable",
                f"{app.provider}'s token endpoint answered HTTP {status} without a token",
                f"http_{status}",
                status=status,
            )
        raise _status_error(app, response)
    return token_from_response(data, time.time() if now is None else now)


# --- keeping a login alive -----------------------------------------------------------------


class TokenManager:
    """Owns one authorisation's token set: hands out a valid access token, refreshing ahead of
    expiry, once at a time.

    - Single flight: concurrent callers share one refresh (a rotated refresh token must never
      be used twice, or the provider may revoke the whole login).
    - The new token set is saved to the store BEFORE the new access token is handed out.
    - A refresh without an answer (timeout, connection reset) is retried with the SAME refresh
      token: Xero accepts the old one again for 30 minutes (``refresh_grace``) for exactly this.
    - A refused refresh (``invalid_grant``) or a missing refresh token ends the login: the
      ``on_auth_lost`` callback runs once and ``auth_expired`` ("log in again") is raised.
    - Apps using client credentials (or a custom ``renew``) just request a new token.
    """

    def __init__(
        self,
        app: OAuthApp,
        store: TokenStore,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        refresh_grace: float = 1800,
        margin: float = 60,
        on_auth_lost: Callable[[str], Awaitable[None]] | None = None,
        renew: Callable[[], Awaitable[Token]] | None = None,
        refresh_attempts: int = 3,
        retry_delay: float = 0.5,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.app = app
        self._store = store
        self._clock = clock
        self._transport = transport
        self._grace = refresh_grace
        self._margin = margin
        self._on_auth_lost = on_auth_lost
        if renew is None and app.grant_type == "client_credentials":

            async def renew() -> Token:
                return await client_credentials(app, now=clock(), transport=transport)

        self._renew = renew
        self._attempts = max(1, refresh_attempts)
        self._retry_delay = retry_delay
        self._sleep = sleep
        self._token: Token | None = None
        self._loaded = False
        self._unsaved = False
        self._lost: str | None = None
        self._unanswered_since: float | None = None
        self._inflight: asyncio.Task[Token] | None = None

    @property
    def auth_lost(self) -> str | None:
        """The "log in again" message once the login is lost, else None."""
        return self._lost

    async def access_token(self) -> str:
        return (await self.token()).access_token

    async def token(self) -> Token:
        """The current token set (refreshed if due); ``extra`` holds tenant ids and claims."""
        tok = self._token
        if (
            tok is not None
            and self._lost is None
            and not self._unsaved
            and not tok.is_expiring(self._clock(), self._margin)
        ):
            return tok
        return await self._join(force=False, rejected=None)

    async def force_refresh(self, rejected: str | None = None) -> str:
        """Refresh now: the provider answered 401 to ``rejected``, a token we thought valid.
        If another caller already replaced that token, its replacement is returned."""
        return (await self._join(force=True, rejected=rejected)).access_token

    async def replace(self, token: Token) -> None:
        """A new login finished: save it, and forget that the previous one was lost."""
        await self._store.save(token)
        self._token, self._loaded, self._unsaved = token, True, False
        self._lost = None
        self._unanswered_since = None

    async def _join(self, *, force: bool, rejected: str | None) -> Token:
        while True:
            task = self._inflight
            if task is None or task.done():
                task = asyncio.get_running_loop().create_task(self._ensure(force, rejected))
                self._inflight = task
                task.add_done_callback(self._flight_done)
                # Shielded: a cancelled caller must not abort a rotation halfway (new refresh
                # token issued but not saved); the others keep waiting for the same result.
                return await asyncio.shield(task)
            result = await asyncio.shield(task)
            if not force or rejected is None or result.access_token != rejected:
                return result

    def _flight_done(self, task: asyncio.Task[Token]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not reported as lost

    async def _ensure(self, force: bool, rejected: str | None) -> Token:
        if self._lost is not None:
            raise _fail(self.app, "auth_expired", self._lost, "auth_lost")
        if not self._loaded:
            self._token = await self._store.load()
            self._loaded = True
        if self._unsaved and self._token is not None:  # a save failed earlier: retry it first
            await self._store.save(self._token)
            self._unsaved = False
        tok = self._token
        usable = tok is not None and not tok.is_expiring(self._clock(), self._margin)
        replaced = tok is not None and rejected is not None and tok.access_token != rejected
        if tok is not None and usable and (not force or replaced):
            return tok
        new = await self._obtain(tok)
        self._token, self._unsaved = new, True
        await self._store.save(new)
        self._unsaved = False
        return new

    async def _obtain(self, tok: Token | None) -> Token:
        if self._renew is not None and (tok is None or not tok.refresh_token):
            try:
                new = await self._renew()
            except OAuthFlowError as exc:
                if exc.reason in LOGIN_LOST_REASONS:
                    await self._lose(exc.message)
                raise
            if tok is not None:
                new.extra = {**tok.extra, **new.extra}
            return new
        if tok is None:
            await self._lose("there is no stored login for this authorisation")
        if not tok.refresh_token:
            await self._lose(
                f"the access token expired and {self.app.provider} gave no refresh token"
            )
        return await self._refresh(tok, tok.refresh_token)

    async def _refresh(self, tok: Token, refresh_token: str) -> Token:
        attempt = 0
        while True:
            attempt += 1
            try:
                new = await refresh_grant(
                    self.app, refresh_token, now=self._clock(), transport=self._transport
                )
                break
            except OAuthFlowError as exc:
                if exc.reason in NO_ANSWER_REASONS:
                    if exc.reason == "no_response" and self._unanswered_since is None:
                        self._unanswered_since = self._clock()
                    if attempt < self._attempts:
                        log.warning(
                            "%s: token refresh got no answer (%s); retrying with the same "
                            "refresh token",
                            self.app.provider,
                            exc.reason,
                        )
                        await self._sleep(self._retry_delay * attempt)
                        continue
                    raise _fail(
                        self.app,
                        "unavailable",
                        f"{self.app.provider} did not answer the token refresh; bexsync will "
                        "retry with the same refresh token",
                        exc.reason,
                        retry_after=60,
                    ) from None
                if exc.reason in LOGIN_LOST_REASONS:
                    await self._lose(self._lost_detail(exc))
                raise
        self._unanswered_since = None
        log.info("%s: access token refreshed", self.app.provider)
        return Token(
            access_token=new.access_token,
            token_type=new.token_type,
            expires_at=new.expires_at,
            # Providers that do not rotate (Entra may, Pennylane does) omit it: keep ours.
            refresh_token=new.refresh_token or refresh_token,
            scope=new.scope or tok.scope,
            extra={**tok.extra, **new.extra},
        )

    def _lost_detail(self, exc: OAuthFlowError) -> str:
        if exc.reason == "invalid_client":
            return exc.message
        detail = f"{self.app.provider} refused the refresh token (revoked, expired or replaced)"
        since = self._unanswered_since
        if since is not None and self._clock() - since > self._grace:
            detail += (
                f"; a refresh went unanswered more than {round(self._grace / 60)} minutes ago, "
                "after which the old refresh token is no longer accepted"
            )
        return detail

    async def _lose(self, detail: str) -> NoReturn:
        message = f"{detail}; log in again"
        first = self._lost is None
        self._lost = message
        log.warning("%s: login lost: %s", self.app.provider, message)
        if first and self._on_auth_lost is not None:
            try:
                await self._on_auth_lost(message)
            except Exception:
                log.exception("%s: the auth-lost callback failed", self.app.provider)
        raise _fail(self.app, "auth_expired", message, "auth_lost")


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer`` from a ``TokenManager``; on a 401, ONE forced refresh and one
    replay, then the 401 goes to the caller (the HTTP layer maps it to ``auth_expired``)."""

    requires_request_body = True  # the body must be replayable after a 401

    def __init__(self, manager: TokenManager) -> None:
        self.manager = manager

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("BearerAuth is async-only: use it with httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.manager.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        log.info("%s: 401 with a token believed valid; refreshing once", self.manager.app.provider)
        fresh = await self.manager.force_refresh(token)
        request.headers["Authorization"] = f"Bearer {fresh}"
        yield request
