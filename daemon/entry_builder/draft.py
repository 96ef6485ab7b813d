"""A draft journal entry: its lines, totals, issues and sources; money parsing and the checks
that run again whenever a user edits the lines."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from providers.base import EntryLine, JournalEntry

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_INVOICES = 200  # invoices listed in a draft; all are counted
MAX_NAMED = 20  # records named in one issue; all are counted
MAX_MONEY = Decimal(10) ** 15

_MONEY_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]{1,2})?")  # ASCII digits only: not "١٠٦١٠.٠٠"
LINE_FIELDS = frozenset(
    {"account", "account_name", "description", "vat_code", "debit", "credit",
     "source_account", "source_vat_code"}
)  # fmt: skip
"""What a line sent to ``drafts.update`` may hold; any other key is refused, not ignored."""
MAX_LINE_TEXT = {"description": 500}
"""Longest text of a line field (characters); the others: ``MAX_CODE_TEXT``."""
MAX_CODE_TEXT = 200


# --- small value types ------------------------------------------------------------------------


def reference_for(configuration_id: int, period_key: str) -> str:
    """The reference an entry is posted and looked up under: one per (configuration, period)."""
    return f"bexsync:{configuration_id}:{period_key}"


def narration_for(administration_name: str, period_key: str, reference: str) -> str:
    return f"BEX PMS {administration_name} {period_key} ({reference})"


def format_money(value: Decimal) -> str:
    """``Decimal`` to the wire form ``"1234.50"`` (never ``-0.00``)."""
    q = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
    return format(q if q else ZERO, "f")


def parse_money(value: str | int | Decimal) -> Decimal:
    """A user-entered amount, exactly: ``"12"``, ``"12.5"``, ``"12.50"``, ints or Decimals.

    Floats are refused (they are not exact), as are NaN/infinity, exponents, thousands
    separators and more than two decimals (``"12.500"`` could mean twelve thousand five hundred).
    """
    if isinstance(value, (bool, float)):
        raise ValueError(
            f'amount {value!r} must be a decimal string like "12.50", not a {type(value).__name__}'
        )
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.strip()
        if not _MONEY_TEXT.fullmatch(text):
            hint = " (use a dot as the decimal separator)" if "," in text else ""
            raise ValueError(
                f"{value!r} is not an amount: use digits with at most 2 decimals, like 1234.50"
                + hint
            )
        amount = Decimal(text)
    else:
        raise ValueError(f'amount must be a decimal string like "12.50", got {value!r}')
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a number")
    if abs(amount) >= MAX_MONEY:
        raise ValueError(f"amount {value!r} is too large")
    quantized = amount.quantize(CENT)
    if quantized != amount:
        raise ValueError(f"amount {value!r} has more than 2 decimals")
    return quantized


@dataclass(frozen=True)
class Issue:
    """A problem found while building or validating an entry.

    ``code`` is a stable snake_case id for programs; ``message`` a sentence for a bookkeeper.
    """

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Issue:
        return cls(str(raw["code"]), str(raw["message"]), dict(raw.get("details") or {}))


@dataclass(frozen=True)
class Totals:
    debit: Decimal
    credit: Decimal

    @property
    def difference(self) -> Decimal:
        return self.debit - self.credit

    def as_dict(self) -> dict[str, str]:
        return {"debit": format_money(self.debit), "credit": format_money(self.credit)}


@dataclass
class DraftLine:
    """One line of a draft, mapped to the provider's account and tax code.

    ``account == ""`` means "no account yet" (an uncategorised BEX account) and ``vat_code == ""``
    "unresolved tax code"; both block posting until the user fills them in. ``vat_code=None``
    means no tax code at all.
    """

    account: str
    account_name: str
    description: str
    vat_code: str | None
    debit: Decimal
    credit: Decimal
    source_account: str | None = None  # BEX ledger account number
    source_vat_code: str | None = None  # BEX VAT code

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "account_name": self.account_name,
            "description": self.description,
            "vat_code": self.vat_code,
            "debit": format_money(self.debit),
            "credit": format_money(self.credit),
            "source_account": self.source_account,
            "source_vat_code": self.source_vat_code,
        }

    def label(self, index: int) -> str:
        text = self.description or self.account_name or self.account
        return f"line {index + 1}" + (f" ({text})" if text else "")


class LinesInputError(ValueError):
    """User-supplied lines that cannot be read; ``errors`` is ``[{"field", "message"}]``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def parse_lines(raw_lines: Any) -> list[DraftLine]:
    """Read lines sent by a client (``drafts.update``); every problem is reported at once."""
    if not isinstance(raw_lines, list):
        raise LinesInputError([{"field": "lines", "message": "must be a list of lines"}])
    lines: list[DraftLine] = []
    errors: list[dict[str, str]] = []
    for i, raw in enumerate(raw_lines):
        where = f"lines[{i}]"
        if not isinstance(raw, Mapping):
            errors.append({"field": where, "message": "must be an object"})
            continue
        for unknown in sorted(set(raw) - LINE_FIELDS, key=str):
            errors.append({"field": f"{where}.{unknown}"[:200], "message": "unknown field"})
        texts: dict[str, str | None] = {}
        for name, optional in (
            ("account", False),
            ("account_name", True),
            ("description", True),
            ("vat_code", True),
            ("source_account", True),
            ("source_vat_code", True),
        ):
            value = raw.get(name, None if optional else "")
            if value is not None and not isinstance(value, str):
                errors.append({"field": f"{where}.{name}", "message": "must be a string"})
                value = None
            limit = MAX_LINE_TEXT.get(name, MAX_CODE_TEXT)
            if isinstance(value, str) and len(value) > limit:
                errors.append(
                    {"field": f"{where}.{name}", "message": f"at most {limit} characters"}
                )
                value = None
            texts[name] = value.strip() if isinstance(value, str) else value
        amounts: dict[str, Decimal] = {}
        for name in ("debit", "credit"):
            value = raw.get(name)
            try:
                amounts[name] = ZERO if value is None or value == "" else parse_money(value)
            except ValueError as exc:
                errors.append({"field": f"{where}.{name}", "message": str(exc)})
                amounts[name] = ZERO
        lines.append(
            DraftLine(
                account=texts["account"] or "",
                account_name=texts["account_name"] or "",
                description=texts["description"] or "",
                vat_code=texts["vat_code"],
                debit=amounts["debit"],
                credit=amounts["credit"],
                source_account=texts["source_account"],
                source_vat_code=texts["source_vat_code"],
            )
        )
    if errors:
        raise LinesInputError(errors)
    return lines


