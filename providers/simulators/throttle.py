"""The simulators' rate limit: a sliding window of request times, as the real APIs count."""

from __future__ import annotations

from collections import deque


def take_slot(
    window: deque[float], now: float, calls: int, per: float
) -> tuple[float | None, int, float]:
    """Admit one request at ``now`` into ``window`` (at most ``calls`` per ``per`` seconds).

    Returns ``(retry_after or None, remaining, reset seconds)``; a refused request is not counted.
    """
    while window and window[0] <= now - per:
        window.popleft()
    if len(window) >= calls:
        wait = window[0] + per - now
        return max(wait, 0.01), 0, wait
    window.append(now)
    return None, calls - len(window), window[0] + per - now
