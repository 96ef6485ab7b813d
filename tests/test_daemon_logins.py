"""Provider logins as the daemon runs them: the loopback listener catches a browser's redirect,
and a device-code login completes in the background once approved (issue 5)."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.support.daemon import demo_daemon, open_when_listening
from tests.support.waiting import HANG_S, until_async


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_logged_in(client, auth_id, timeout=HANG_S):
    async def logged_in():
        auth = await client.call("authorisations.get", {"id": auth_id})
        return auth if auth["logged_in"] else None

    return await until_async(logged_in, "the login to complete", timeout)


async def test_loopback_listener_completes_a_code_flow(tmp_path):
    port = free_port()
    config = {"daemon": {"oauth_loopback_port": port}}
    async with demo_daemon(tmp_path, providers="xero", config=config) as (app, client):
        demo = app.demo_providers["xero"]
        created = await client.call("authorisations.create", {"name": "Xero via ssh -L",
                                                              "provider": "xero"})  # fmt: skip
        step = created["next_step"]
        assert step["kind"] == "open_url"
        assert step["redirect_uri"] == f"http://127.0.0.1:{port}/callback"
        redirect = await demo.browser_login(step["url"])  # the user's browser, after consent
        assert redirect.startswith(step["redirect_uri"])
        async with httpx.AsyncClient() as browser:  # the forwarded port lands on the daemon
            page = await open_when_listening(browser, redirect)
        assert page.status_code == 200 and "close this tab" in page.text
        auth = await wait_logged_in(client, created["authorisation"]["id"])
        assert auth["status"] == "inactive" and not auth["login_pending"]
        active = await client.call("authorisations.activate", {"id": auth["id"]})
        assert active["status"] == "active"
        # A stray or replayed redirect is refused on the page and changes nothing.
        async with httpx.AsyncClient() as browser:
            stray = await browser.get(redirect)
        assert stray.status_code >= 400 or "close this tab" not in stray.text


@pytest.mark.slow(seconds=6)  # the daemon polls at the interval the provider gives (5 s)
async def test_device_code_login_completes_in_the_background(tmp_path):
    async with demo_daemon(tmp_path, providers="business_central") as (_app, client):
        created = await client.call(
            "authorisations.create", {"name": "BC device", "provider": "business_central"}
        )
        step = created["next_step"]
        assert step["kind"] == "device_code" and step["user_code"] and step["verification_uri"]
        # The demo's simulated user approves at once; the daemon polls at the given interval.
        auth = await wait_logged_in(client, created["authorisation"]["id"])
        assert auth["status"] == "inactive"
        assert (await client.call("authorisations.activate", {"id": auth["id"]}))["status"] == (
            "active"
        )
