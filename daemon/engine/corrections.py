"""A posted period that changed in the PMS: the difference to post as a correction (never a
second entry), and the drift check that notices such a change once per new difference."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from typing import Any

from daemon.engine.building import DraftBuilder
from daemon.entry_builder import Draft, DraftLine, reference_for
from daemon.formats import dumps
from daemon.periods import Period
from daemon.services.configurations import find_configuration
from daemon.services.notifications import Notifications
from daemon.store.interface import Store
from daemon.store.records import Configuration, NewNotification

ZERO = Decimal("0")

PostedTotals = dict[tuple[str, str | None], Decimal]
"""Net amount (debit - credit) per (account, VAT code), over a period's entry and corrections."""


class Corrections:
    def __init__(
        self, *, store: Store, builder: DraftBuilder, notifications: Notifications
    ) -> None:
        self._store = store
        self._builder = builder
        self._notifications = notifications

    async def posted(self, config_id: int, key: str) -> PostedTotals | None:
        """What was posted for the period so far; None if nothing was."""
        entries = await self._store.entries.for_period(config_id, key)
        if not entries:
            return None
        totals: PostedTotals = defaultdict(lambda: ZERO)
        for posted in entries:
            for line in posted.lines or []:
                net = Decimal(line["debit"]) - Decimal(line["credit"])
                totals[(line["account"], line["vat_code"])] += net
        return dict(totals)

    async def correction(self, cfg: Configuration, period: Period, draft: Draft) -> Draft | None:
        """The correcting draft for what changed since posting; None when nothing did (and a
        draft with errors as it is, for the run to report)."""
        posted = await self.posted(cfg.id, period.key) or {}
        if draft.errors:
            return draft
        diff = difference(draft, posted)
        if not diff:
            return None
        count = await self._store.entries.corrections(cfg.id, period.key)
        reference = f"{reference_for(cfg.id, period.key)}:c{count + 1}"
        # The difference is a draft of its own: with_lines recomputes totals and balance.
        return replace(
            draft.with_lines(diff),
            reference=reference,
            narration=f"Correction of {draft.narration} ({reference})",
        )

    async def check_drift(self, config_id: int, key: str) -> dict[str, Any] | None:
        """Has a posted, still-open period changed in the PMS? Notify once per new difference."""
        cfg = await find_configuration(self._store, config_id)
        posted = await self.posted(config_id, key)
        if posted is None:
            return None
        period = Period.parse(cfg.frequency, key)
        draft = await self._builder.build(cfg, period)
        diff = difference(draft, posted)
        if not diff:
            return None
        digest = hashlib.sha256(dumps([d.__dict__ for d in diff]).encode()).hexdigest()[:16]
        seen = await self._store.periods.source_hash(config_id, key)
        total = sum((d.debit for d in diff), ZERO)
        result = {"period": key, "lines": len(diff), "difference": f"{total:.2f}"}
        if seen == digest:
            return result
        note = await self._store.periods.record_drift(
            config_id,
            key,
            digest,
            NewNotification(
                "warning",
                f"PMS changed after posting: {cfg.administration_number} {key}",
                f"Back-dated bookings changed {key} after it was posted: {len(diff)} line(s), "
                f"{total:.2f} {cfg.currency} in total. Preview the period and sync it again "
                "to post a correcting entry (bexsync sync --force).",
                {
                    "kind": "entries",
                    "configuration_id": config_id,
                    "entry_id": None,
                    "period": key,
                    "action": "correction",
                },
            ),
        )
        self._notifications.publish(note)
        return result


def difference(draft: Draft, posted: PostedTotals) -> list[DraftLine]:
    """The lines that take what was posted to what the draft now says."""
    names: dict[str, str] = {}
    target: PostedTotals = defaultdict(lambda: ZERO)
    for line in draft.lines:
        target[(line.account, line.vat_code)] += line.debit - line.credit
        names[line.account] = line.account_name
    diff: list[DraftLine] = []
    for account, vat in sorted(set(target) | set(posted), key=lambda k: (k[0], k[1] or "")):
        net = target.get((account, vat), ZERO) - posted.get((account, vat), ZERO)
        if net == 0:
            continue
        diff.append(
            DraftLine(
                account=account,
                account_name=names.get(account, ""),
                description=f"Correction {draft.period} {account}" + (f" {vat}" if vat else ""),
                vat_code=vat,
                debit=net if net > 0 else ZERO,
                credit=-net if net < 0 else ZERO,
            )
        )
    return diff