@dataclass(frozen=True)
class InvoiceRef:
    """An invoice that contributed to the entry; ``date_split``: invoiced in another period."""

    id: str | None
    number: str | None
    date: date | None
    date_split: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "date": self.date.isoformat() if self.date else None,
            "date_split": self.date_split,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> InvoiceRef:
        day = raw.get("date")
        return cls(
            raw.get("id"),
            raw.get("number"),
            date.fromisoformat(day) if day else None,
            bool(raw.get("date_split")),
        )


@dataclass
class Sources:
    transactions: int
    invoice_count: int
    invoices: list[InvoiceRef]

    def as_dict(self) -> dict[str, Any]:
        return {
            "transactions": self.transactions,
            "invoice_count": self.invoice_count,
            "invoices": [inv.as_dict() for inv in self.invoices],
            "invoices_truncated": self.invoice_count > len(self.invoices),
        }


# --- the draft --------------------------------------------------------------------------------


@dataclass
class Draft:
    """A built (or edited) entry: lines plus everything a reviewer needs to trust them."""

    configuration_id: int
    reference: str
    narration: str
    date: date
    period: str
    currency: str
    ledger_id: str
    tenant_id: str | None
    lines: list[DraftLine]
    totals: Totals
    balanced: bool
    warnings: list[Issue]
    errors: list[Issue]
    sources: Sources

    @property
    def is_empty(self) -> bool:
        """No lines: nothing to post (an empty period is recorded as done, not posted)."""
        return not self.lines

    @property
    def postable(self) -> bool:
        return self.balanced and not self.errors and bool(self.lines)

    def to_journal_entry(self) -> JournalEntry:
        """The entry to post; ValueError listing every reason when it must not be posted."""
        if not self.postable:
            reasons = [issue.message for issue in self.errors]
            if not self.balanced and not any(e.code == "unbalanced" for e in self.errors):
                reasons.append(_unbalanced(self.totals).message)
            if not self.lines:
                reasons.append("the entry has no lines")
            raise ValueError(f"entry {self.reference} cannot be posted: " + " ".join(reasons))
        return JournalEntry(
            reference=self.reference,
            date=self.date,
            narration=self.narration,
            currency=self.currency,
            ledger_id=self.ledger_id,
            lines=tuple(
                EntryLine(
                    account=line.account,
                    description=line.description,
                    debit=line.debit.quantize(CENT),
                    credit=line.credit.quantize(CENT),
                    vat_code=line.vat_code,
                    account_name=line.account_name,
                )
                for line in self.lines
            ),
            tenant_id=self.tenant_id,
        )

    def with_lines(
        self,
        lines: Sequence[DraftLine],
        *,
        known_accounts: Mapping[str, str] | None = None,
        known_tax_codes: Collection[str] | None = None,
    ) -> Draft:
        """The draft after a user edited its lines, re-validated.

        Warnings stay. Errors about the lines are recomputed; errors about source transactions
        that no line can fix (outside the period, unreadable amounts) stay until BEX is fixed.
        """
        totals, balanced, errors = validate_lines(
            lines, known_accounts=known_accounts, known_tax_codes=known_tax_codes
        )
        kept = [e for e in self.errors if "transactions" in e.details and e.code in _SOURCE_ERRORS]
        return replace(
            self, lines=list(lines), totals=totals, balanced=balanced, errors=kept + errors
        )

    def as_dict(self) -> dict[str, Any]:
        """The CONTRACT.md Draft shape (the daemon adds its ``id``); money as strings."""
        return {
            "configuration_id": self.configuration_id,
            "reference": self.reference,
            "period": self.period,
            "date": self.date.isoformat(),
            "narration": self.narration,
            "currency": self.currency,
            "ledger_id": self.ledger_id,
            "tenant_id": self.tenant_id,
            "lines": [line.as_dict() for line in self.lines],
            "totals": self.totals.as_dict(),
            "balanced": self.balanced,
            "postable": self.postable,
            "warnings": [w.as_dict() for w in self.warnings],
            "errors": [e.as_dict() for e in self.errors],
            "sources": self.sources.as_dict(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Draft:
        """Inverse of :meth:`as_dict`, for drafts stored as JSON."""
        totals = raw["totals"]
        sources = raw.get("sources") or {}
        return cls(
            configuration_id=int(raw["configuration_id"]),
            reference=raw["reference"],
            narration=raw["narration"],
            date=date.fromisoformat(raw["date"]),
            period=raw["period"],
            currency=raw["currency"],
            ledger_id=raw["ledger_id"],
            tenant_id=raw.get("tenant_id"),
            lines=parse_lines(list(raw["lines"])),
            totals=Totals(Decimal(totals["debit"]), Decimal(totals["credit"])),
            balanced=bool(raw["balanced"]),
            warnings=[Issue.from_dict(w) for w in raw.get("warnings", [])],
            errors=[Issue.from_dict(e) for e in raw.get("errors", [])],
            sources=Sources(
                transactions=int(sources.get("transactions", 0)),
                invoice_count=int(sources.get("invoice_count", 0)),
                invoices=[InvoiceRef.from_dict(i) for i in sources.get("invoices", [])],
            ),
        )


_SOURCE_ERRORS = frozenset({"outside_period", "bad_amount"})


# --- validation shared by the builder and drafts.update ---------------------------------------


def _names(items: Sequence[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    text = ", ".join(items)
    return text + (f" and {total - len(items)} more" if total > len(items) else "")


def _unbalanced(totals: Totals) -> Issue:
    diff = totals.difference
    side = "debits exceed credits" if diff > 0 else "credits exceed debits"
    return Issue(
        "unbalanced",
        f"The entry does not balance: debits {format_money(totals.debit)}, credits "
        f"{format_money(totals.credit)}; {side} by {format_money(abs(diff))}.",
        {
            "debit": format_money(totals.debit),
            "credit": format_money(totals.credit),
            "difference": format_money(diff),
        },
    )


def _unknown_accounts(lines: Sequence[DraftLine], known: Mapping[str, str]) -> Issue | None:
    missing: dict[str, dict[str, Any]] = {}
    for i, line in enumerate(lines):
        if line.account and line.account not in known:
            entry = missing.setdefault(
                line.account, {"account": line.account, "source_accounts": [], "lines": []}
            )
            entry["lines"].append(i)
            if line.source_account and line.source_account not in entry["source_accounts"]:
                entry["source_accounts"].append(line.source_account)
    if not missing:
        return None
    found = [missing[code] for code in sorted(missing)]
    parts = []
    for item in found:
        src = item["source_accounts"]
        parts.append(item["account"] + (f" (for BEX account {', '.join(src)})" if src else ""))
    return Issue(
        "unknown_account",
        f"The accounting provider has no account {_names(parts)}. Create "
        f"{'it' if len(parts) == 1 else 'them'} there, or map the BEX account to an existing "
        "account in the configuration.",
        {"accounts": found},
    )


def _unknown_tax_codes(lines: Sequence[DraftLine], known: Collection[str]) -> Issue | None:
    missing: dict[str, dict[str, Any]] = {}
    for i, line in enumerate(lines):
        if line.vat_code and line.vat_code not in known:
            entry = missing.setdefault(
                line.vat_code, {"tax_code": line.vat_code, "source_vat_codes": [], "lines": []}
            )
            entry["lines"].append(i)
            src = line.source_vat_code
            if src and src not in entry["source_vat_codes"]:
                entry["source_vat_codes"].append(src)
    if not missing:
        return None
    found = [missing[code] for code in sorted(missing)]
    parts = []
    for item in found:
        src = item["source_vat_codes"]
        label = f" (for BEX VAT code {', '.join(src)})" if src else " (the code for no VAT)"
        parts.append(item["tax_code"] + label)
    return Issue(
        "unknown_tax_code",
        f"The accounting provider has no tax code {_names(parts)}. Map the VAT code to one the "
        "provider knows in the configuration.",
        {"tax_codes": found},
    )


def _amount_problem(value: Any) -> str | None:
    if not isinstance(value, Decimal):
        return "is not a decimal amount"
    if not value.is_finite():
        return "is not a number"
    if value < 0:
        return "is negative"
    if value != value.quantize(CENT):
        return "has more than 2 decimals"
    return None


def _totals(lines: Iterable[DraftLine]) -> Totals:
    debit = credit = ZERO
    for line in lines:
        if isinstance(line.debit, Decimal) and line.debit.is_finite():
            debit += line.debit
        if isinstance(line.credit, Decimal) and line.credit.is_finite():
            credit += line.credit
    return Totals(debit.quantize(CENT), credit.quantize(CENT))


def validate_lines(
    lines: Sequence[DraftLine],
    *,
    known_accounts: Mapping[str, str] | None = None,
    known_tax_codes: Collection[str] | None = None,
) -> tuple[Totals, bool, list[Issue]]:
    """Check lines a user edited: (totals, balanced, errors), every problem at once.

    Per-line issues carry the 0-based ``line`` index in ``details``.
    """
    errors: list[Issue] = []
    if not lines:
        errors.append(Issue("no_lines", "The entry has no lines.", {}))
    for i, line in enumerate(lines):
        label = "L" + line.label(i)[1:]
        if not line.account.strip():
            errors.append(
                Issue(
                    "missing_account",
                    f"{label} has no account: enter the provider account to post it to.",
                    {"line": i},
                )
            )
        if line.vat_code is not None and not line.vat_code.strip():
            errors.append(
                Issue(
                    "missing_tax_code",
                    f"{label} has an unresolved tax code: enter one, or clear it for no VAT.",
                    {"line": i},
                )
            )
        problems = [
            f"its {side} {problem}"
            for side, value in (("debit", line.debit), ("credit", line.credit))
            if (problem := _amount_problem(value)) is not None
        ]
        if not problems and line.debit and line.credit:
            problems.append("it has both a debit and a credit")
        if problems:
            errors.append(
                Issue(
                    "bad_amount",
                    f"{label} cannot be posted: {' and '.join(problems)}.",
                    {"line": i, "debit": str(line.debit), "credit": str(line.credit)},
                )
            )
        elif not line.debit and not line.credit:
            errors.append(
                Issue(
                    "zero_line",
                    f"{label} has neither a debit nor a credit: remove it or enter an amount.",
                    {"line": i},
                )
            )
    if known_accounts is not None and (issue := _unknown_accounts(lines, known_accounts)):
        errors.append(issue)
    if known_tax_codes is not None and (issue := _unknown_tax_codes(lines, known_tax_codes)):
        errors.append(issue)
    totals = _totals(lines)
    balanced = totals.debit == totals.credit
    if not balanced:
        errors.append(_unbalanced(totals))
    return totals, balanced, errors
