"""What the services and the engine need of the event bus: a way to announce a change.

``daemon.events.EventBus`` is the implementation (it fans events out to RPC subscribers); the
units below the RPC layer see only this, so they do not depend on the RPC server.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventPublisher(Protocol):
    def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Announce ``data`` on ``topic`` (CONTRACT.md section 4); never blocks."""
