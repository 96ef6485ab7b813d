"""OAuth2 for the PMS connection: the app registration from ``[pms]``, the login, the refresher.

BEX recommends OAuth2 for apps (research section 2.2): an authorization code grant that also
yields a refresh token. The login runs headless exactly like a provider login
(``providers.oauth_login.OAuthCodeLogin``: open the URL in any browser, paste the final redirect
back or let the loopback listener catch it), and the ``BexClient`` then gets a ``BearerAuth``
whose ``TokenManager`` refreshes single-flight and saves a rotated token before using it.
Endpoint defaults (partly unconfirmed) come from ``mapping``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx

from providers import oauth
from providers.bex import mapping as m
from providers.errors import FieldError, ProviderError
from providers.login import LoginContext, LoginStart
from providers.oauth_login import OAuthCodeLogin
from providers.redact import register_secret
from providers.tokens import Token, TokenStore, resolve_credential_path

SECTION = "[pms]"


class PmsOAuthConfigError(ValueError):
    """``[pms]`` lacks what an OAuth login needs; ``problems`` names each key and why."""

    def __init__(self, message: str, problems: tuple[FieldError, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems


@dataclass(frozen=True)
class PmsOAuthSettings:
    """The PMS app registration: client id, secret *file*, optional endpoint overrides."""

    client_id: str | None = None
    client_secret_file: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> PmsOAuthSettings:
        def text(key: str) -> str | None:
            value = table.get(key)
            return (value.strip() or None) if isinstance(value, str) else None

        return cls(
            text("client_id"), text("client_secret_file"), text("authorize_url"), text("token_url")
        )

    def endpoints(self, base_url: str) -> tuple[str, str]:
        """Authorize and token URLs: the overrides, else BEX's paths on the API's host."""
        base = base_url.rstrip("/")
        return (
            (self.authorize_url or base + m.OAUTH_AUTHORIZE_PATH).rstrip("/"),
            (self.token_url or base + m.OAUTH_TOKEN_PATH).rstrip("/"),
        )

    def client_secret(self) -> str:
        """Read the secret file (a bare name is looked up in ``$CREDENTIALS_DIRECTORY``)."""
        if not self.client_secret_file:
            raise _missing("client_secret_file", "set it to the file holding the client secret")
        path = resolve_credential_path(self.client_secret_file)
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _missing(
                "client_secret_file", f"{str(path)!r} cannot be read: {exc.strerror}"
            ) from None
        if not secret:
            raise _missing("client_secret_file", f"{str(path)!r} is empty")
        register_secret(secret)
        return secret


def _missing(key: str, detail: str) -> PmsOAuthConfigError:
    return PmsOAuthConfigError(
        f"The PMS OAuth app is not set up: {SECTION} {key} in bexsyncd.toml: {detail}.",
        (FieldError("auth", f"{SECTION} {key}: {detail}"),),
    )


def oauth_app(
    settings: PmsOAuthSettings, base_url: str, redirect_uri: str | None = ""
) -> oauth.OAuthApp:
    """The app registration BEX gave (client UID and secret) with its endpoints."""
    if not settings.client_id:
        raise _missing("client_id", "set it to the OAuth client UID from the BEX app page")
    secret = settings.client_secret()
    authorize_url, token_url = settings.endpoints(base_url)
    return oauth.OAuthApp(
        provider=m.PROVIDER,
        client_id=settings.client_id,
        client_secret=secret,
        authorize_url=authorize_url,
        token_url=token_url,
        scopes=m.OAUTH_SCOPES,
        redirect_uri=redirect_uri or None,
        use_pkce=m.OAUTH_USE_PKCE,
    )


def pms_wording(error: ProviderError) -> ProviderError:
    """The shared OAuth layer names ``[providers.bex]``; the PMS's registration is ``[pms]``."""
    message = error.message.replace(f"[providers.{m.PROVIDER}]", SECTION)
    return error if message == error.message else replace(error, message=message)


def _login(base_url: str) -> OAuthCodeLogin:
    return OAuthCodeLogin(lambda settings, redirect: oauth_app(settings, base_url, redirect))


async def begin_login(
    settings: PmsOAuthSettings, base_url: str, *, redirect_uri: str, now: float
) -> LoginStart:
    """The URL to open and the pending state (secret: PKCE verifier) to keep until complete."""
    ctx = LoginContext(m.PROVIDER, settings, redirect_uri, now)
    start = await _login(base_url).begin(ctx)
    step = dict(start.next_step)
    step["instructions"] = (
        "Open the URL in any browser, log in to Booking Experts and approve the app. The browser "
        f"then lands on {step['redirect_uri']}: copy that whole address (an error page there is "
        "fine) and pass it to pms.complete as redirect_url. With `ssh -L` forwarding that port, "
        "bexsync catches it by itself."
    )
    return LoginStart(step, {**(start.pending or {}), "base_url": base_url}, start.expires_at)


def pending_state(pending: Mapping[str, Any]) -> str | None:
    """The OAuth ``state`` of a pending login, to match a redirect caught by the listener."""
    flow = pending.get("flow")
    return oauth.PendingCodeFlow.from_json(flow).state if isinstance(flow, str) else None


async def complete_login(
    settings: PmsOAuthSettings,
    pending: Mapping[str, Any],
    *,
    redirect_url: str | None,
    code: str | None,
    redirect_uri: str,
    now: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Token:
    """Exchange the code from the pasted redirect (or the bare code) for the token set."""
    ctx = LoginContext(m.PROVIDER, settings, redirect_uri, now, transport=transport)
    try:
        result = await _login(str(pending["base_url"])).complete(
            ctx, pending, redirect_url=redirect_url, code=code, credentials=None
        )
    except ProviderError as exc:
        raise pms_wording(exc) from None
    return Token.from_json(result.credentials["token"])


def bearer_auth(
    app: oauth.OAuthApp,
    store: TokenStore,
    *,
    clock: Callable[[], float],
    transport: httpx.AsyncBaseTransport | None,
    on_auth_lost: Callable[[str], Awaitable[None]],
) -> oauth.BearerAuth:
    """The ``httpx.Auth`` for ``BexClient(auth=...)``: refreshes ahead of expiry and on a 401;
    a refused refresh calls ``on_auth_lost`` once and every later call fails ``auth_expired``."""
    manager = oauth.TokenManager(
        app, store, clock=clock, transport=transport, on_auth_lost=on_auth_lost
    )
    return oauth.BearerAuth(manager)
