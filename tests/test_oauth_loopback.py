"""The loopback catcher finishing a real code flow from a (simulated) browser."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from providers.oauth import OAuthApp, begin_code_flow, complete_code_flow
from providers.oauth_loopback import LoopbackCatcher, LoopbackError
from providers.simulators.base import serve
from providers.simulators.oauth_server import (
    OAuthServerConfig,
    OAuthServerState,
    SimClient,
    create_oauth_app,
    oauth_state,
)
from providers.tokens import MemoryTokenStore


@pytest.fixture
async def provider() -> AsyncIterator[tuple[OAuthApp, OAuthServerState]]:
    config = OAuthServerConfig(
        clients=(SimClient("minox-app", "minox-secret-value", ("http://127.0.0.1/callback",)),)
    )
    oauth = create_oauth_app(config)
    async with serve(oauth) as url:
        app = OAuthApp(
            provider="minox",
            client_id="minox-app",
            client_secret="minox-secret-value",
            authorize_url=f"{url}/authorize",
            token_url=f"{url}/token",
            scopes=("journal:write",),
        )
        yield app, oauth_state(oauth)


class Daemon:
    """The daemon's side: one pending login, finished when the redirect arrives."""

    def __init__(self, app: OAuthApp) -> None:
        self.app = app
        self.store = MemoryTokenStore()
        self.pending = None

    async def on_redirect(self, url: str) -> None:
        assert self.pending is not None
        token = await complete_code_flow(self.app, self.pending, redirect_url=url)
        await self.store.save(token)


async def test_browser_redirect_to_the_catcher_completes_the_login(
    provider: tuple[OAuthApp, OAuthServerState],
) -> None:
    app, state = provider
    daemon = Daemon(app)
    async with LoopbackCatcher(0, daemon.on_redirect) as catcher:
        assert catcher.redirect_uri == f"http://127.0.0.1:{catcher.port}/callback"
        daemon.pending = begin_code_flow(app, redirect_uri=catcher.redirect_uri)
        async with httpx.AsyncClient(follow_redirects=True) as browser:
            page = await browser.get(daemon.pending.url)

    assert page.status_code == 200
    assert "You can close this tab; bexsync has your login." in page.text
    assert page.url.path == "/callback"  # the browser really landed on the catcher
    assert daemon.store.token is not None
    assert state.check_bearer(daemon.store.token.access_token) is not None


async def test_declined_consent_shows_the_reason_and_saves_nothing(
    provider: tuple[OAuthApp, OAuthServerState],
) -> None:
    app, state = provider
    state.deny_consent = True
    daemon = Daemon(app)
    async with LoopbackCatcher(0, daemon.on_redirect) as catcher:
        daemon.pending = begin_code_flow(app, redirect_uri=catcher.redirect_uri)
        async with httpx.AsyncClient(follow_redirects=True) as browser:
            page = await browser.get(daemon.pending.url)

    assert page.status_code == 400
    assert "Login not completed" in page.text and "declined" in page.text
    assert daemon.store.history == []


async def test_only_get_on_the_callback_path_is_served() -> None:
    async def never(url: str) -> None:
        raise AssertionError("not a callback")

    async with LoopbackCatcher(0, never) as catcher:
        base = f"http://127.0.0.1:{catcher.port}"
        async with httpx.AsyncClient() as browser:
            assert (await browser.get(f"{base}/favicon.ico")).status_code == 404
            assert (await browser.post(f"{base}/callback", data={"a": "b"})).status_code == 405


async def test_unexpected_failure_shows_a_generic_page_and_logs_no_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(url: str) -> None:
        raise RuntimeError(f"boom while handling {url}")

    caplog.set_level(logging.DEBUG, logger="providers")
    async with LoopbackCatcher(0, broken) as catcher, httpx.AsyncClient() as browser:
        page = await browser.get(f"{catcher.redirect_uri}?code=secret-code-value&state=s")
    assert page.status_code == 500
    assert "secret-code-value" not in page.text and "boom" not in page.text
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("providers")]
    assert any("RuntimeError" in m for m in ours)
    assert not any("secret-code-value" in m for m in ours)


async def test_port_in_use_is_a_clear_error_and_a_stopped_catcher_frees_its_port() -> None:
    async def ignore(url: str) -> None:
        return None

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        with pytest.raises(LoopbackError) as caught:
            await LoopbackCatcher(port, ignore).start()
        assert f"port {port}" in str(caught.value) and "already in use" in str(caught.value)
    finally:
        blocker.close()

    catcher = LoopbackCatcher(port, ignore)
    await catcher.start()
    assert catcher.running and catcher.port == port
    await catcher.stop()
    again = LoopbackCatcher(port, ignore)
    await again.start()
    await again.stop()
