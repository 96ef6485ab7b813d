"""Finding the configured journal among a provider's journals.

A configuration names its journal by id or by code (``BEX``); adapters keep the journal list
cached, so a miss is retried once on a fresh list before the entry is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

JournalRows = Callable[[bool], Awaitable[Sequence[Mapping[str, Any]]]]


async def find_journal_id(
    rows_for: JournalRows, ledger_id: str, id_key: str = "id", code_key: str = "code"
) -> int | None:
    """The id of the journal whose id is ``ledger_id``, else whose code is (any case).

    ``rows_for(refresh)`` gives the journal rows: the cached list first, then a fresh one.
    """
    for refresh in (False, True):
        rows = await rows_for(refresh)
        for row in rows:
            if str(row[id_key]) == ledger_id:
                return int(row[id_key])
        for row in rows:
            if str(row.get(code_key) or "").upper() == ledger_id.upper():
                return int(row[id_key])
    return None
