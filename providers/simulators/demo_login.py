"""What the demo needs to log in to a simulator: the app secret in a file, a user who consents.

The daemon reads client secrets from files only (``client_secret_file``), so every simulator's
``demo_setup`` writes its registered app's secret the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx


def write_secret_file(path: Path, secret: str) -> str:
    """Write ``secret`` to ``path`` readable by the owner only; the path for the settings."""
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)
    return str(path)


async def follow_consent(url: str, title: str) -> str:
    """Play the user at a simulated consent page: the redirect URL the browser lands on."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as client:
        response = await client.get(url)
    location = response.headers.get("location")
    if response.status_code not in (302, 303) or not location:
        raise RuntimeError(f"the simulated {title} login answered HTTP {response.status_code}")
    return location


def consent_player(title: str) -> Callable[[str], Awaitable[str]]:
    """A ``browser_login`` for ``DemoProvider``: consents at the simulated ``title`` login."""

    async def browser_login(url: str) -> str:
        return await follow_consent(url, title)

    return browser_login
