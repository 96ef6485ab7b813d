"""tests/support/waiting.py: what a wait returns, and what it says when it bounds a hang."""

from __future__ import annotations

import pytest

from tests.support.waiting import until, until_async, until_sync


async def test_each_wait_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", "found"])
    assert await until(lambda: next(answers)) == "found"

    async def asked() -> list[int]:
        return [1]

    assert await until_async(asked) == [1]
    polls = iter([False, 7])
    assert until_sync(lambda: next(polls)) == 7


async def test_a_hang_fails_with_what_was_awaited() -> None:
    async def never() -> None:
        return None

    with pytest.raises(AssertionError, match="waiting for the run to end"):
        await until(lambda: None, "the run to end", timeout=0.05)
    with pytest.raises(AssertionError, match="waiting for the listener"):
        await until_async(never, "the listener", timeout=0.05)
    with pytest.raises(AssertionError, match="waiting for the socket"):
        until_sync(lambda: None, "the socket", timeout=0.05)


def test_a_message_given_as_a_callable_shows_the_last_state_seen() -> None:
    seen: list[int] = []

    def poll() -> bool:
        seen.append(len(seen))
        return False

    with pytest.raises(AssertionError) as failed:
        until_sync(poll, lambda: f"a poll; {len(seen)} seen", timeout=0.05, every=0.01)
    assert f"a poll; {len(seen)} seen" in str(failed.value)  # asked at the end, not at the call
