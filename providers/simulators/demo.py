"""What a provider simulator offers the demo (``bexsyncd --demo --demo-providers``).

Each simulator module ``providers.simulators.<provider id>`` exports
``async def demo_setup(workdir: Path) -> DemoProvider``: it starts its HTTP server(s) on
127.0.0.1 and says how the daemon reaches them (the ``[providers.<id>]`` table, exactly what a
user would put in the config file) and how the demo completes the login.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DemoProvider:
    provider_id: str
    # The [providers.<id>] table: *_url endpoint overrides, client_id, client_secret_file.
    settings: dict[str, Any]
    # Params for authorisations.complete (credentials form) or None when the login is a browser
    # step: then ``browser_login`` plays the user and returns the redirect URL to paste.
    complete: dict[str, Any] | None = None
    browser_login: Callable[[str], Awaitable[str]] | None = None
    create_settings: dict[str, Any] | None = None
    stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for stop in self.stop:
            await stop()
