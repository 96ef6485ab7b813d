"""The journal entries overview: what was posted where, newest first."""

from __future__ import annotations

from typing import Any

from daemon.errors import NotFound
from daemon.store.interface import Store
from daemon.views import entry_view


class Entries:
    def __init__(self, *, store: Store) -> None:
        self._store = store

    async def list(
        self,
        configuration_id: int | None,
        administration_id: str | None,
        period: str | None,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        entries = await self._store.entries.recent(
            configuration_id=configuration_id,
            administration_id=administration_id,
            period_prefix=period,
            limit=limit,
            offset=offset,
        )
        return [entry_view(e) for e in entries]

    async def get(self, entry_id: int) -> dict[str, Any]:
        entry = await self._store.entries.get(entry_id)
        if entry is None:
            raise NotFound(f"No entry with id {entry_id}.")
        return entry_view(entry)
