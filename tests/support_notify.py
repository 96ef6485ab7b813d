"""A stand-in for systemd's notify socket, for tests that run code "as systemd would".

Usage (daemon end-to-end test):

    with NotifyListener() as sd:
        env = {**os.environ, **sd.env(watchdog_usec=2_000_000)}
        proc = subprocess.Popen(["bexsyncd", "--state-dir", str(tmp_path)], env=env)
        sd.wait_for("READY=1")
        sd.wait_for(lambda m: m.get("STATUS", "").startswith("next sync"))
        proc.send_signal(signal.SIGTERM)
        sd.wait_for("STOPPING=1")

Every datagram becomes a `NotifyMessage` with the sender's pid (SO_PASSCRED), so a test can
check that the main process, not a child, sent it (`NotifyAccess=main`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.waiting import HANG_S, Deadline

_CREDS = struct.Struct("iII")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class NotifyMessage:
    """One datagram: its assignments in order, arrival time (monotonic) and sender pid."""

    fields: tuple[tuple[str, str], ...]
    received_at: float
    pid: int | None = None
    raw: bytes = field(default=b"", repr=False)

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def has(self, assignment: str) -> bool:
        """True if the datagram contains exactly this `KEY=value` line."""
        key, _, value = assignment.partition("=")
        return (key, value) in self.fields


Predicate = Callable[[NotifyMessage], bool]


class NotifyListener:
    """Binds an AF_UNIX datagram socket and records every notification in a background thread.

    `abstract=True` binds an abstract socket and exports it as `@name` (as systemd may do).
    """

    def __init__(self, *, abstract: bool = False):
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = f"bexsync-test-notify-{os.getpid()}-{id(self):x}"
            self._sock.bind(b"\0" + name.encode())
            self.address = "@" + name
        else:
            # A short private dir keeps the path well under the 108-byte sun_path limit.
            self._dir = tempfile.TemporaryDirectory(prefix="sdn-")
            path = Path(self._dir.name) / "notify.sock"
            self._sock.bind(str(path))
            self.address = str(path)
        self._sock.settimeout(0.05)
        self._messages: list[NotifyMessage] = []
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def env(self, *, watchdog_usec: int | None = None, watchdog_pid: int | None = None) -> dict:
        """The variables systemd would set for the service."""
        env = {"NOTIFY_SOCKET": self.address}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        if watchdog_pid is not None:
            env["WATCHDOG_PID"] = str(watchdog_pid)
        return env

    def _run(self) -> None:
        space = socket.CMSG_SPACE(_CREDS.size)
        while not self._closed.is_set():
            try:
                data, ancdata, _flags, _addr = self._sock.recvmsg(65536, space)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            pid = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _CREDS.unpack(payload[: _CREDS.size])[0]
            fields = tuple(
                (k, v)
                for k, _, v in (line.partition("=") for line in data.decode().split("\n") if line)
            )
            with self._cond:
                self._messages.append(NotifyMessage(fields, now, pid, data))
                self._cond.notify_all()

    @property
    def messages(self) -> list[NotifyMessage]:
        with self._cond:
            return list(self._messages)

    def matching(self, match: str | Predicate) -> list[NotifyMessage]:
        pred = _predicate(match)
        return [m for m in self.messages if pred(m)]

    def wait_for(self, match: str | Predicate, timeout: float = HANG_S) -> NotifyMessage:
        """Block until a message matches (`"READY=1"` or a predicate); AssertionError on timeout.

        The timeout only bounds a hang: a loaded machine may take seconds to start a daemon."""
        pred = _predicate(match)

        def what() -> str:
            return f"a notification matching {match!r}; got {[m.raw for m in self._messages]}"

        deadline = Deadline(what, timeout)
        with self._cond:
            while not (found := next((m for m in self._messages if pred(m)), None)):
                deadline.check()
                self._cond.wait(deadline.left())
            return found

    async def async_wait_for(
        self, match: str | Predicate, timeout: float = HANG_S
    ) -> NotifyMessage:
        """`wait_for` for async tests: waits in a thread so the test's event loop keeps running."""
        return await asyncio.to_thread(self.wait_for, match, timeout)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        self._sock.close()
        if self._dir is not None:
            self._dir.cleanup()

    def __enter__(self) -> NotifyListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _predicate(match: str | Predicate) -> Predicate:
    if isinstance(match, str):
        return lambda m: m.has(match)
    return match
