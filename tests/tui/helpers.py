"""Helpers for Pilot tests: what the user sees as text, and waiting for it."""

from __future__ import annotations

import html
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import OptionList, Select

DEFAULT_TIMEOUT = 30.0
"""Bounds a hang only: on a machine whose cores are busy a screen may take seconds."""


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
    record_toasts(app)
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            yield pilot
    finally:
        await client.close()


def screen_text(app: App[Any]) -> str:
    """The current screen as plain text: the cells of ``export_screenshot``'s SVG."""
    width, height = app.size
    grid = [[" "] * width for _ in range(height)]
    for x, y, text in _SVG_TEXT.findall(app.export_screenshot()):
        row = round((float(y) - _CHAR_HEIGHT) / _LINE_HEIGHT)
        col = round(float(x) / _CHAR_WIDTH)
        for char in html.unescape(text).replace("\xa0", " "):
            if 0 <= row < height and 0 <= col < width:
                grid[row][col] = char
            col += cell_len(char)
    return "\n".join("".join(line).rstrip() for line in grid) + "\n"


_SVG_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)" textLength=[^>]*>(.*?)</text>', re.S
)
_CHAR_HEIGHT = 20.0
"""Rich's SVG geometry (``Console.export_svg`` defaults): a cell is 20 x 0.61 px, a line 1.22
cells high; a text element's x and y place it on the grid."""
_CHAR_WIDTH = _CHAR_HEIGHT * 0.61
_LINE_HEIGHT = _CHAR_HEIGHT * 1.22


_RAISED: weakref.WeakKeyDictionary[App[Any], list[str]] = weakref.WeakKeyDictionary()


def record_toasts(app: App[Any]) -> App[Any]:
    """Keep every notification (toast) ``app.notify`` raises, for ``toasts``, until
    ``app.clear_notifications()``."""
    raised = _RAISED.setdefault(app, [])
    notify = app.notify

    def recorded(message: str, *, title: str = "", **options: Any) -> None:
        raised.append(f"{title}: {message}")
        notify(message, title=title, **options)

    clear = app.clear_notifications

    def cleared() -> None:
        raised.clear()
        clear()

    app.notify = recorded  # type: ignore[method-assign]
    app.clear_notifications = cleared  # type: ignore[method-assign]
    return app


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


async def wait_settled(pilot: Pilot[Any], timeout: float = DEFAULT_TIMEOUT) -> None:
    """Every short job (loads, saves) finished and the app idle: the frame a user would look
    at. The app's event listener ("daemon-events") lives as long as the app."""

    def settled() -> bool:
        return all(w.is_finished for w in pilot.app.workers if w.group != "daemon-events")

    await wait_until(pilot, settled, timeout, "the screen's jobs to finish")
    await pilot.pause()


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


def choices(select: Select[Any]) -> list[str]:
    """What a Select's dropdown lists, as the user reads it (the entries of its option list),
    without the blank entry that repeats the Select's prompt."""
    listed = select.query_one(OptionList)
    prompts = (str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count))
    return [prompt for prompt in prompts if prompt != select.prompt]


def toasts(app: App[Any]) -> list[str]:
    """Title and message of every notification (toast) the app raised (``record_toasts``)."""
    return list(_RAISED.get(app, []))


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
