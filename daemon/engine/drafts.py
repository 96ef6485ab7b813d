"""Drafts: a period's entry built for a look before it is posted, edited line by line, then
posted by a run (``syncs.run`` with ``draft_id``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from daemon.engine.building import DraftBuilder
from daemon.engine.choosing import choose_period
from daemon.engine.corrections import NO_SNAPSHOT, Corrections, source_lines
from daemon.entry_builder import Draft, DraftLine, Issue, LinesInputError, parse_lines
from daemon.errors import Conflict, NotFound, ProviderFailure, ValidationFailed
from daemon.formats import Clock, iso
from daemon.periods import Period
from daemon.provider_pool import ProviderPool
from daemon.services.access import require_access
from daemon.services.authorisations import active_authorisation
from daemon.services.configurations import find_configuration, schedule_of
from daemon.store.interface import Store
from daemon.store.records import Configuration, StoredDraft
from providers.errors import ProviderError

KEPT_WARNINGS = ("not_due", "already_posted", "no_snapshot")
"""The daemon's own warnings on a draft, kept when its lines are edited."""
CARRIED = ("kind", "corrects", "source_lines", "due_at", "early")
"""What a draft is (an entry or a correction) and the PMS lines it was built from: an edit of
its lines changes neither."""


class Drafts:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        builder: DraftBuilder,
        corrections: Corrections,
        pool: ProviderPool,
    ) -> None:
        self._store = store
        self._clock = clock
        self._builder = builder
        self._corrections = corrections
        self._pool = pool

    async def preview(self, config_id: int, key: str | None) -> dict[str, Any]:
        cfg = await find_configuration(self._store, config_id)
        await active_authorisation(self._store, cfg.authorisation_id)
        require_access(cfg)
        done = await self._store.periods.done(cfg.id) if key is None else set()
        period = choose_period(cfg, key, now=self._clock(), done=done, for_run=False)
        try:
            built = await self._builder.build(cfg, period)
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None
        draft, extra = await self._for_period(cfg, period, built)
        data = draft.as_dict()
        data.update(extra)
        data["source_lines"] = source_lines(built)  # the PMS's, whatever the user edits
        due = schedule_of(cfg).due_at(period)
        data["due_at"] = iso(due)
        data["early"] = due > self._clock()
        if due > self._clock():
            data["warnings"].append(
                {
                    "code": "not_due",
                    "message": f"Period {period.key} is not due until {iso(due)}: "
                    "the PMS may still add transactions to it.",
                    "details": {"due_at": iso(due)},
                }
            )
        draft_id = await self._store.drafts.create(config_id, period.key, data)
        return {"id": draft_id, **shown(data)}

    async def _for_period(
        self, cfg: Configuration, period: Period, built: Draft
    ) -> tuple[Draft, dict[str, Any]]:
        """A period not posted yet: its entry. A posted one: the correction of what changed in
        the PMS since its last posting (no lines when nothing did), to confirm before posting."""
        base = await self._corrections.baseline(cfg, period.key, built)
        if base is None:
            return built, {"kind": "entry", "corrects": None}
        found = await self._corrections.correction(cfg, period, built)
        if found is None:  # nothing changed: the user may still enter a correction here
            draft = await self._corrections.as_correction(cfg, period, built.with_lines([]))
        else:
            draft = found[0]
        issues = [
            {
                "code": "already_posted",
                "message": f"Period {period.key} is already posted. These lines are the "
                "correction: what changed in the PMS since it was last posted, in "
                f"{len(draft.lines)} line(s) totalling {draft.totals.debit:.2f}"
                + (
                    "; nothing to correct."
                    if not draft.lines
                    else ". Post them to correct it (bexsync sync --force)."
                ),
                "details": {"entry_id": base.corrects},
            }
        ]
        if not base.exact:
            issues.append({"code": "no_snapshot", "message": NO_SNAPSHOT, "details": {}})
        extra = {"kind": "correction", "corrects": base.corrects}
        draft = replace(draft, warnings=[*draft.warnings, *map(Issue.from_dict, issues)])
        return draft, extra

    async def record(self, draft_id: int) -> StoredDraft:
        draft = await self._store.drafts.get(draft_id)
        if draft is None:
            raise NotFound(f"No draft with id {draft_id}.")
        return draft

    async def get(self, draft_id: int) -> dict[str, Any]:
        row = await self.record(draft_id)
        return {"id": row.id, "status": row.status, **shown(row.data)}

    async def update(self, draft_id: int, raw_lines: Any) -> dict[str, Any]:
        row = await self.record(draft_id)
        if row.status != "open":
            raise Conflict(f"Draft {draft_id} was already {row.status}; preview again.")
        try:
            lines = parse_lines(raw_lines)
        except LinesInputError as exc:
            raise ValidationFailed("Some lines cannot be read.", errors=exc.errors) from None
        cfg = await find_configuration(self._store, row.configuration_id)
        try:
            known_accounts, known_taxes = await self._pool.chart(
                cfg.authorisation_id, cfg.tenant_id
            )
        except ProviderError as exc:
            raise ProviderFailure.from_provider_error(exc) from None
        data = row.data
        extra = [w for w in data["warnings"] if w["code"] in KEPT_WARNINGS]
        draft = Draft.from_dict(data).with_lines(
            _named(lines, known_accounts),
            known_accounts=known_accounts,
            known_tax_codes=known_taxes,
        )
        new = draft.as_dict()
        new["warnings"] += [w for w in extra if w not in new["warnings"]]
        for key in CARRIED:
            if key in data:
                new[key] = data[key]
        await self._store.drafts.update(draft_id, new)
        return {"id": draft_id, "status": "open", **shown(new)}


def _named(lines: list[DraftLine], known: dict[str, str]) -> list[DraftLine]:
    """Fill in account names the user did not type, from the provider's chart."""
    out = []
    for line in lines:
        if not line.account_name and line.account in known:
            line = replace(line, account_name=known[line.account])
        out.append(line)
    return out


def shown(data: dict[str, Any]) -> dict[str, Any]:
    """A stored draft as the API shows it: the PMS snapshot it keeps is the daemon's own."""
    return {k: v for k, v in data.items() if k != "source_lines"}
