"""The journal entries overview: what was posted where, newest first."""

from __future__ import annotations

from typing import Any

from daemon.errors import NotFound
from daemon.store.records import Entry


def shape(entry: Entry) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "id": entry.id,
        "configuration_id": entry.configuration_id,
        "administration_number": entry.administration_number,
        "period": entry.period,
        "kind": entry.kind,
        "reference": entry.reference,
        "date": entry.date,
        "provider": entry.provider,
        "external_id": entry.external_id,
        "total": f"{entry.total:.2f}",
        "line_count": entry.line_count,
        "posted_at": entry.posted_at,
        "run_id": entry.run_id,
    }
    if entry.lines is not None:
        shaped["lines"] = entry.lines
    return shaped


class Entries:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def list(
        self,
        configuration_id: int | None,
        administration_id: str | None,
        period: str | None,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        entries = await self.app.store.entries.recent(
            configuration_id=configuration_id,
            administration_id=administration_id,
            period_prefix=period,
            limit=limit,
            offset=offset,
        )
        return [shape(e) for e in entries]

    async def get(self, entry_id: int) -> dict[str, Any]:
        entry = await self.app.store.entries.get(entry_id)
        if entry is None:
            raise NotFound(f"No entry with id {entry_id}.")
        return shape(entry)
