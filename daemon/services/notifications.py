"""Notifications: written in the same transaction as the event they report, published after."""

from __future__ import annotations

from typing import Any

from daemon.publisher import EventPublisher
from daemon.store.interface import Store
from daemon.store.records import Notification
from daemon.views import notification_view


class Notifications:
    def __init__(self, *, store: Store, events: EventPublisher) -> None:
        self._store = store
        self._events = events

    def publish(self, notification: Notification | None) -> None:
        """Announce a notification the store wrote with the change it reports."""
        if notification is not None:
            self._events.publish("notification.created", notification_view(notification))

    async def list(self, unread_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        notes = await self._store.notifications.recent(unread_only=unread_only, limit=limit)
        return [notification_view(n) for n in notes]

    async def unread_count(self) -> int:
        return await self._store.notifications.unread_count()

    async def mark_read(self, notification_id: int | None, all_: bool) -> int:
        return await self._store.notifications.mark_read(None if all_ else notification_id)
