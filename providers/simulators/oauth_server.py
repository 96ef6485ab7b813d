"""A real OAuth2 authorisation server for tests and the demo, built on authlib's server grants.

authlib ships the protocol (grants, PKCE, device grant, client authentication) but integrates
only with Flask and Django; ``_StarletteOAuth2Request`` and ``_Server`` below are the same
small adapter for Starlette: the form is read asynchronously first, then authlib's synchronous
server code runs on that snapshot. Everything is in memory, on an injectable clock.

Every provider simulator reuses it: mount ``create_oauth_app(config)`` where the provider has
its login endpoints (``Mount("/oauth", app)`` gives ``/oauth/authorize`` and ``/oauth/token``)
and check bearer tokens on API calls with ``state.check_bearer()``.

Routes: ``GET /authorize`` (auto-consent; ``?consent=deny`` or ``state.deny_consent`` declines;
``?user=NAME`` picks the user), ``POST /token`` (authorization_code + PKCE, refresh_token with
rotation and an optional grace window, password, client_credentials, device_code),
``POST /devicecode``, ``GET|POST /device/approve?user_code=...[&deny=1]``, ``POST /introspect``,
``GET /me`` (a bearer-protected resource for tests).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InsecureTransportError,
    InvalidGrantError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialMixin,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

ALL_GRANTS = frozenset(
    {
        "authorization_code",
        "refresh_token",
        "password",
        "client_credentials",
        DEVICE_CODE_GRANT_TYPE,
    }
)
_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


# --- configuration ---------------------------------------------------------------------------


@dataclass
class SimClient(ClientMixin):
    """A registered app. ``client_secret=None`` makes it a public client (PKCE, no secret)."""

    client_id: str
    client_secret: str | None = None
    # Empty: any redirect URI. Loopback URIs match on any port (RFC 8252 §7.3).
    redirect_uris: tuple[str, ...] = ()
    grant_types: frozenset[str] = ALL_GRANTS
    scopes: tuple[str, ...] = ()  # allowed scopes; empty = whatever is asked
    default_scope: str = ""
    # Scopes this app may not ask for (Xero: broad scopes for apps made on or after
    # 2026-03-02): /authorize sends the user back with ``scope_error`` naming them.
    refused_scopes: tuple[str, ...] = ()
    scope_error: str = "invalid_scope"
    # How a confidential client must authenticate at /token (None: basic or post).
    auth_methods: tuple[str, ...] | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.default_scope
        if not self.scopes:
            return scope
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if not self.redirect_uris or redirect_uri in self.redirect_uris:
            return True
        return any(_same_loopback_uri(redirect_uri, known) for known in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and hmac.compare_digest(
            self.client_secret.encode(), client_secret.encode()
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client_secret is None:
            return method == "none"
        return method in (self.auth_methods or ("client_secret_basic", "client_secret_post"))

    def refused(self, scope: str | None) -> list[str]:
        """The requested scopes this app may not ask for."""
        return [s for s in (scope or "").split() if s in self.refused_scopes]

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def _same_loopback_uri(uri: str, registered: str) -> bool:
    a, b = urlsplit(uri), urlsplit(registered)
    return (
        a.scheme == b.scheme == "http"
        and _is_loopback(a.hostname)
        and _is_loopback(b.hostname)
        and a.path == b.path
    )


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class OAuthServerConfig:
    clients: tuple[SimClient, ...]
    users: Mapping[str, str] = field(default_factory=lambda: {"demo": "demo-password"})
    consent_user: str | None = "demo"  # who "logs in" at /authorize; None = needs ?user=
    deny_consent: bool = False
    access_token_ttl: int = 1800
    refresh_token_ttl: float | None = None  # unused refresh tokens expire (Xero: 60 days)
    rotate_refresh_tokens: bool = True
    refresh_grace: float = 0.0  # how long a rotated refresh token still works (Xero: 1800)
    code_ttl: float = 600
    pkce_required: bool = True  # public clients must send a code_verifier
    device_code_ttl: int = 900
    device_interval: int = 5
    extra_token_fields: Mapping[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time


# --- stored records --------------------------------------------------------------------------


@dataclass
class CodeRecord:
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    used: bool = False

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class TokenRecord(TokenMixin):
    access_token: str
    refresh_token: str | None
    client_id: str
    user: str | None
    scope: str
    grant_type: str
    issued_at: float
    expires_at: float
    refresh_expires_at: float | None = None
    code: str | None = None
    revoked: bool = False
    refresh_rotated_at: float | None = None

    def check_client(self, client: SimClient) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - self.issued_at)

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str | None:
        return self.user


@dataclass
class DeviceRecord(DeviceCredentialMixin):
    device_code: str
    user_code: str
    client_id: str
    scope: str | None
    expires_at: float
    interval: int
    clock: Callable[[], float] = field(repr=False, default=time.time)
    last_poll: float | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str | None:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired(self) -> bool:
        return self.clock() >= self.expires_at


@dataclass(frozen=True)
class TokenRequestLog:
    grant_type: str
    status: int
    error: str | None
    auth_method: str | None = None  # how the client authenticated (client_secret_basic...)


class OAuthServerState:
    """Everything the server issued, for assertions, plus helpers for provider simulators."""

    def __init__(self, config: OAuthServerConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.deny_consent = config.deny_consent
        self.clients = {c.client_id: c for c in config.clients}
        self.codes: dict[str, CodeRecord] = {}
        self.tokens: list[TokenRecord] = []
        self._by_access: dict[str, TokenRecord] = {}
        self._by_refresh: dict[str, TokenRecord] = {}
        self.devices: dict[str, DeviceRecord] = {}
        self.device_grants: dict[str, tuple[str, bool]] = {}
        self.token_requests: list[TokenRequestLog] = []

    # -- assertions --
    def requests_for(self, grant_type: str) -> list[TokenRequestLog]:
        return [r for r in self.token_requests if r.grant_type == grant_type]

    def request_counts(self) -> Counter[str]:
        return Counter(r.grant_type for r in self.token_requests)

    def active_refresh_tokens(self) -> set[str]:
        now = self.clock()
        return {rt for rt, rec in self._by_refresh.items() if self._refresh_usable(rec, now)}

    # -- helpers for provider simulators --
    def check_bearer(self, token: str | None) -> dict[str, Any] | None:
        """The claims of a valid access token; None when unknown, expired or revoked."""
        rec = self._by_access.get(token or "")
        if rec is None or rec.revoked or self.clock() >= rec.expires_at:
            return None
        return {
            "sub": rec.user,
            "client_id": rec.client_id,
            "scope": rec.scope,
            "iat": rec.issued_at,
            "exp": rec.expires_at,
        }

    def bearer_claims(self, request: Request) -> dict[str, Any] | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.check_bearer(value.strip())

    def revoke_all(self) -> None:
        """Revoke every access and refresh token ("token revoked mid-sync" tests)."""
        for rec in self.tokens:
            rec.revoked = True

    def approve_device(self, user_code: str, user: str = "demo", approved: bool = True) -> bool:
        if not any(d.user_code == user_code for d in self.devices.values()):
            return False
        self.device_grants[user_code] = (user, approved)
        return True

    # -- used by the grants --
    def _save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        now = self.clock()
        token.update(self.config.extra_token_fields)
        code = request.authorization_code
        rt = token.get("refresh_token")
        ttl = self.config.refresh_token_ttl
        rec = TokenRecord(
            access_token=token["access_token"],
            refresh_token=rt,
            client_id=request.client.get_client_id(),
            user=request.user,
            scope=token.get("scope") or "",
            grant_type=request.payload.grant_type,
            issued_at=now,
            expires_at=now + int(token.get("expires_in") or self.config.access_token_ttl),
            refresh_expires_at=(now + ttl) if (rt and ttl) else None,
            code=code.code if isinstance(code, CodeRecord) else None,
        )
        self.tokens.append(rec)
        self._by_access[rec.access_token] = rec
        if rt:
            self._by_refresh[rt] = rec

    def _refresh_record(self, refresh_token: str) -> TokenRecord | None:
        rec = self._by_refresh.get(refresh_token)
        if rec is None or not self._refresh_usable(rec, self.clock()):
            return None
        return rec

    def _refresh_usable(self, rec: TokenRecord, now: float) -> bool:
        if rec.revoked:
            return False
        if rec.refresh_expires_at is not None and now >= rec.refresh_expires_at:
            return False
        rotated = rec.refresh_rotated_at
        return rotated is None or now < rotated + self.config.refresh_grace

    def _revoke_from_code(self, code: str) -> None:
        for rec in self.tokens:
            if rec.code == code:
                rec.revoked = True


# --- authlib grants on the in-memory state -------------------------------------------------


def _state(grant: Any) -> OAuthServerState:
    return grant.server.state


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        state = _state(self)
        data = request.payload.data
        state.codes[code] = CodeRecord(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            user=request.user,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=state.clock() + state.config.code_ttl,
        )

    def query_authorization_code(self, code: str, client: SimClient) -> CodeRecord | None:
        state = _state(self)
        rec = state.codes.get(code)
        if rec is None or rec.client_id != client.get_client_id():
            return None
        if rec.used:  # RFC 6749 §4.1.2: a replayed code revokes what it granted
            state._revoke_from_code(code)
            return None
        if state.clock() >= rec.expires_at:
            return None
        return rec

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        authorization_code.used = True

    def authenticate_user(self, authorization_code: CodeRecord) -> str:
        return authorization_code.user


class _RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH_METHODS

    def __init__(self, request: OAuth2Request, server: _Server) -> None:
        super().__init__(request, server)
        self.INCLUDE_NEW_REFRESH_TOKEN = server.state.config.rotate_refresh_tokens

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        return _state(self)._refresh_record(refresh_token)

    def authenticate_user(self, refresh_token: TokenRecord) -> str | None:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        state = _state(self)
        if state.config.rotate_refresh_tokens and refresh_token.refresh_rotated_at is None:
            refresh_token.refresh_rotated_at = state.clock()


class _PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH_METHODS

    def authenticate_user(self, username: str, password: str) -> str:
        expected = _state(self).config.users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            # invalid_grant, as IdentityServer (Inqom) and RFC 6749 §5.2 answer
            raise InvalidGrantError("The user name or password is incorrect.")
        return username


class _ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _DeviceGrant(DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH_METHODS

    def query_device_credential(self, device_code: str) -> DeviceRecord | None:
        return _state(self).devices.get(device_code)

    def query_user_grant(self, user_code: str) -> tuple[str, bool] | None:
        return _state(self).device_grants.get(user_code)

    def should_slow_down(self, credential: DeviceRecord) -> bool:
        now = _state(self).clock()
        last, credential.last_poll = credential.last_poll, now
        if last is not None and now - last < credential.interval:
            credential.interval += 5  # RFC 8628 §3.5: and for all later polls
            return True
        return False

    def create_token_response(self) -> tuple[int, Any, Any]:
        result = super().create_token_response()
        credential = self.request.credential
        state = _state(self)
        state.devices.pop(credential.device_code, None)  # a device code works once
        state.device_grants.pop(credential.user_code, None)
        return result


class _DeviceEndpoint(DeviceAuthorizationEndpoint):
    def __init__(self, server: _Server) -> None:
        super().__init__(server)
        self.EXPIRES_IN = server.state.config.device_code_ttl
        self.INTERVAL = server.state.config.device_interval
        self._verification_uri = ""

    def create_endpoint_response(self, request: _StarletteOAuth2Request) -> Any:
        self._verification_uri = request.base + "/device/approve"
        return super().create_endpoint_response(request)

    def get_verification_uri(self) -> str:
        return self._verification_uri

    def save_device_credential(self, client_id: str, scope: str | None, data: dict) -> None:
        state: OAuthServerState = self.server.state
        state.devices[data["device_code"]] = DeviceRecord(
            device_code=data["device_code"],
            user_code=data["user_code"],
            client_id=client_id,
            scope=scope,
            expires_at=state.clock() + self.EXPIRES_IN,
            interval=self.INTERVAL,
            clock=state.clock,
        )


# --- the Starlette integration (what authlib's Flask/Django integrations do) ---------------


class _Payload(OAuth2Payload):
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._data.setdefault(key, value)
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _StarletteOAuth2Request(OAuth2Request):
    def __init__(
        self,
        request: Request,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
        base: str,
    ) -> None:
        uri = str(request.url)
        try:
            super().__init__(request.method, uri, headers=request.headers)
        except InsecureTransportError:  # simulators speak plain http on any host, by design
            super().__init__(request.method, "https://simulator.invalid/", headers=request.headers)
            self.uri = uri
        self.base = base
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload([*query, *form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def _read_form(request: Request) -> list[tuple[str, str]]:
    """An urlencoded body (without python-multipart, which Starlette's ``form()`` needs)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return []
    return parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)


