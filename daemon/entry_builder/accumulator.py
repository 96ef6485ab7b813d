"""Folding a stream of PMS journal transactions into a draft, in O(groups + invoices) memory."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from daemon.entry_builder.draft import (
    CENT,
    MAX_INVOICES,
    MAX_NAMED,
    ZERO,
    Draft,
    DraftLine,
    InvoiceRef,
    Issue,
    Sources,
    _names,
    _totals,
    _unbalanced,
    _unknown_accounts,
    _unknown_tax_codes,
    format_money,
    narration_for,
    reference_for,
)
from daemon.periods import Period
from providers.bex.models import JournalTransaction, LedgerAccount, VatCode

# --- building ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildContext:
    """Everything besides the transactions that decides what the entry looks like."""

    configuration_id: int
    period: Period
    administration_name: str
    currency: str
    ledger_id: str
    tenant_id: str | None
    accounts: Mapping[str, LedgerAccount]  # BEX ledger accounts by BEX id
    vat_codes: Mapping[str, VatCode]  # BEX VAT codes by BEX id
    account_map: Mapping[str, str] = field(default_factory=dict)  # BEX number -> provider code
    vat_map: Mapping[str, str] = field(default_factory=dict)  # BEX VAT code -> provider tax code
    no_vat_code: str | None = None  # provider tax code for lines without VAT
    known_accounts: Mapping[str, str] | None = None  # provider code -> name; None: not checked
    known_tax_codes: Collection[str] | None = None  # None: not checked

    @property
    def reference(self) -> str:
        return reference_for(self.configuration_id, self.period.key)


class _Sample:
    """Counts items and keeps the ``k`` smallest, in O(k) memory whatever the order of arrival.

    Keeping the smallest (not the first) makes what a draft names independent of page order.
    """

    __slots__ = ("_items", "_threshold", "count", "k")

    def __init__(self, k: int) -> None:
        self.k = k
        self.count = 0
        self._items: list[tuple[Any, ...]] = []
        self._threshold: tuple[Any, ...] | None = None

    def add(self, item: tuple[Any, ...]) -> None:
        self.count += 1
        if self._threshold is not None and item >= self._threshold:
            return
        self._items.append(item)
        if len(self._items) >= 2 * self.k:
            self._items.sort()
            del self._items[self.k :]
            self._threshold = self._items[-1]

    def smallest(self) -> list[tuple[Any, ...]]:
        return sorted(self._items)[: self.k]


def _id_key(value: object) -> tuple[int, str]:
    """Sort ids naturally enough: "T9" before "T10"."""
    text = str(value)
    return (len(text), text)


def _valid_amount(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        return None
    return value


class EntryAccumulator:
    """Folds a stream of transactions into per-(account, VAT code) sums.

    ``add_many`` runs a lean loop for the common case (known group, in period, one plain
    non-negative amount); anything unusual goes through ``_add_slow``, which classifies it.
    Calling :meth:`finish` does not consume the state: more pages can follow.
    """

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self._start = ctx.period.start
        self._end = ctx.period.end
        # (BEX account id, BEX VAT code id) -> [debit sum, credit sum, transaction count]
        self._groups: dict[tuple[str, str | None], list[Any]] = {}
        # Groups referring to ids the PMS did not list: kept apart so the fast path misses them
        # and every such transaction is named by the slow path.
        self._flagged: dict[tuple[str, str | None], list[Any]] = {}
        self._transactions = 0
        self._invoice_ids: set[str] = set()
        self._invoices = _Sample(MAX_INVOICES)
        self._split_ids: set[str] = set()
        self._splits = _Sample(MAX_NAMED)
        self._bad = _Sample(MAX_NAMED)
        self._outside = _Sample(MAX_NAMED)
        self._unknown_ledger = _Sample(MAX_NAMED)
        self._unknown_ledger_ids: set[str] = set()
        self._unknown_vat = _Sample(MAX_NAMED)
        self._unknown_vat_ids: set[str] = set()

    @property
    def transactions(self) -> int:
        return self._transactions

    def add(self, txn: JournalTransaction) -> None:
        self.add_many((txn,))

    def add_many(self, transactions: Iterable[JournalTransaction]) -> None:
        groups = self._groups
        start = self._start
        end = self._end
        seen = self._invoice_ids
        splits = self._split_ids
        slow = self._add_slow
        invoice = self._track_invoice
        n = 0
        try:
            for t in transactions:
                n += 1
                g = groups.get((t.ledger_account_id, t.vat_code_id))
                if g is None:
                    slow(t)
                    continue
                d = t.debit
                c = t.credit
                try:
                    day = t.date
                    if c:
                        ok = start <= day <= end and not d and c > 0 and c.is_finite()
                    else:
                        ok = start <= day <= end and d >= 0 and d.is_finite()
                except (TypeError, AttributeError, ArithmeticError):
                    ok = False
                if not ok:
                    slow(t)
                    continue
                if c:
                    g[1] += c
                else:
                    g[0] += d
                g[2] += 1
                inv = t.invoice_id
                if inv is not None:
                    if inv not in seen:
                        invoice(t)
                    else:
                        idate = t.invoice_date
                        if (
                            idate is not None
                            and (idate < start or idate > end)
                            and inv not in splits
                        ):
                            invoice(t)
                elif t.invoice_number is not None:
                    invoice(t)
        finally:
            self._transactions += n

    def _add_slow(self, t: JournalTransaction) -> None:
        """Classify a transaction the fast path would not take, and add it if it is sound."""
        debit = _valid_amount(t.debit)
        credit = _valid_amount(t.credit)
        if debit is None or credit is None or (debit and credit):
            self._bad.add((_id_key(t.id), str(t.id), str(t.debit), str(t.credit)))
            return
        day = t.date
        if isinstance(day, datetime):
            day = day.date()
        if not isinstance(day, date) or not self._start <= day <= self._end:
            self._outside.add((_id_key(t.id), str(t.id), str(day)))
            return
        key = (t.ledger_account_id, t.vat_code_id)
        g = self._groups.get(key)
        if g is None:
            g = self._flagged.get(key)
            if g is None:
                g = [ZERO, ZERO, 0]
                known_account = t.ledger_account_id in self.ctx.accounts
                known_vat = t.vat_code_id is None or t.vat_code_id in self.ctx.vat_codes
                (self._groups if known_account and known_vat else self._flagged)[key] = g
            if key in self._flagged:
                if t.ledger_account_id not in self.ctx.accounts:
                    self._unknown_ledger.add((_id_key(t.id), str(t.id)))
                    self._unknown_ledger_ids.add(str(t.ledger_account_id))
                if t.vat_code_id is not None and t.vat_code_id not in self.ctx.vat_codes:
                    self._unknown_vat.add((_id_key(t.id), str(t.id)))
                    self._unknown_vat_ids.add(str(t.vat_code_id))
        g[0] += debit
        g[1] += credit
        g[2] += 1
        self._track_invoice(t)

    def _track_invoice(self, t: JournalTransaction) -> None:
        """Record a transaction's invoice (once) and whether it was invoiced in another period."""
        inv = t.invoice_id
        if inv is None:
            if t.invoice_number is None:
                return
            key = f"number:{t.invoice_number}"
        else:
            key = inv
        idate = t.invoice_date
        if isinstance(idate, datetime):
            idate = idate.date()
        sort_key = (idate or date.min, t.invoice_number or "", _id_key(key))
        if key not in self._invoice_ids:
            self._invoice_ids.add(key)
            self._invoices.add((*sort_key, inv, t.invoice_number, idate, key))
        if (
            isinstance(idate, date)
            and not self._start <= idate <= self._end
            and key not in self._split_ids
        ):
            self._split_ids.add(key)
            self._splits.add((*sort_key, inv, t.invoice_number, idate, key))

    # -- finishing --

    def finish(self) -> Draft:
        ctx = self.ctx
        period_key = ctx.period.key
        reference = ctx.reference
        lines: list[DraftLine] = []
        dropped: list[dict[str, Any]] = []
        unnumbered: dict[str, dict[str, Any]] = {}
        for (account_id, vat_id), (dsum, csum, count) in [
            *self._groups.items(),
            *self._flagged.items(),
        ]:
            account = ctx.accounts.get(account_id)
            vat = ctx.vat_codes.get(vat_id) if vat_id is not None else None
            net = (dsum - csum).quantize(CENT, rounding=ROUND_HALF_EVEN)
            if account is None:
                bex_name = f"unknown BEX ledger account {account_id}"
            else:
                bex_name = account.name
            if not net:
                dropped.append(
                    {
                        "account": account.number if account else None,
                        "name": bex_name,
                        "vat_code": vat.code if vat else None,
                        "transactions": count,
                        "debit": format_money(dsum),
                        "credit": format_money(csum),
                    }
                )
                continue
            debit = net if net > 0 else ZERO
            credit = -net if net < 0 else ZERO
            source_account: str | None = None
            code = ""
            name = "" if account is None else account.name
            if account is not None and account.number:
                source_account = account.number
                code = ctx.account_map.get(account.number, account.number)
                if ctx.known_accounts is not None and ctx.known_accounts.get(code):
                    name = ctx.known_accounts[code]
            elif account is not None:
                item = unnumbered.setdefault(
                    account_id,
                    {"id": account_id, "name": account.name, "transactions": 0, "net": ZERO},
                )
                item["transactions"] += count
                item["net"] += net
            if vat_id is None:
                vat_code, vat_label, source_vat = ctx.no_vat_code, "", None
            elif vat is None:
                vat_code, vat_label, source_vat = "", f"unknown VAT code {vat_id}", None
            else:
                source_vat = vat.code
                vat_code, vat_label = ctx.vat_map.get(vat.code, vat.code), vat.code
            description = " ".join(part for part in (bex_name, vat_label, period_key) if part)
            lines.append(
                DraftLine(
                    account=code,
                    account_name=name,
                    description=description,
                    vat_code=vat_code,
                    debit=debit,
                    credit=credit,
                    source_account=source_account,
                    source_vat_code=source_vat,
                )
            )
        lines.sort(
            key=lambda ln: (
                ln.account,
                ln.vat_code or "",
                ln.source_account or "",
                ln.description,
                ln.debit,
                ln.credit,
            )
        )
        totals = _totals(lines)
        balanced = totals.debit == totals.credit
        errors = self._source_errors(period_key)
        if unnumbered:
            errors.append(_unnumbered(unnumbered))
        if ctx.known_accounts is not None and (
            issue := _unknown_accounts(lines, ctx.known_accounts)
        ):
            errors.append(issue)
        if ctx.known_tax_codes is not None and (
            issue := _unknown_tax_codes(lines, ctx.known_tax_codes)
        ):
            errors.append(issue)
        if not balanced:
            errors.append(_unbalanced(totals))
        warnings = self._warnings(period_key, dropped)
        split_ids = self._split_ids
        invoices = [
            InvoiceRef(inv_id, number, idate, key in split_ids)
            for *_, inv_id, number, idate, key in self._invoices.smallest()
        ]
        return Draft(
            configuration_id=ctx.configuration_id,
            reference=reference,
            narration=narration_for(ctx.administration_name, period_key, reference),
            date=ctx.period.end,
            period=period_key,
            currency=ctx.currency,
            ledger_id=ctx.ledger_id,
            tenant_id=ctx.tenant_id,
            lines=lines,
            totals=totals,
            balanced=balanced,
            warnings=warnings,
            errors=errors,
            sources=Sources(self._transactions, len(self._invoice_ids), invoices),
        )

    def _source_errors(self, period_key: str) -> list[Issue]:
        errors: list[Issue] = []
        if self._bad.count:
            named = self._bad.smallest()
            shown = [f"{tid} (debit {d}, credit {c})" for _, tid, d, c in named]
            errors.append(
                Issue(
                    "bad_amount",
                    f"{self._bad.count} PMS transaction(s) have an invalid amount (negative, not "
                    f"a number, or both a debit and a credit) and were left out: "
                    f"{_names(shown, self._bad.count)}. Correct them in BEX PMS.",
                    {
                        "count": self._bad.count,
                        "transactions": [
                            {"id": tid, "debit": d, "credit": c} for _, tid, d, c in named
                        ],
                    },
                )
            )
        if self._outside.count:
            named = self._outside.smallest()
            shown = [f"{tid} ({day})" for _, tid, day in named]
            errors.append(
                Issue(
                    "outside_period",
                    f"{self._outside.count} PMS transaction(s) are dated outside period "
                    f"{period_key} and were left out: {_names(shown, self._outside.count)}. "
                    "The PMS returned more than was asked; sync again.",
                    {
                        "count": self._outside.count,
                        "period": period_key,
                        "transactions": [{"id": tid, "date": day} for _, tid, day in named],
                    },
                )
            )
        if self._unknown_ledger.count:
            ids = sorted(self._unknown_ledger_ids, key=_id_key)
            txns = [tid for _, tid in self._unknown_ledger.smallest()]
            errors.append(
                Issue(
                    "unknown_ledger_reference",
                    f"{self._unknown_ledger.count} PMS transaction(s) refer to BEX ledger "
                    f"account(s) {_names(ids[:MAX_NAMED], len(ids))} that the PMS did not list: "
                    f"{_names(txns, self._unknown_ledger.count)}. Refresh the PMS connection and "
                    "sync again, or enter the account on the line.",
                    {
                        "count": self._unknown_ledger.count,
                        "ledger_account_ids": ids[:MAX_NAMED],
                        "transactions": txns,
                    },
                )
            )
        if self._unknown_vat.count:
            ids = sorted(self._unknown_vat_ids, key=_id_key)
            txns = [tid for _, tid in self._unknown_vat.smallest()]
            errors.append(
                Issue(
                    "unknown_vat_reference",
                    f"{self._unknown_vat.count} PMS transaction(s) refer to BEX VAT code(s) "
                    f"{_names(ids[:MAX_NAMED], len(ids))} that the PMS did not list: "
                    f"{_names(txns, self._unknown_vat.count)}. Refresh the PMS connection and "
                    "sync again, or enter the tax code on the line.",
                    {
                        "count": self._unknown_vat.count,
                        "vat_code_ids": ids[:MAX_NAMED],
                        "transactions": txns,
                    },
                )
            )
        return errors

    def _warnings(self, period_key: str, dropped: list[dict[str, Any]]) -> list[Issue]:
        warnings: list[Issue] = []
        if self._splits.count:
            named = self._splits.smallest()
            shown = [
                f"{number or inv_id or key} ({idate.isoformat() if idate else 'no date'})"
                for *_, inv_id, number, idate, key in named
            ]
            warnings.append(
                Issue(
                    "date_split",
                    f"{self._splits.count} invoice(s) contributing to {period_key} are dated in "
                    f"another period (revenue booked on a realisation date or split over "
                    f"months): {_names(shown, self._splits.count)}.",
                    {
                        "count": self._splits.count,
                        "invoices": [
                            {
                                "id": inv_id,
                                "number": number,
                                "date": idate.isoformat() if idate else None,
                            }
                            for *_, inv_id, number, idate, _key in named
                        ],
                    },
                )
            )
        if dropped:
            dropped.sort(key=lambda x: (x["account"] or "", x["vat_code"] or "", x["name"]))
            shown = [
                " ".join(p for p in (d["account"], d["name"], d["vat_code"]) if p) for d in dropped
            ]
            warnings.append(
                Issue(
                    "zero_lines_dropped",
                    f"{len(dropped)} line(s) netted to zero and were left out: {_names(shown)}.",
                    {"lines": dropped},
                )
            )
        return warnings


def _unnumbered(unnumbered: dict[str, dict[str, Any]]) -> Issue:
    items = sorted(unnumbered.values(), key=lambda x: (x["name"], _id_key(x["id"])))
    shown = []
    details = []
    for item in items:
        net = item["net"]
        side = "debit" if net > 0 else "credit"
        shown.append(
            f"{item['name']} ({item['transactions']} transaction(s), {side} "
            f"{format_money(abs(net))})"
        )
        details.append(
            {
                "id": item["id"],
                "name": item["name"],
                "transactions": item["transactions"],
                "net": format_money(net),
            }
        )
    return Issue(
        "unnumbered_account",
        f"{_names(shown)} {'has' if len(items) == 1 else 'have'} no ledger number in BEX PMS "
        "(uncategorised) and cannot be posted. Assign a ledger account to these items in BEX "
        "PMS, including past lines, then sync again; or enter an account on the line.",
        {"accounts": details},
    )


def build_draft(ctx: BuildContext, transactions: Iterable[JournalTransaction]) -> Draft:
    """One-shot convenience: accumulate ``transactions`` and finish."""
    acc = EntryAccumulator(ctx)
    acc.add_many(transactions)
    return acc.finish()
