"""Notifications: written in the same transaction as the event they report, published after."""

from __future__ import annotations

from typing import Any

from daemon.store.records import NewNotification, Notification


def shape(note: Notification) -> dict[str, Any]:
    return {
        "id": note.id,
        "level": note.level,
        "title": note.title,
        "body": note.body,
        "created_at": note.created_at,
        "read": note.read,
        "link": note.link,
    }


class Notifications:
    def __init__(self, app: Any) -> None:
        self.app = app

    def publish(self, notification: Notification | None) -> None:
        """Announce a notification the store wrote with the change it reports."""
        if notification is not None:
            self.app.bus.publish("notification.created", shape(notification))

    async def create(
        self, level: str, title: str, body: str, link: dict[str, Any] | None = None
    ) -> Notification:
        note = await self.app.store.notifications.create(NewNotification(level, title, body, link))
        self.publish(note)
        return note

    async def list(self, unread_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        notes = await self.app.store.notifications.recent(unread_only=unread_only, limit=limit)
        return [shape(n) for n in notes]

    async def unread_count(self) -> int:
        return int(await self.app.store.notifications.unread_count())

    async def mark_read(self, notification_id: int | None, all_: bool) -> int:
        return int(await self.app.store.notifications.mark_read(None if all_ else notification_id))
