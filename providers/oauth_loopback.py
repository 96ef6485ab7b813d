"""A one-page HTTP listener on loopback that catches the provider's redirect after consent.

For sysadmins who tunnel the port (``ssh -L 53682:127.0.0.1:53682 server``): the browser on the
laptop is redirected to ``http://127.0.0.1:53682/callback?code=...&state=...``, the tunnel brings
that request here, and the daemon finishes the login without anyone pasting a URL. Pasting
still works when nothing listens; both paths end in ``complete_code_flow``.

Plain asyncio streams: one GET per connection, a short HTML answer, nothing else served.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import html
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from providers.errors import ProviderError

log = logging.getLogger(__name__)

MAX_REQUEST_HEAD = 16 * 1024
READ_TIMEOUT = 10.0


class LoopbackError(Exception):
    """The listener cannot start (port in use, no permission); the message says what to do."""


class LoopbackCatcher:
    """Listens on ``host:port`` and passes each ``/callback`` URL to ``on_redirect``.

    ``on_redirect(url)`` finishes the login (the daemon calls ``complete_code_flow``); when it
    raises a ``ProviderError`` the browser shows that error's message, which is secret-free.
    """

    def __init__(
        self,
        port: int,
        on_redirect: Callable[[str], Awaitable[None]],
        *,
        host: str = "127.0.0.1",
        path: str = "/callback",
    ) -> None:
        self.host = host
        self.path = path
        self._requested_port = port
        self._on_redirect = on_redirect
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the loopback catcher is not running")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def redirect_uri(self) -> str:
        """The redirect URI to register at the provider and to put in the authorize URL."""
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(
                self._handle, self.host, self._requested_port, reuse_address=True
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LoopbackError(
                    f"port {self._requested_port} on {self.host} is already in use; stop the "
                    "program using it or choose another oauth_loopback_port in bexsyncd.toml"
                ) from None
            if exc.errno == errno.EACCES:
                raise LoopbackError(
                    f"no permission to listen on port {self._requested_port}; use a port "
                    "above 1023 for oauth_loopback_port"
                ) from None
            raise LoopbackError(
                f"cannot listen on {self.host}:{self._requested_port}: {exc.strerror}"
            ) from None
        log.info("OAuth loopback listener on %s", self.redirect_uri)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await server.wait_closed()

    async def __aenter__(self) -> LoopbackCatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(READ_TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            if len(head) > MAX_REQUEST_HEAD:
                await _respond(writer, 431, "Request too large", "")
                return
            method, target = _request_line(head)
            if method != "GET" or target is None:
                await _respond(writer, 405, "Method not allowed", "")
                return
            if urlsplit(target).path != self.path:
                await _respond(writer, 404, "Not found", "")
                return
            status, title, text = await self._complete(f"http://{self.host}:{self.port}{target}")
            await _respond(writer, status, title, text)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _complete(self, url: str) -> tuple[int, str, str]:
        try:
            await self._on_redirect(url)
        except ProviderError as exc:
            log.warning("OAuth loopback: login not completed: %s", exc.message)
            return 400, "Login not completed", exc.message
        except Exception as exc:
            # Never log the exception text: it could quote the URL, which holds the code.
            log.error("OAuth loopback: completing the login failed (%s)", type(exc).__name__)
            return 500, "Login not completed", "bexsync could not finish the login; see its log."
        log.info("OAuth loopback: login completed")
        return 200, "Login complete", "You can close this tab; bexsync has your login."


def _request_line(head: bytes) -> tuple[str, str | None]:
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[1].startswith("/"):
        return "", None
    return parts[0], parts[1]


async def _respond(writer: asyncio.StreamWriter, status: int, title: str, text: str) -> None:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>bexsync: {html.escape(title)}</title></head>"
        "<body style='font-family:sans-serif;margin:3em'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    ).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(
        status, "Error"
    )
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Connection: close\r\n\r\n".encode("ascii")
        + body
    )
    await writer.drain()
