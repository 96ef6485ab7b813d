"""Login methods for OAuth providers, on the shared OAuth layer (providers.oauth).

An adapter describes its OAuth app once (``app_for(settings, redirect_uri) -> OAuthApp``, reading
client id, secret file and endpoint overrides from the config file) and picks the login kind;
the credentials the daemon stores are ``{"token": <Token JSON>}`` plus any form values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from providers import oauth
from providers.context import ProviderContext
from providers.errors import rejected
from providers.login import (
    Answer,
    CredentialField,
    CredentialsLogin,
    Login,
    LoginContext,
    LoginNotApproved,
    LoginResult,
    LoginStart,
)
from providers.tokens import Token

# (the login's settings, the redirect URI of a code login or None) -> the app registration. The
# settings are a provider's ProviderSettings, or the PMS's own (providers.bex.oauth).
AppFactory = Callable[[Any, str | None], oauth.OAuthApp]


def _token_result(token: Token, options: Mapping[str, Any] | None = None) -> LoginResult:
    return LoginResult(credentials={"token": token.to_json()}, options=dict(options or {}))


@dataclass(frozen=True)
class OAuthCodeLogin(Login):
    """Authorization code + PKCE from a headless box: open the URL anywhere, paste back."""

    app_for: AppFactory
    kind: str = "oauth_code"

    async def begin(self, ctx: LoginContext) -> LoginStart:
        app = self.app_for(ctx.settings, ctx.redirect_uri)
        pending = oauth.begin_code_flow(app, now=ctx.now, redirect_uri=ctx.redirect_uri)
        return LoginStart(
            next_step={
                "kind": "open_url",
                "url": pending.url,
                "redirect_uri": pending.redirect_uri,
                "instructions": "Open the URL in any browser and log in. The browser then lands "
                f"on {pending.redirect_uri}: copy that whole address (it may show an error page "
                "on this server; that is fine) and paste it back into bexsync. "
                "With `ssh -L` forwarding that port, bexsync catches it by itself.",
                "expires_at": pending.expires_at,
            },
            pending={"flow": pending.to_json()},
            expires_at=pending.expires_at,
        )

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        if not answer.pending or "flow" not in answer.pending:
            raise rejected(ctx.provider_id, "no login is in progress; create the login again")
        if not (answer.redirect_url or answer.code):
            raise rejected(ctx.provider_id, "paste the final redirect URL (or the code)")
        app = self.app_for(ctx.settings, ctx.redirect_uri)
        flow = oauth.PendingCodeFlow.from_json(answer.pending["flow"])
        token = await oauth.complete_code_flow(
            app,
            flow,
            redirect_url=answer.redirect_url,
            code=answer.code,
            now=ctx.now,
            transport=ctx.transport,
        )
        return _token_result(token)


@dataclass(frozen=True)
class DeviceCodeLogin(Login):
    """Device code (Entra ID): show a short code and a URL; complete once approved."""

    app_for: AppFactory
    kind: str = "device_code"

    async def begin(self, ctx: LoginContext) -> LoginStart:
        app = self.app_for(ctx.settings, ctx.redirect_uri)
        flow = await oauth.begin_device_flow(app, now=ctx.now, transport=ctx.transport)
        return LoginStart(
            next_step={
                "kind": "device_code",
                "verification_uri": flow.verification_uri,
                "user_code": flow.user_code,
                "expires_in": int(flow.expires_at - ctx.now),
                "instructions": f"Open {flow.verification_uri}, enter {flow.user_code}, log in; "
                "then complete the authorisation.",
            },
            pending={"device": flow.to_json()},
            expires_at=flow.expires_at,
        )

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        if not answer.pending or "device" not in answer.pending:
            raise rejected(ctx.provider_id, "no device login is in progress; create it again")
        app = self.app_for(ctx.settings, ctx.redirect_uri)
        flow = oauth.DeviceFlow.from_json(answer.pending["device"])
        token = await oauth.poll_once(app, flow, now=ctx.now, transport=ctx.transport)
        if token is None:
            raise LoginNotApproved(
                ctx.provider_id,
                "rejected",
                f"the code {flow.user_code} is not approved yet: finish the login at "
                f"{flow.verification_uri}, then complete again",
            )
        return _token_result(token)


@dataclass(frozen=True)
class PasswordLogin(Login):
    """Resource-owner password grant (Inqom): the password is used once, never stored."""

    app_for: AppFactory
    kind: str = "password"

    @property
    def form(self) -> CredentialsLogin:
        return CredentialsLogin(
            (
                CredentialField("username", "Username"),
                CredentialField("password", "Password", secret=True),
            )
        )

    async def begin(self, ctx: LoginContext) -> LoginStart:
        return await self.form.begin(ctx)

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        values = self.form.validate(answer.credentials, ctx.provider_id)
        app = self.app_for(ctx.settings, ctx.redirect_uri)
        token = await oauth.password_grant(
            app, values["username"], values["password"], now=ctx.now, transport=ctx.transport
        )
        return _token_result(token, {"username": values["username"]})


@dataclass(frozen=True)
class ClientCredentialsLogin(Login):
    """Client credentials (Business Central S2S, Chift): an optional form of non-secret ids."""

    app_for: AppFactory
    fields: tuple[CredentialField, ...] = ()
    kind: str = "client_credentials"

    async def begin(self, ctx: LoginContext) -> LoginStart:
        if not self.fields:
            return LoginStart({"kind": "none", "instructions": "Complete, then activate."})
        return await CredentialsLogin(self.fields).begin(ctx)

    async def finish(self, ctx: LoginContext, answer: Answer) -> LoginResult:
        values = CredentialsLogin(self.fields).validate(answer.credentials, ctx.provider_id)
        app = self.app_for(ctx.settings, ctx.redirect_uri)
        token = await oauth.client_credentials(app, now=ctx.now, transport=ctx.transport)
        return _token_result(token, values)


class CredentialTokenStore:
    """A TokenStore over the authorisation's stored credentials (``{"token": ...}``).

    The daemon passes ``save_credentials`` (one SQLite transaction), so a rotated refresh token
    is durable before the new access token is used.
    """

    def __init__(self, ctx: ProviderContext) -> None:
        self._ctx = ctx

    async def load(self) -> Token | None:
        raw = self._ctx.credentials.get("token")
        return Token.from_json(raw) if raw else None

    async def save(self, token: Token) -> None:
        creds = {**self._ctx.credentials, "token": token.to_json()}
        if self._ctx.save_credentials is None:
            raise RuntimeError("this provider context cannot save credentials")
        await self._ctx.save_credentials(creds)
        self._ctx.credentials = creds


def bearer_auth(ctx: ProviderContext, app: oauth.OAuthApp) -> oauth.BearerAuth:
    """The httpx.Auth an OAuth adapter hands to its HttpClient: refreshing, single-flight."""
    manager = oauth.TokenManager(
        app,
        CredentialTokenStore(ctx),
        transport=ctx.transport,
        on_auth_lost=ctx.on_auth_lost,
    )
    return oauth.BearerAuth(manager)


def token_extra(ctx: ProviderContext) -> dict[str, Any]:
    raw = ctx.credentials.get("token")
    return dict(json.loads(raw).get("extra") or {}) if raw else {}
