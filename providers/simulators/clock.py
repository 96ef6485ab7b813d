"""The simulators' clock: wall-clock time that tests can move forward."""

from __future__ import annotations

import time


class SimClock:
    """Wall-clock time plus an offset tests can advance (token expiry, rate-limit windows)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
