"""Messages the event worker posts to the app; the app turns them into state and signals."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class DaemonConnected(Message):
    """The subscription is (re-)established; ``snapshot`` is the daemon's current state."""

    def __init__(self, snapshot: dict[str, Any], restarted: bool = False) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.restarted = restarted


class ConnectionChanged(Message):
    """The client's connection state: connecting, connected, reconnecting or down."""

    def __init__(self, state: str, error: str | None) -> None:
        super().__init__()
        self.state = state
        self.error = error


class ProgressPending(Message):
    """Progress arrived; the app drains its coalesced buffer (one message however many events).

    Replaceable by a later one so a backlog never forms even if several get queued.
    """

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressPending)


class DaemonEvent(Message):
    """Any other event from the daemon, by topic."""

    def __init__(self, topic: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.topic = topic
        self.data = data
