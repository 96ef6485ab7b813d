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
import sqlite3
from typing import Any

import httpx

from daemon.rpc.errors import InvalidParams, NotFound, ProviderFailure, ValidationFailed
from daemon.services.common import iso
from providers.bex import oauth as bex_oauth
from providers.bex.client import BexClient
from providers.bex.mapping import PROVIDER, RATE_LIMIT
from providers.bex.models import PmsAdministration
from providers.errors import ProviderError, auth_expired, rejected
from providers.redact import register_secret
from providers.tokens import Token

log = logging.getLogger("bexsync.pms")
API_KEY_RE = re.compile(r"[\x21-\x7e]{1,500}")

NOT_CONNECTED = (
    "No PMS connection yet: call pms.connect with the API base URL and an API key, or with "
    'auth "oauth" and then pms.complete.'
)


def shape(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "name": row["name"],
        "currency": row["currency"],
        "timezone": row["timezone"],
        "access": bool(row["access"]),
    }


class PmsTokenStore:
    """The PMS's OAuth token set, sealed in ``pms_connection.token``.

    Not ``durable`` while a new login is being verified (nothing is stored before the PMS has
    answered) nor once the connection was replaced (a retired client must not overwrite the
    new login's tokens); durable saves are committed before ``save`` returns.
    """

    def __init__(self, app: Any, token: Token | None = None, *, durable: bool = True) -> None:
        self.app = app
        self.token = token
        self.durable = durable

    async def load(self) -> Token | None:
        if self.token is None:
            row = await self.app.db.fetchone("SELECT token FROM pms_connection WHERE id = 1")
            if row is not None and row["token"]:
                self.token = Token.from_json(self.app.unseal(row["token"])["token"])
        return self.token

    async def save(self, token: Token) -> None:
        if self.durable:
            await self.app.db.execute(
                "UPDATE pms_connection SET token = ?, updated_at = ? "
                "WHERE id = 1 AND auth = 'oauth'",
                (self.app.seal({"token": token.to_json()}), iso(self.app.clock())),
            )
        self.token = token


