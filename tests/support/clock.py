"""A clock a test moves by hand (``DaemonApp(clock=...)``): the daemon's time stands still
until the test says a day has passed."""

from __future__ import annotations

from datetime import datetime


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
