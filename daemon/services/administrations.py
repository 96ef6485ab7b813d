"""The PMS connection (an API key or an OAuth2 login) and the administrations it lists.

The daemon shares ONE ``BexClient`` across syncs (connection pool, rate limiter). With OAuth its
token set lives sealed in ``pms_connection.token``; a rotated refresh token is written there
before the new access token is used, and a refused refresh puts the connection in ``error``
(with a notification) until the next ``pms.connect``/``pms.complete``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from daemon.config import DaemonConfig
from daemon.errors import InvalidArgument, NotFound, ProviderFailure, ValidationFailed
from daemon.formats import Clock
from daemon.logins import LoginCoordinator
from daemon.publisher import EventPublisher
from daemon.services.access import AdministrationAccess
from daemon.services.notifications import Notifications
from daemon.store.interface import Store
from daemon.store.records import Administration, NewNotification, NewPendingLogin, PmsConnection
from daemon.vault import CredentialVault
from daemon.views import administration_view
from providers.bex import oauth as bex_oauth
from providers.bex.client import BexClient
from providers.bex.mapping import PROVIDER, RATE_LIMIT
from providers.bex.models import PmsAdministration
from providers.errors import ProviderError, auth_expired, rejected
from providers.ratelimit import LimiterRegistry
from providers.redact import register_secret
from providers.tokens import Token

log = logging.getLogger("bexsync.pms")
API_KEY_RE = re.compile(r"[\x21-\x7e]{1,500}")

NOT_CONNECTED = (
    "No PMS connection yet: call pms.connect with the API base URL and an API key, or with "
    'auth "oauth" and then pms.complete.'
)


class PmsTokenStore:
    """The PMS's OAuth token set, sealed in ``pms_connection.token``.

    Not ``durable`` while a new login is being verified (nothing is stored before the PMS has
    answered) nor once the connection was replaced (a retired client must not overwrite the
    new login's tokens); durable saves are committed before ``save`` returns.
    """

    def __init__(
        self,
        store: Store,
        vault: CredentialVault,
        token: Token | None = None,
        *,
        durable: bool = True,
    ) -> None:
        self._store = store
        self._vault = vault
        self.token = token
        self.durable = durable

    async def load(self) -> Token | None:
        if self.token is None:
            connection = await self._store.pms.get()
            if connection is not None and connection.token:
                self.token = Token.from_json(self._vault.unseal(connection.token)["token"])
        return self.token

    async def save(self, token: Token) -> None:
        if self.durable:
            await self._store.pms.save_token(self._vault.seal({"token": token.to_json()}))
        self.token = token


@dataclass(frozen=True)
class PmsSettings:
    """The config file's ``[pms]`` table and the PMS's limits (``daemon.config``)."""

    table: Mapping[str, Any]
    page_size: int = 100
    calls_per_15min: int = 500
    calls_per_minute: int = 100

    @classmethod
    def from_config(cls, config: DaemonConfig) -> PmsSettings:
        return cls(
            config.pms,
            config.pms_page_size,
            config.pms_calls_per_15min,
            config.pms_calls_per_minute,
        )


class Administrations:
    def __init__(
        self,
        *,
        store: Store,
        vault: CredentialVault,
        settings: PmsSettings,
        logins: LoginCoordinator,
        notifications: Notifications,
        events: EventPublisher,
        clock: Clock,
        wake: Callable[[], None],
        access: AdministrationAccess,
        limiters: LimiterRegistry,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._store = store
        self._vault = vault
        self._settings = settings
        self._logins = logins
        self._notifications = notifications
        self._events = events
        self._clock = clock
        self._wake = wake
        self._access = access
        self._limiters = limiters
        self._transport = transport
        self._client: BexClient | None = None
        self._tokens: PmsTokenStore | None = None  # the shared client's, when it uses OAuth
        self._lost: str | None = None  # the OAuth login was refused: why, until reconnected
        self._retired: list[BexClient] = []
        self._login_lock = asyncio.Lock()

    # -- PMS connection -------------------------------------------------------------------
    async def pms_row(self) -> PmsConnection | None:
        return await self._store.pms.get()

    async def _pending(self) -> dict[str, Any] | None:
        pending = await self._store.pms.pending_login()
        return self._vault.unseal(pending.data) if pending is not None else None

    async def pms_get(self) -> dict[str, Any]:
        row = await self.pms_row()
        login = await self._store.pms.pending_login()
        pending = login is not None and login.expires_at > self._clock().timestamp()
        if row is None:
            return {
                "kind": "bex",
                "base_url": None,
                "auth": None,
                "status": "not_connected",
                "message": NOT_CONNECTED,
                "login_pending": bool(pending),
            }
        return {
            "kind": row.kind,
            "base_url": row.base_url,
            "auth": row.auth,
            "status": row.status,
            "message": row.message,
            "login_pending": bool(pending),
        }

    def client(
        self, base_url: str, api_key: str | None, *, auth: httpx.Auth | None = None
    ) -> BexClient:
        return BexClient(
            base_url,
            api_key=api_key,
            auth=auth,
            transport=self._transport,
            page_size=self._settings.page_size,
            limiters=self._limiters,
            rate_limit=dataclasses.replace(
                RATE_LIMIT,
                calls=self._settings.calls_per_15min,
                burst=(self._settings.calls_per_minute, 60.0),
            ),
        )

    def _oauth_settings(self) -> bex_oauth.PmsOAuthSettings:
        return bex_oauth.PmsOAuthSettings.from_table(self._settings.table)

    def _oauth_client(self, base_url: str, store: PmsTokenStore) -> BexClient:
        """A client whose bearer token refreshes through ``store``; raises PmsOAuthConfigError."""
        app = bex_oauth.oauth_app(self._oauth_settings(), base_url)

        async def lost(detail: str) -> None:
            if store is self._tokens:  # a retired client's login is no longer ours to judge
                await self._login_lost(detail)

        auth = bex_oauth.bearer_auth(
            app,
            store,
            clock=lambda: self._clock().timestamp(),
            transport=self._transport,
            on_auth_lost=lost,
        )
        return self.client(base_url, None, auth=auth)

    async def pms_client(self) -> BexClient:
        """The one PMS client (connection pool, rate limiter) every sync shares.

        Building an HTTP client loads the CA bundle (~25 ms); per run that dominated a catch-up.
        While the OAuth login is lost every sync fails at once with the reason, calling nobody.
        """
        if self._lost is not None:
            raise auth_expired(PROVIDER, self._lost)
        if self._client is not None:
            return self._client
        row = await self.pms_row()
        if row is None:
            raise ValidationFailed(
                "bexsync is not connected to the PMS yet.",
                errors=[{"field": "pms", "message": "connect the PMS first (pms.connect)"}],
            )
        if row.status == "error":
            self._lost = row.message
            raise auth_expired(PROVIDER, row.message)
        if self._client is not None:  # built by a concurrent caller meanwhile: ONE refresher
            return self._client
        if row.auth == "oauth":
            store = PmsTokenStore(self._store, self._vault)
            try:
                client = self._oauth_client(row.base_url, store)
            except bex_oauth.PmsOAuthConfigError as exc:
                raise rejected(PROVIDER, exc.message) from None
            self._client, self._tokens = client, store
        else:
            self._client, self._tokens = self.client(row.base_url, self._key(row)), None
        return self._client

    def _replace_client(self, client: BexClient, store: PmsTokenStore | None) -> None:
        """Swap the shared client; the old one may still serve a sync, so it closes at stop."""
        if self._tokens is not None:
            self._tokens.durable = False
        if self._client is not None:
            self._retired.append(self._client)
        self._client, self._tokens, self._lost = client, store, None

    async def aclose(self) -> None:
        clients = [*self._retired, *([self._client] if self._client else [])]
        self._client, self._tokens, self._retired = None, None, []
        for client in clients:
            await client.aclose()

    def _key(self, row: PmsConnection | None) -> str | None:
        """The stored PMS key (sealed like every credential when a key file is set)."""
        if row is None or not row.api_key:
            return None
        key = self._vault.unseal_text(row.api_key)
        register_secret(key)
        return str(key)

    async def _base_url(self, base_url: str | None, row: PmsConnection | None) -> str:
        url = base_url or (row.base_url if row else None) or self._settings.table.get("api_url")
        if not url:
            raise ValidationFailed(
                "The PMS API base URL is missing.",
                errors=[{"field": "base_url", "message": "required on the first connection"}],
            )
        try:
            parsed = httpx.URL(url)
            usable = parsed.scheme in ("http", "https") and bool(parsed.host)
        except (httpx.InvalidURL, ValueError):  # UnicodeError is a ValueError
            usable = False
        if not usable or not url.isprintable():
            raise ValidationFailed(
                "The PMS API base URL must be an http:// or https:// URL with a host.",
                errors=[{"field": "base_url", "message": "must be an http(s) URL"}],
            )
        return str(url)

    async def pms_connect(
        self, base_url: str | None, api_key: str | None, auth: str | None = None
    ) -> dict[str, Any]:
        """API key: verify the PMS answers, then store the key and its administrations.
        OAuth: start the login and say which URL to open; ``pms_complete`` finishes it."""
        mode = auth or "api_key"
        if mode not in ("api_key", "oauth"):
            raise InvalidArgument(
                f"Unknown PMS login {mode!r}.",
                errors=[{"field": "auth", "message": 'one of "api_key", "oauth"'}],
            )
        if mode == "oauth" and api_key is not None:
            raise InvalidArgument(
                "An API key is not used with an OAuth login.",
                errors=[{"field": "api_key", "message": 'leave it out with auth "oauth"'}],
            )
        row = await self.pms_row()
        url = await self._base_url(base_url, row)
        if mode == "oauth":
            return await self._begin_oauth(url)
        key = api_key or self._key(row)
        if not key:
            raise InvalidArgument(
                "The PMS API key is missing.",
                errors=[{"field": "api_key", "message": 'required, or use auth "oauth"'}],
            )
        if not API_KEY_RE.fullmatch(key):  # it goes into an HTTP header as it is
            raise InvalidArgument(
                "The PMS API key has characters an API key cannot have.",
                errors=[{"field": "api_key", "message": "printable ASCII without spaces"}],
            )
        register_secret(key)
        client = self.client(url, key)
        try:
            admins = await client.list_administrations()
        except ProviderError as exc:
            await client.aclose()
            raise ProviderFailure.from_provider_error(exc) from None
        await self.store_connection(url, admins, api_key=key)
        self._replace_client(client, None)
        return await self.pms_get()

    async def _begin_oauth(self, url: str) -> dict[str, Any]:
        try:
            start = await bex_oauth.begin_login(
                self._oauth_settings(),
                url,
                redirect_uri=self._logins.redirect_uri(),
                now=self._clock().timestamp(),
            )
        except bex_oauth.PmsOAuthConfigError as exc:
            raise InvalidArgument(exc.message, errors=exc.problems) from None
        async with self._login_lock:
            await self._store.pms.start_login(
                NewPendingLogin(self._vault.seal(start.pending or {}), start.expires_at or 0)
            )
        self._logins.expect_redirect(self.caught_redirect)
        log.info("PMS OAuth login started; waiting for the redirect")
        return {**await self.pms_get(), "next_step": start.next_step}

    async def pms_complete(self, redirect_url: str | None, code: str | None) -> dict[str, Any]:
        """Finish the OAuth login: exchange the code, verify, store the sealed token set."""
        if not (redirect_url or code):
            raise InvalidArgument(
                "Paste the address the browser ended on (or the code).",
                errors=[{"field": "redirect_url", "message": "redirect_url or code is required"}],
            )
        try:
            return await self._complete(redirect_url, code)
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None

    async def caught_redirect(self, url: str, state: str | None) -> bool:
        """The loopback listener's redirect, if it belongs to the PMS login in progress."""
        pending = await self._pending()
        if pending is None or state is None or bex_oauth.pending_state(pending) != state:
            return False
        await self._complete(url, None)
        return True

    async def _complete(self, redirect_url: str | None, code: str | None) -> dict[str, Any]:
        # One at a time: the pasted URL and the loopback listener must not both spend the code
        # (a replayed code makes the server revoke what the first exchange got).
        async with self._login_lock:
            pending = await self._pending()
            if pending is None:
                raise ValidationFailed(
                    "No PMS OAuth login is in progress: start one with pms.connect and auth "
                    '"oauth" (a login that already completed cannot be completed twice).',
                    errors=[
                        {"field": "redirect_url", "message": 'call pms.connect with auth "oauth"'}
                    ],
                )
            settings = self._oauth_settings()
            try:
                token = await bex_oauth.complete_login(
                    settings,
                    pending,
                    redirect_url=redirect_url,
                    code=code,
                    redirect_uri=self._logins.redirect_uri(),
                    now=self._clock().timestamp(),
                    transport=self._transport,
                )
                url = str(pending["base_url"])
                store = PmsTokenStore(self._store, self._vault, token, durable=False)
                client = self._oauth_client(url, store)
            except bex_oauth.PmsOAuthConfigError as exc:
                raise InvalidArgument(exc.message, errors=exc.problems) from None
            try:
                admins = await client.list_administrations()
            except ProviderError:
                await client.aclose()
                raise
            await self.store_connection(url, admins, token=store.token)
            store.durable = True
            self._replace_client(client, store)
        log.info("PMS connected with OAuth; %d administrations", len(admins))
        return await self.pms_get()

    async def _login_lost(self, detail: str) -> None:
        """The PMS refused the refresh: say so on the connection and in a notification."""
        detail = bex_oauth.pms_wording(auth_expired(PROVIDER, detail)).message
        message = (
            f"The PMS login stopped working ({detail}). Syncs wait until the PMS is connected "
            'again: pms.connect with auth "oauth", then pms.complete.'
        )
        self._lost = message
        note = await self._store.pms.mark_lost(
            message[:500],
            NewNotification("error", "Connect the PMS again", message, {"kind": "pms"}),
        )
        self._notifications.publish(note)
        log.warning("PMS OAuth login lost: %s", detail)

    async def store_connection(
        self,
        url: str,
        admins: list[PmsAdministration],
        *,
        api_key: str | None = None,
        token: Token | None = None,
    ) -> None:
        await self._store.pms.connect(
            base_url=url,
            auth="oauth" if token is not None else "api_key",
            api_key=self._vault.seal(api_key) if api_key else None,
            token=self._vault.seal({"token": token.to_json()}) if token is not None else None,
            message=f"Connected; {len(admins)} administrations available.",
            administrations=[
                Administration(a.id, a.number, a.name, a.currency, a.timezone) for a in admins
            ],
        )
        self._wake()

    # -- administrations ------------------------------------------------------------------
    async def list(self) -> list[dict[str, Any]]:
        return [administration_view(a) for a in await self._store.administrations.all()]

    async def get_row(self, admin_id: str) -> Administration:
        admin = await self._store.administrations.get(admin_id)
        if admin is None:
            raise NotFound(f"No administration with id {admin_id!r}.")
        return admin

    async def set_access(self, admin_id: str, access: bool, reason: str = "") -> dict[str, Any]:
        await self._access.change(await self.get_row(admin_id), access, reason)
        admin = administration_view(await self.get_row(admin_id))
        self._events.publish("administration.updated", admin)  # other TUIs update their lists
        return admin

    async def refused(self, admin_id: str, error: ProviderError) -> bool:
        """The PMS answered 403/404 for one administration: if BEX no longer lists it for this
        app, access was removed in BEX itself, with the same effect as unticking it here."""
        if error.provider != PROVIDER or error.status not in (403, 404):
            return False
        admin = await self._store.administrations.get(admin_id)
        if admin is None or not admin.access:
            return False
        try:
            listed = {a.id for a in await (await self.pms_client()).list_administrations()}
        except ProviderError:
            return False  # the PMS itself is the problem (its login, an outage), not access
        if admin_id in listed:
            return False
        reason = f"BEX no longer gives this app access to it (HTTP {error.status})"
        log.warning("administration %s %s: %s", admin.number, admin.name, reason)
        await self.set_access(admin_id, False, reason)
        return True
