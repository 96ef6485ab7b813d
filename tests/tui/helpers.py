"""Helpers for Pilot tests: what the user sees as text, and waiting for it."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

DEFAULT_TIMEOUT = 5.0


@asynccontextmanager
async def tui_on_daemon(socket_path: Path, tmp_path: Path) -> AsyncIterator[Pilot[Any]]:
    """The TUI at 80x24 on a daemon a test started itself, with its own reconnecting client."""
    from bexsync_tui.app import BexsyncApp
    from bexsync_tui.client import ReconnectingClient

    client = ReconnectingClient(str(socket_path), backoff_max=0.3)
    await client.start(wait=10)
    app = BexsyncApp(
        client=client,
        socket_path=str(socket_path),
        keymap={},
        keymap_path=tmp_path / "tui.toml",
        down_grace=0.05,
        sixteen_colours=False,
    )
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            yield pilot
    finally:
        await client.close()


def screen_text(app: App[Any]) -> str:
    """The current screen as plain text, the way ``export_screenshot`` renders it."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def wait_until(
    pilot: Pilot[Any],
    predicate: Callable[[], object],
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "condition",
) -> None:
    """Let the app run until ``predicate()`` is true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause(0.02)
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")


async def wait_text(pilot: Pilot[Any], *texts: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Wait until every text is on screen; returns the screen text."""
    found = ""

    def shown() -> bool:
        nonlocal found
        found = screen_text(pilot.app)
        return all(t in found for t in texts)

    try:
        await wait_until(pilot, shown, timeout, f"{texts!r} on screen")
    except AssertionError:
        raise AssertionError(f"{texts!r} not on screen:\n{found}") from None
    return found


async def wait_no_text(pilot: Pilot[Any], text: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    found = ""

    def gone() -> bool:
        nonlocal found
        found = screen_text(pilot.app)
        return text not in found

    try:
        await wait_until(pilot, gone, timeout, f"{text!r} gone")
    except AssertionError:
        raise AssertionError(f"{text!r} still on screen:\n{found}") from None
    return found


def toasts(app: App[Any]) -> list[str]:
    """Title and message of every notification (toast) the app raised."""
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def wait_toast(pilot: Pilot[Any], text: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    match = ""

    def raised() -> bool:
        nonlocal match
        match = next((t for t in toasts(pilot.app) if text in t), "")
        return bool(match)

    try:
        await wait_until(pilot, raised, timeout, f"a toast with {text!r}")
    except AssertionError:
        raise AssertionError(f"no toast with {text!r}; toasts: {toasts(pilot.app)}") from None
    return match
