"""Serve a simulator's ASGI app over real HTTP on 127.0.0.1, inside the caller's event loop.

The demo and the tests reach every simulated API exactly as they would reach the real one: through
a base URL. Binding to port 0 lets many simulators run side by side without clashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn


class _PromptServer(uvicorn.Server):
    """A uvicorn server that stops as soon as it is told to.

    uvicorn's main loop polls ``should_exit`` every 0.1 s, which made every simulator's stop
    cost about 0.1 s (thousands of times over the test suite); this one waits on an event and
    still refreshes the Date header once a second.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_now = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn takes SIGINT/SIGTERM over while it serves; the host process (the daemon
        running the demo's simulators, a test) owns its signals."""
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown without its fixed 0.1 s pauses: close, let idle connections go,
        give requests in flight up to ``timeout_graceful_shutdown`` to finish."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while state.connections or state.tasks:
                    await asyncio.sleep(0.005)
        for task in list(state.tasks):
            task.cancel()
        for server in self.servers:
            await server.wait_closed()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # on_tick refreshes the Date header every 10th
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.exit_now.wait()


class SimulatorServer:
    """A uvicorn server for one ASGI app, bound to 127.0.0.1 on a free (or given) port."""

    def __init__(self, app: Any, *, port: int = 0, name: str = "simulator") -> None:
        self.app = app
        self.name = name
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._server: _PromptServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError(f"{self.name} is not started")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: without it every answer on a kept-alive connection
        # waits ~40 ms for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self._requested_port))
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = _PromptServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=self.name)
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.exit_now.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close()
        self._server = self._task = self._sock = None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def serve(app: Any, *, name: str = "simulator") -> AsyncIterator[str]:
    """Serve ``app`` for the duration of the block and yield its base URL."""
    server = SimulatorServer(app, name=name)
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()
