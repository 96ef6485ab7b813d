"""A posted period that changed in the PMS: the difference to post as a correction (never a
second entry), and the drift check that notices such a change once per new difference.

Both compare the PMS now with the PMS at the period's last posting (the entry's source
snapshot), each mapped through the configuration's current account and VAT maps: a hand edit of
a posted entry is the bookkeeper's, and neither a re-sync nor the drift check undoes or reports
it. An entry posted before snapshots were kept gets one rebuilt from the PMS at first use when
the PMS still matches what was posted; otherwise the comparison is with what was posted (hand
edits included), and the user is told.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from daemon.engine.building import DraftBuilder
from daemon.entry_builder import Draft, DraftLine, reference_for
from daemon.errors import Conflict
from daemon.formats import dumps
from daemon.labels import titled
from daemon.periods import Period
from daemon.services.configurations import find_configuration
from daemon.services.notifications import Notifications
from daemon.store.interface import Store
from daemon.store.records import Configuration, Entry, JsonObject, NewNotification

ZERO = Decimal("0")

PostedTotals = dict[tuple[str, str | None], Decimal]
"""Net amount (debit - credit) per (account, VAT code), over a period's entry and corrections."""


NO_SNAPSHOT = (
    "bexsync kept no snapshot of the PMS when this period was posted (before version 5 of its "
    "database) and the PMS no longer matches the posted entry, so it is compared with what was "
    "posted: any hand edit of that entry shows as a difference too."
)


@dataclass(frozen=True)
class Baseline:
    """What a period's postings so far stand for, as net amounts per (account, VAT code)."""

    totals: PostedTotals
    corrects: int  # the period's entry
    names: dict[str, str]
    exact: bool  # from the PMS snapshot; False: from the posted lines (hand edits included)


def source_totals(
    lines: list[JsonObject], cfg: Configuration
) -> tuple[PostedTotals, dict[str, str]]:
    """Snapshot lines mapped through the configuration's current account and VAT maps."""
    totals: PostedTotals = defaultdict(lambda: ZERO)
    names: dict[str, str] = {}
    for line in lines:
        src_account, src_vat = line.get("source_account"), line.get("source_vat_code")
        account = str(
            cfg.account_map.get(src_account, src_account) if src_account else line["account"]
        )
        if src_vat:
            vat = cfg.vat_map.get(src_vat, src_vat)
        elif line.get("vat_code") == "":
            vat = ""  # an unknown BEX VAT code: as it was
        else:
            vat = cfg.no_vat_code
        totals[(account, vat)] += Decimal(line["debit"]) - Decimal(line["credit"])
        names.setdefault(account, line.get("account_name", ""))
    return dict(totals), names


def posted_totals(entries: list[Entry]) -> PostedTotals:
    totals: PostedTotals = defaultdict(lambda: ZERO)
    for posted in entries:
        for line in posted.lines or []:
            totals[(line["account"], line["vat_code"])] += Decimal(line["debit"]) - Decimal(
                line["credit"]
            )
    return {k: v for k, v in totals.items() if v}


def draft_totals(draft: Draft) -> PostedTotals:
    totals: PostedTotals = defaultdict(lambda: ZERO)
    for line in draft.lines:
        totals[(line.account, line.vat_code)] += line.debit - line.credit
    return {k: v for k, v in totals.items() if v}


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
        return posted_totals(entries) if entries else None

    async def baseline(self, cfg: Configuration, key: str, now: Draft) -> Baseline | None:
        """The PMS at the period's last posting (``now``: the PMS now, to rebuild a missing
        snapshot from); None if the period was never posted."""
        entries = await self._store.entries.for_period(cfg.id, key)
        if not entries:
            return None
        first = entries[0].id
        snapshots = [e for e in entries if e.source_lines is not None]
        if snapshots:
            totals, names = source_totals(snapshots[-1].source_lines or [], cfg)
            return Baseline(totals, first, names, exact=True)
        posted = posted_totals(entries)
        if not now.errors and draft_totals(now) == posted:
            # Nothing changed since, nothing was edited: the PMS now is the PMS then.
            await self._store.entries.set_source(entries[-1].id, source_lines(now))
            return Baseline(posted, first, {}, exact=True)
        return Baseline(posted, first, {}, exact=False)

    async def correction(
        self, cfg: Configuration, period: Period, draft: Draft
    ) -> tuple[Draft, Baseline] | None:
        """The correcting draft for what changed in the PMS since the last posting; None when
        nothing did (and a draft with errors as it is, for the run to report)."""
        base = await self.baseline(cfg, period.key, draft)
        if base is None:
            raise Conflict(f"Period {period.key} was never posted; there is nothing to correct.")
        if draft.errors:
            return draft, base
        diff = difference(draft, base.totals, base.names)
        if not diff:
            return None
        return await self.as_correction(cfg, period, draft.with_lines(diff)), base

    async def as_correction(self, cfg: Configuration, period: Period, draft: Draft) -> Draft:
        """A draft of correcting lines under the period's next correction reference (never the
        entry's own, which the provider would take for the entry already posted)."""
        count = await self._store.entries.corrections(cfg.id, period.key)
        reference = f"{reference_for(cfg.id, period.key)}:c{count + 1}"
        narration = draft.narration.split(" (bexsync:")[0].removeprefix("Correction of ")
        return replace(
            draft, reference=reference, narration=f"Correction of {narration} ({reference})"
        )

    async def check_drift(self, config_id: int, key: str) -> dict[str, Any] | None:
        """Has a posted, still-open period changed in the PMS? Notify once per new difference."""
        cfg = await find_configuration(self._store, config_id)
        if await self.posted(config_id, key) is None:
            return None
        period = Period.parse(cfg.frequency, key)
        draft = await self._builder.build(cfg, period)
        base = await self.baseline(cfg, key, draft)
        if base is None:
            return None
        diff = difference(draft, base.totals, base.names)
        if not diff:
            return None
        digest = hashlib.sha256(dumps([d.__dict__ for d in diff]).encode()).hexdigest()[:16]
        seen = await self._store.periods.source_hash(config_id, key)
        total = sum((d.debit for d in diff), ZERO)
        result = {"period": key, "lines": len(diff), "difference": f"{total:.2f}"}
        if seen == digest:
            return result
        caveat = "" if base.exact else " " + NO_SNAPSHOT
        note = await self._store.periods.record_drift(
            config_id,
            key,
            digest,
            NewNotification(
                "warning",
                titled("PMS changed after posting:", cfg, key),
                f"Back-dated bookings changed {key} after it was posted: {len(diff)} line(s), "
                f"{total:.2f} {cfg.currency} in total. Preview the period and sync it again "
                f"to post a correcting entry for that difference (bexsync sync --force).{caveat}",
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


def source_lines(draft: Draft) -> list[JsonObject]:
    """A draft's lines as a snapshot of the PMS (built, before any hand edit)."""
    return [line.as_dict() for line in draft.lines]


def difference(
    draft: Draft, posted: PostedTotals, known_names: dict[str, str] | None = None
) -> list[DraftLine]:
    """The lines that take what was posted to what the draft now says."""
    names: dict[str, str] = dict(known_names or {})
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