class Administrations:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._client: BexClient | None = None
        self._store: PmsTokenStore | None = None  # the shared client's, when it uses OAuth
        self._lost: str | None = None  # the OAuth login was refused: why, until reconnected
        self._retired: list[BexClient] = []
        self._login_lock = asyncio.Lock()

    # -- PMS connection -------------------------------------------------------------------
    async def pms_row(self) -> sqlite3.Row | None:
        return await self.app.db.fetchone("SELECT * FROM pms_connection WHERE id = 1")

    async def _pending(self) -> dict[str, Any] | None:
        row = await self.app.db.fetchone("SELECT data FROM pms_pending_login WHERE id = 1")
        return self.app.unseal(row["data"]) if row is not None else None

    async def pms_get(self) -> dict[str, Any]:
        row = await self.pms_row()
        pending = await self.app.db.fetchval(
            "SELECT count(*) FROM pms_pending_login WHERE expires_at > ?",
            (self.app.clock().timestamp(),),
        )
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
            "kind": row["kind"],
            "base_url": row["base_url"],
            "auth": row["auth"],
            "status": row["status"],
            "message": row["message"],
            "login_pending": bool(pending),
        }

    def client(
        self, base_url: str, api_key: str | None, *, auth: httpx.Auth | None = None
    ) -> BexClient:
        return BexClient(
            base_url,
            api_key=api_key,
            auth=auth,
            transport=self.app.pms_transport,
            page_size=self.app.config.pms_page_size,
            limiters=self.app.limiters,
            rate_limit=dataclasses.replace(
                RATE_LIMIT,
                calls=self.app.config.pms_calls_per_15min,
                burst=(self.app.config.pms_calls_per_minute, 60.0),
            ),
        )

    def _oauth_settings(self) -> bex_oauth.PmsOAuthSettings:
        return bex_oauth.PmsOAuthSettings.from_table(self.app.config.pms)

    def _oauth_client(self, base_url: str, store: PmsTokenStore) -> BexClient:
        """A client whose bearer token refreshes through ``store``; raises PmsOAuthConfigError."""
        app = bex_oauth.oauth_app(self._oauth_settings(), base_url)

        async def lost(detail: str) -> None:
            if store is self._store:  # a retired client's login is no longer ours to judge
                await self._login_lost(detail)

        auth = bex_oauth.bearer_auth(
            app,
            store,
            clock=lambda: self.app.clock().timestamp(),
            transport=self.app.pms_transport,
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
        if row["status"] == "error":
            self._lost = row["message"]
            raise auth_expired(PROVIDER, row["message"])
        if self._client is not None:  # built by a concurrent caller meanwhile: ONE refresher
            return self._client
        if row["auth"] == "oauth":
            store = PmsTokenStore(self.app)
            try:
                client = self._oauth_client(row["base_url"], store)
            except bex_oauth.PmsOAuthConfigError as exc:
                raise rejected(PROVIDER, exc.message) from None
            self._client, self._store = client, store
        else:
            self._client, self._store = self.client(row["base_url"], self._key(row)), None
        return self._client

    def _replace_client(self, client: BexClient, store: PmsTokenStore | None) -> None:
        """Swap the shared client; the old one may still serve a sync, so it closes at stop."""
        if self._store is not None:
            self._store.durable = False
        if self._client is not None:
            self._retired.append(self._client)
        self._client, self._store, self._lost = client, store, None

    async def aclose(self) -> None:
        clients = [*self._retired, *([self._client] if self._client else [])]
        self._client, self._store, self._retired = None, None, []
        for client in clients:
            await client.aclose()

    def _key(self, row: sqlite3.Row | None) -> str | None:
        """The stored PMS key (sealed like every credential when a key file is set)."""
        if row is None or not row["api_key"]:
            return None
        key = self.app.unseal(row["api_key"])
        register_secret(key)
        return str(key)

    async def _base_url(self, base_url: str | None, row: sqlite3.Row | None) -> str:
        url = base_url or (row["base_url"] if row else None) or self.app.config.pms.get("api_url")
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
            raise InvalidParams(
                f"Unknown PMS login {mode!r}.",
                errors=[{"field": "auth", "message": 'one of "api_key", "oauth"'}],
            )
        if mode == "oauth" and api_key is not None:
            raise InvalidParams(
                "An API key is not used with an OAuth login.",
                errors=[{"field": "api_key", "message": 'leave it out with auth "oauth"'}],
            )
        row = await self.pms_row()
        url = await self._base_url(base_url, row)
        if mode == "oauth":
            return await self._begin_oauth(url)
        key = api_key or self._key(row)
        if not key:
            raise InvalidParams(
                "The PMS API key is missing.",
                errors=[{"field": "api_key", "message": 'required, or use auth "oauth"'}],
            )
        if not API_KEY_RE.fullmatch(key):  # it goes into an HTTP header as it is
            raise InvalidParams(
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
                redirect_uri=self.app.oauth_redirect_uri(),
                now=self.app.clock().timestamp(),
            )
        except bex_oauth.PmsOAuthConfigError as exc:
            raise InvalidParams(exc.message, errors=exc.problems) from None
        async with self._login_lock:
            await self.app.db.execute(
                "INSERT INTO pms_pending_login (id, data, expires_at) VALUES (1, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET data = excluded.data, "
                "expires_at = excluded.expires_at",
                (self.app.seal(start.pending), start.expires_at or 0),
            )
        self.app.expect_redirect(None, start.pending)
        log.info("PMS OAuth login started; waiting for the redirect")
        return {**await self.pms_get(), "next_step": start.next_step}

    async def pms_complete(self, redirect_url: str | None, code: str | None) -> dict[str, Any]:
        """Finish the OAuth login: exchange the code, verify, store the sealed token set."""
        if not (redirect_url or code):
            raise InvalidParams(
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
                    redirect_uri=self.app.oauth_redirect_uri(),
                    now=self.app.clock().timestamp(),
                    transport=self.app.pms_transport,
                )
                url = str(pending["base_url"])
                store = PmsTokenStore(self.app, token, durable=False)
                client = self._oauth_client(url, store)
            except bex_oauth.PmsOAuthConfigError as exc:
                raise InvalidParams(exc.message, errors=exc.problems) from None
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
        async with self.app.db.transaction() as conn:
            await conn.execute(
                "UPDATE pms_connection SET status = 'error', message = ?, updated_at = ? "
                "WHERE id = 1",
                (message[:500], iso(self.app.clock())),
            )
            note = await self.app.notifications.add(
                conn, "error", "Connect the PMS again", message, {"kind": "pms"}
            )
        self.app.notifications.publish(note)
        log.warning("PMS OAuth login lost: %s", detail)

    async def store_connection(
        self,
        url: str,
        admins: list[PmsAdministration],
        *,
        api_key: str | None = None,
        token: Token | None = None,
    ) -> None:
        now = iso(self.app.clock())
        message = f"Connected; {len(admins)} administrations available."
        auth = "oauth" if token is not None else "api_key"
        sealed_token = self.app.seal({"token": token.to_json()}) if token is not None else None
        async with self.app.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO pms_connection (id, kind, base_url, api_key, auth, token, status, "
                "message, updated_at) VALUES (1, 'bex', ?, ?, ?, ?, 'connected', ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET base_url = excluded.base_url, "
                "api_key = excluded.api_key, auth = excluded.auth, token = excluded.token, "
                "status = excluded.status, message = excluded.message, "
                "updated_at = excluded.updated_at",
                (
                    url,
                    self.app.seal(api_key) if api_key else None,
                    auth,
                    sealed_token,
                    message,
                    now,
                ),
            )
            await conn.execute("DELETE FROM pms_pending_login")  # superseded by this one
            for a in admins:
                await conn.execute(
                    "INSERT INTO administrations (id, number, name, currency, timezone) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET number = excluded.number,"
                    " name = excluded.name, currency = excluded.currency, "
                    "timezone = excluded.timezone",
                    (a.id, a.number, a.name, a.currency, a.timezone),
                )
        self.app.wake_scheduler()

    # -- administrations ------------------------------------------------------------------
    async def list(self) -> list[dict[str, Any]]:
        rows = await self.app.db.fetchall("SELECT * FROM administrations ORDER BY number, id")
        return [shape(r) for r in rows]

    async def get_row(self, admin_id: str) -> sqlite3.Row:
        row = await self.app.db.fetchone("SELECT * FROM administrations WHERE id = ?", (admin_id,))
        if row is None:
            raise NotFound(f"No administration with id {admin_id!r}.")
        return row

    async def set_access(self, admin_id: str, access: bool) -> dict[str, Any]:
        await self.get_row(admin_id)
        await self.app.db.execute(
            "UPDATE administrations SET access = ? WHERE id = ?", (int(access), admin_id)
        )
        admin = shape(await self.get_row(admin_id))
        self.app.bus.publish("administration.updated", admin)  # other TUIs update their lists
        return admin