async def _oauth_request(request: Request) -> _StarletteOAuth2Request:
    query = list(request.query_params.multi_items())
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        form = await _read_form(request)
    # The URL up to this server's root, mounted or not: the endpoint's own name comes last.
    url = str(request.url.replace(query=""))
    base = url.rsplit("/", 1)[0]
    return _StarletteOAuth2Request(request, query, form, base)


class _Server(AuthorizationServer):
    def __init__(self, state: OAuthServerState) -> None:
        super().__init__()
        self.state = state
        cfg = state.config
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "sim-at-" + generate_token(40),
                refresh_token_generator=lambda **_: "sim-rt-" + generate_token(48),
                expires_generator=lambda client, grant_type: cfg.access_token_ttl,
            ),
        )
        self.register_grant(_CodeGrant, [CodeChallenge(required=cfg.pkce_required)])
        self.register_grant(_RefreshGrant)
        self.register_grant(_PasswordGrant)
        self.register_grant(_ClientCredentialsGrant)
        self.register_grant(_DeviceGrant)
        self.register_endpoint(_DeviceEndpoint)

    def query_client(self, client_id: str) -> SimClient | None:
        return self.state.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.state._save_token(token, request)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("read the Starlette request with _oauth_request() first")

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints in the simulator")

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> Response:
        hdrs = dict(headers or [])
        if isinstance(payload, dict):
            hdrs.pop("Content-Type", None)
            return JSONResponse(payload, status_code=status_code, headers=hdrs)
        return Response(payload or b"", status_code=status_code, headers=hdrs)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


