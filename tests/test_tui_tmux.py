"""End to end in a real terminal: ``bexsync demo`` in tmux at 80x24, driven by keystrokes.

The demo starts a real ``bexsyncd --demo`` child process, the TUI talks to it over its Unix
socket; the test reads the screen as a person would (``capture-pane``) after each step and, after
ctrl+q, checks that the demo daemon is gone and its temporary state removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.waiting import HANG_S, until_sync

ROOT = Path(__file__).resolve().parents[1]
STEP_TIMEOUT = 30.0
NEW_DESCRIPTION = "Cash corrected"
SELECTED = "\x1b[38;5;253m\x1b[48;5;32m"
"""How the default theme draws selected text in a focused input on a 256-colour terminal
(app.tcss: the selection in $primary on the focus colour)."""

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (CI installs it)"
)


class Tmux:
    """One tmux server on its own socket (``-L``), one session running the command."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.name, *args], capture_output=True, text=True, timeout=10
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def alive(self) -> bool:
        done = subprocess.run(
            ["tmux", "-L", self.name, "has-session", "-t", "demo"], capture_output=True
        )
        return done.returncode == 0

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "demo")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "demo", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "demo", "-l", text)

    def wait(self, what: str, ok: Callable[[str], bool], timeout: float = STEP_TIMEOUT) -> str:
        """Poll the screen until ``ok(screen)``; fail with the last screen after ``timeout``."""
        text = ""

        def shown() -> bool:
            nonlocal text
            text = self.screen()
            return ok(text)

        until_sync(shown, lambda: f"{what}; the screen:\n{text}", timeout, every=0.1)
        return text

    def wait_text(self, *texts: str, timeout: float = STEP_TIMEOUT) -> str:
        return self.wait(repr(texts), lambda s: all(t in s for t in texts), timeout)

    def wait_focus(self, what: str, text: str, timeout: float = STEP_TIMEOUT) -> None:
        """Wait until an input whose text matches ``text`` is focused: all of its text is
        selected on focus, drawn on the selection colour (256-colour terminal, default theme)."""
        focused = re.compile(re.escape(SELECTED) + text)
        raw = ""

        def shown() -> bool:
            nonlocal raw
            raw = self.run("capture-pane", "-e", "-p", "-t", "demo")
            return bool(focused.search(raw))

        until_sync(shown, lambda: f"focus on {what}; the screen:\n{raw}", timeout)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True, timeout=10)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc): the pane's shell, the TUI, the daemon."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [child for child, p in parents.items() if p == parent]
        found += kids
        todo += kids
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def running(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def unread(screen: str) -> int:
    match = re.search(r"3 Notifications(?: \((\d+)\))?", screen)
    assert match, screen
    return int(match.group(1) or 0)


def toasts_of(screen: str, title: str) -> int:
    """How many toasts with this title are on screen (the title is its own toast line)."""
    return sum(1 for line in screen.splitlines() if line.strip().endswith(f"▌ {title}"))


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory: the demo's socket path must stay well under the 108-byte limit."""
    path = Path(tempfile.mkdtemp(prefix="bxt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_demo_in_tmux_preview_correct_post_view_quit(short_tmp: Path) -> None:
    tmp_path = short_tmp
    tmux = Tmux(f"bexsync-test-{uuid.uuid4().hex[:8]}")
    env = {
        "TERM": "tmux-256color",  # 256 colours: the default theme, as a person's terminal
        "COLORTERM": "",
        "TMPDIR": str(tmp_path),  # the demo's temporary state dir lands here
        "BEXSYNC_TUI_CONFIG": str(tmp_path / "no-keymap.toml"),
        "PYTHONPATH": str(ROOT),
    }
    command = " ".join(
        [
            "env",
            *(f"{k}={v}" for k, v in env.items()),
            sys.executable,
            "-m",
            "bexsync_tui.cli",
            "demo",
        ]
    )
    daemon_pid = 0
    try:
        tmux.run(
            "new-session", "-d", "-s", "demo", "-x", "80", "-y", "24", "-c", str(ROOT), command
        )

        # The first screen: the demo's authorisation, connected to the demo daemon.
        screen = tmux.wait_text("Demo sandbox", "● connected", "^q Quit")
        row = next(line for line in screen.splitlines() if "Demo sandbox" in line)
        assert "sandbox" in row and "active" in row
        pane_pid = int(tmux.run("display-message", "-p", "-t", "demo", "#{pane_pid}"))
        demos = [p for p in descendants(pane_pid) if "daemon.main" in cmdline(p)]
        assert len(demos) == 1, [cmdline(p) for p in descendants(pane_pid)]
        daemon_pid = demos[0]
        assert "--demo" in cmdline(daemon_pid) and str(tmp_path) in cmdline(daemon_pid)
        # The start-up catch-up never stacks a toast per finished sync.
        assert toasts_of(screen, "Sync finished") <= 1, screen

        # Its configurations by administration number; open 102 (monthly, manual).
        tmux.keys("Enter")
        tmux.wait_text("› Configurations", " 101 ", " 102 ", " 103 ")
        tmux.keys("Down", "Enter")
        screen = tmux.wait_text("Administration 102 · monthly", "no (manual)", "p Preview")

        # Preview the next due month: balanced lines from the PMS.
        tmux.keys("p")
        heading = re.compile(r"Period (\d{4}-\d{2}) ·")
        screen = tmux.wait(
            "the preview",
            lambda s: "✓ balanced" in s and " 1000 " in s and bool(heading.search(s)),
        )
        period_key = heading.search(screen).group(1)  # type: ignore[union-attr]

        # Change the first line's (cash) description in the line editor. Textual forwards
        # typed-ahead keys to the widget focused when they arrive, so each focus change is
        # waited for on screen: a focused field shows its text selected.
        tmux.keys("Enter")
        editor = re.compile(r"^ 1000\s+Cash \d{4}-\d{2}\s", re.M)
        tmux.wait("the line editor", lambda s: bool(editor.search(s)))
        tmux.wait_focus("the account field", "1000")
        tmux.keys("Tab")
        tmux.wait_focus("the description field", r"Cash \d{4}-\d{2}")
        tmux.type(NEW_DESCRIPTION)  # replaces the selected text
        tmux.wait_text(NEW_DESCRIPTION, "(Enter applies)")
        tmux.keys("Enter")
        screen = tmux.wait(
            "the daemon's re-validated draft",
            lambda s: (
                NEW_DESCRIPTION in s
                and "✓ balanced" in s
                and "(Enter applies)" not in s
                and "checking" not in s
                and not editor.search(s)
            ),
        )
        row = next(line for line in screen.splitlines() if NEW_DESCRIPTION in line)
        assert row.split()[0] == "1000"
        before = unread(screen)

        # Post: the sync starts, finishes, and a notification is added.
        tmux.keys("p")
        screen = tmux.wait_text(
            "Administration 102 · monthly", "Sync finished", "Press v to view it."
        )
        assert f"Posting {period_key}" in screen or f"Syncing {period_key}" in screen
        screen = tmux.wait("one more unread notification", lambda s: unread(s) == before + 1)

        def recent_row(s: str) -> str:
            return next((line for line in s.splitlines() if line.startswith(f" {period_key} ")), "")

        # The toast may cover the row's end a while (it names the configuration in full).
        screen = tmux.wait("the recent run", lambda s: "entry #" in recent_row(s))
        recent = recent_row(screen)
        assert "manual" in recent and "posted" in recent

        # The entries overview, on the new entry; its lines carry the correction.
        tmux.keys("v")
        screen = tmux.wait_text("Entries overview", f" 102   {period_key} ")
        tmux.keys("Enter")
        screen = tmux.wait_text(
            "Entry #", "administration 102", f"Period {period_key}", "lines · debit"
        )
        row = next(line for line in screen.splitlines() if line.startswith(" 1000 "))
        assert NEW_DESCRIPTION in row

        # ctrl+q quits the TUI and stops the demo daemon; its temporary state is removed.
        tmux.keys("C-q")
        with contextlib.suppress(AssertionError):  # the asserts below say which one is left
            until_sync(lambda: not (tmux.alive() or running(daemon_pid)), "both to end", HANG_S)
        assert not tmux.alive(), "the TUI did not exit"
        assert not running(daemon_pid), "the demo daemon is still running"
        assert not [p for p in tmp_path.iterdir() if p.name.startswith("bexsync-demo-")]
    finally:
        tmux.kill()
        if daemon_pid and running(daemon_pid):
            os.kill(daemon_pid, 9)


def demo_command(tmp_path: Path) -> str:
    env = {
        "TERM": "tmux-256color",
        "TMPDIR": str(tmp_path),  # the demo's temporary state dir lands here
        "BEXSYNC_TUI_CONFIG": str(tmp_path / "no-keymap.toml"),
        "PYTHONPATH": str(ROOT),
    }
    words = ["env", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m"]
    return " ".join([*words, "bexsync_tui.cli", "demo"])


@pytest.mark.parametrize("ending", ["terminal closed", "SIGTERM", "SIGKILL"])
def test_the_demo_daemon_ends_with_its_tui(short_tmp: Path, ending: str) -> None:
    """Closing the terminal (an SSH drop: SIGHUP), a SIGTERM or even a SIGKILL of the TUI
    leaves no demo daemon behind; the temporary state dir goes too, unless the TUI was killed
    outright (SIGKILL: nothing of it runs to clean up)."""
    tmux = Tmux(f"bexsync-test-{uuid.uuid4().hex[:8]}")
    daemon_pid = 0
    try:
        tmux.run(
            "new-session", "-d", "-s", "demo", "-x", "80", "-y", "24", "-c", str(ROOT),
            demo_command(short_tmp),
        )  # fmt: skip
        tmux.wait_text("Demo sandbox", "● connected")
        pane_pid = int(tmux.run("display-message", "-p", "-t", "demo", "#{pane_pid}"))
        tree = descendants(pane_pid)
        daemon_pid = next(p for p in tree if "daemon.main" in cmdline(p))
        tui_pid = next(p for p in [pane_pid, *tree] if "bexsync_tui.cli" in cmdline(p))
        assert [p for p in short_tmp.iterdir() if p.name.startswith("bexsync-demo-")]
        if ending == "terminal closed":
            tmux.kill()  # tmux hangs up the pane: SIGHUP, as an SSH drop does
        else:
            os.kill(tui_pid, getattr(signal, ending))
        with contextlib.suppress(AssertionError):  # the asserts below say which one is left
            until_sync(
                lambda: not (running(tui_pid) or running(daemon_pid)), "both to end", HANG_S
            )  # (the demo gives its daemon 15 s to stop, then kills it; a busy machine adds more)
        assert not running(tui_pid), "the TUI is still running"
        assert not running(daemon_pid), "the demo daemon is still running"
        left = [p for p in short_tmp.iterdir() if p.name.startswith("bexsync-demo-")]
        if ending != "SIGKILL":
            assert not left, left
    finally:
        tmux.kill()
        if daemon_pid and running(daemon_pid):
            os.kill(daemon_pid, 9)
