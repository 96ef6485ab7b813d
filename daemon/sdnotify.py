"""The sd_notify protocol without libsystemd: readiness, status, watchdog and stop messages.

systemd hands a `Type=notify` service the address of a datagram socket in `$NOTIFY_SOCKET`
(a path, or an abstract socket written with a leading `@`). Outside systemd the variable is unset
and every call here is a cheap no-op, so the daemon calls it unconditionally.

The watchdog ping is sent by a coroutine on the daemon's own event loop: if anything blocks the
loop, the pings stop and systemd kills and restarts the service (`WatchdogSec=`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

# A full notify queue (systemd busy) must not stall the event loop for long; give up after this.
SEND_TIMEOUT_S = 0.5


def _socket_address(value: str) -> str | bytes | None:
    """Translate `$NOTIFY_SOCKET` to an AF_UNIX address; None when unusable (e.g. vsock:)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


class Notifier:
    """Sends sd_notify messages to `$NOTIFY_SOCKET` (or `address`); a no-op when there is none.

    Sending never raises: a lost notification must not take the daemon down, and systemd going
    away (e.g. during shutdown of the machine) is not the daemon's problem.
    """

    def __init__(self, address: str | None = None, *, env: Mapping[str, str] | None = None):
        environ = os.environ if env is None else env
        raw = address if address is not None else environ.get("NOTIFY_SOCKET", "")
        self._address = _socket_address(raw) if raw else None
        if raw and self._address is None:
            log.warning("NOTIFY_SOCKET %r is not a Unix socket address; sd_notify disabled", raw)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens for notifications."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send `KEY=value` assignments in one datagram; True if it was delivered."""
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.settimeout(SEND_TIMEOUT_S)
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            log.debug("sd_notify %s not delivered: %s", assignments[0].split("=")[0], exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up finished: the socket accepts clients (systemd then reports `active`)."""
        fields = ["READY=1"]
        if status is not None:
            fields.append(_status_field(status))
        return self.notify(*fields)

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown began (on SIGTERM), so systemd does not mistake the exit for a crash."""
        fields = ["STOPPING=1"]
        if status is not None:
            fields.append(_status_field(status))
        return self.notify(*fields)

    def reloading(self) -> bool:
        """A configuration reload began; follow with `ready()` when it is done."""
        return self.notify("RELOADING=1")

    def status(self, text: str) -> bool:
        """The one-line status `systemctl status` shows (e.g. the next due sync)."""
        return self.notify(_status_field(text))

    def watchdog(self) -> bool:
        """Tell the watchdog we are alive."""
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, usec: int) -> bool:
        """Ask for more start/stop time (e.g. a long migration) before systemd gives up."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(usec)}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status_field(text: str) -> str:
    # STATUS= is one line: a newline would start a new (bogus) assignment.
    return "STATUS=" + " ".join(text.split())


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings (half of `$WATCHDOG_USEC`), or None when no watchdog applies to us.

    `$WATCHDOG_PID`, when set, names the process the watchdog is for; a child that inherited the
    environment must not ping on its parent's behalf.
    """
    environ = os.environ if env is None else env
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    return usec / 2 / 1_000_000


async def watchdog_loop(notifier: Notifier, interval: float | None = None) -> None:
    """Ping the watchdog from the event loop until cancelled.

    `interval` None means "from the environment" (half of `$WATCHDOG_USEC`); when there is no
    watchdog (or no notify socket) this returns at once. Because the ping runs on the loop, a
    loop blocked by synchronous code sends nothing, which is exactly what the watchdog is for.
    """
    if interval is None:
        interval = watchdog_interval()
    if interval is None or interval <= 0 or not notifier.enabled:
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)


def start_watchdog(notifier: Notifier, interval: float | None = None) -> asyncio.Task[None]:
    """Run `watchdog_loop` as a background task; cancel it on shutdown."""
    return asyncio.get_running_loop().create_task(
        watchdog_loop(notifier, interval), name="sd-watchdog"
    )


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel a background task (e.g. the watchdog) and wait for it to end."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _due_key(run: Mapping[str, Any]) -> tuple[int, float | str]:
    due = run.get("due_at")
    if isinstance(due, datetime):
        return (0, due.timestamp())
    try:
        return (0, datetime.fromisoformat(str(due)).timestamp())
    except ValueError:
        return (1, str(due))


def status_line(next_runs: Sequence[Mapping[str, Any]], attention: int = 0) -> str:
    """The STATUS= text from `daemon.status`'s `next_runs` (soonest first) and attention count.

    e.g. "next sync: configuration 3 period 2024-05 at 2024-06-01T02:00:00+02:00; 1 needs attention"
    """
    if next_runs:
        first = min(next_runs, key=_due_key)
        name = first.get("label") or f"configuration {first.get('configuration_id')}"
        text = f"next sync: {name} period {first.get('period')} at {first.get('due_at')}"
    else:
        text = "idle: no sync scheduled"
    if attention:
        text += f"; {attention} need{'s' if attention == 1 else ''} attention"
    return text