def create_oauth_app(config: OAuthServerConfig, state: OAuthServerState | None = None) -> Starlette:
    """The server as a Starlette app; its state is ``app.state.oauth`` (also returned by
    ``oauth_state(app)``)."""
    state = state or OAuthServerState(config)
    server = _Server(state)

    async def authorize(request: Request) -> Response:
        oreq = await _oauth_request(request)
        refused = _refused_scopes(state, request)
        if refused is not None:
            return refused
        user = request.query_params.get("user") or config.consent_user
        deny = request.query_params.get("consent") == "deny" or state.deny_consent
        try:
            grant = server.get_consent_grant(oreq, end_user=user)
        except OAuth2Error as error:
            return server.handle_error_response(oreq, error)
        if user is None and not deny:
            return HTMLResponse("<h1>Log in</h1><p>(simulator: add ?user=NAME)</p>", 401)
        return server.create_authorization_response(
            oreq, grant_user=None if deny else user, grant=grant
        )

    async def token(request: Request) -> Response:
        oreq = await _oauth_request(request)
        response = server.create_token_response(oreq)
        error = None
        if response.status_code >= 400:
            error = _json_field(response, "error")
        state.token_requests.append(
            TokenRequestLog(
                oreq.payload.grant_type or "",
                response.status_code,
                error,
                getattr(oreq, "auth_method", None),
            )
        )
        return response

    async def devicecode(request: Request) -> Response:
        oreq = await _oauth_request(request)
        return server.create_endpoint_response("device_authorization", oreq)

    async def device_approve(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(dict(await _read_form(request)))
        user_code = params.get("user_code", "")
        approved = params.get("deny") not in ("1", "true", "yes")
        user = params.get("user") or config.consent_user or "demo"
        if not state.approve_device(user_code, user, approved):
            return JSONResponse({"error": "unknown user_code"}, status_code=404)
        return JSONResponse({"user_code": user_code, "approved": approved})

    async def introspect(request: Request) -> Response:
        form = dict(await _read_form(request))
        claims = state.check_bearer(form.get("token"))
        if claims is None:
            return JSONResponse({"active": False})
        return JSONResponse({"active": True, **claims})

    async def me(request: Request) -> Response:
        claims = state.bearer_claims(request)
        if claims is None:
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return JSONResponse(claims)

    app = Starlette(
        routes=[
            Route("/authorize", authorize, methods=["GET"]),
            Route("/token", token, methods=["POST"]),
            Route("/devicecode", devicecode, methods=["POST"]),
            Route("/device/approve", device_approve, methods=["GET", "POST"]),
            Route("/introspect", introspect, methods=["POST"]),
            Route("/me", me, methods=["GET"]),
        ]
    )
    app.state.oauth = state
    return app


def _refused_scopes(state: OAuthServerState, request: Request) -> Response | None:
    """Send the user back with an error naming the scopes this app may not ask for."""
    params = request.query_params
    client = state.clients.get(params.get("client_id", ""))
    refused = client.refused(params.get("scope")) if client is not None else []
    redirect = params.get("redirect_uri")
    if client is None or not refused or not redirect:
        return None
    query = urlencode(
        {
            "error": client.scope_error,
            "error_description": f"Invalid scope for client: {' '.join(refused)}",
            "state": params.get("state", ""),
        }
    )
    return RedirectResponse(f"{redirect}?{query}", status_code=302)


def oauth_state(app: Starlette) -> OAuthServerState:
    return app.state.oauth


def _json_field(response: Response, name: str) -> str | None:
    import json

    try:
        return json.loads(bytes(response.body)).get(name)
    except (ValueError, AttributeError):
        return None
