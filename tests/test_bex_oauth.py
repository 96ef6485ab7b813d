"""The BEX client on OAuth2 (authorization code, then transparent refresh) against a real
authlib-based OAuth server and the BEX simulator, both over HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import date

import httpx

from providers import oauth
from providers.bex.client import BexClient
from providers.simulators.base import serve
from providers.simulators.bex import BexDataset, create_bex_app
from providers.simulators.oauth_server import (
    OAuthServerConfig,
    SimClient,
    create_oauth_app,
    oauth_state,
)
from providers.tokens import MemoryTokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_code_flow_then_refresh_on_expiry(tmp_path):
    clock = Clock()
    server = create_oauth_app(
        OAuthServerConfig(
            clients=(SimClient("bex-app", "bex-app-secret-123456"),),
            access_token_ttl=600,
            clock=clock,
        )
    )
    state = oauth_state(server)

    class IssuedTokens(set):
        def __contains__(self, token: object) -> bool:
            return state.check_bearer(str(token)) is not None

    pms = create_bex_app(
        BexDataset(1, date(2026, 11, 27)), api_key="unused-key-123", access_tokens=IssuedTokens()
    )
    async with serve(server) as auth_url, serve(pms) as pms_url:
        app = oauth.OAuthApp(
            provider="bex",
            client_id="bex-app",
            client_secret="bex-app-secret-123456",
            authorize_url=f"{auth_url}/authorize",
            token_url=f"{auth_url}/token",
            redirect_uri="http://127.0.0.1:8765/callback",
        )
        pending = oauth.begin_code_flow(app, now=clock())
        async with httpx.AsyncClient() as browser:
            redirect = (await browser.get(pending.url)).headers["location"]
        token = await oauth.complete_code_flow(app, pending, redirect_url=redirect, now=clock())
        store = MemoryTokenStore(token)
        manager = oauth.TokenManager(app, store, clock=clock)
        client = BexClient(pms_url, auth=oauth.BearerAuth(manager))
        try:
            subscription = await client.get_subscription()
            assert subscription.id
            admins = await client.list_administrations()
            assert [a.number for a in admins] == ["101", "102", "103"]
            first = (await store.load()).access_token
            clock.now += 3600  # the access token expired: the next call refreshes first
            accounts = await client.list_ledger_accounts(admins[0].id)
            assert any(a.number == "8000" for a in accounts)
            refreshed = await store.load()
            assert refreshed.access_token != first and refreshed.refresh_token
        finally:
            await client.aclose()
