"""Pre-checks every adapter runs on a journal entry before it spends a call.

Each check returns the ``FieldError`` list of what is wrong (empty when fine) so that an adapter
can add its own checks in between and refuse once, naming every problem at the same time.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from providers.base import JournalEntry
from providers.errors import FieldError, period_locked, rejected

SIGN_MESSAGE = "a line is either a debit or a credit, not negative"
_COUNT_WORDS = {1: "one line", 2: "two lines"}


def too_few_lines(entry: JournalEntry, minimum: int = 1) -> list[FieldError]:
    """An entry with fewer lines than the provider takes (one for most, two for some)."""
    if len(entry.lines) >= minimum:
        return []
    wanted = _COUNT_WORDS.get(minimum, f"{minimum} lines")
    return [FieldError("lines", f"an entry needs at least {wanted}")]


def unbalanced(entry: JournalEntry) -> list[FieldError]:
    """Debits and credits that differ: every provider refuses such an entry."""
    debit, credit = entry.total_debit, entry.total_credit
    if debit == credit:
        return []
    return [FieldError("lines", f"debits {debit:.2f} and credits {credit:.2f} do not balance")]


def mixed_or_negative(entry: JournalEntry, message: str = SIGN_MESSAGE) -> list[FieldError]:
    """Lines that are negative, or both a debit and a credit, for providers that refuse them."""
    return [
        FieldError(f"lines[{i}]", message)
        for i, line in enumerate(entry.lines)
        if line.debit < 0 or line.credit < 0 or (line.debit and line.credit)
    ]


def too_precise(entry: JournalEntry, places: int = 2) -> list[FieldError]:
    """Amounts with more decimals than the provider keeps: refused rather than rounded, since
    rounding one line would unbalance the entry."""
    quantum = Decimal(1).scaleb(-places)
    return [
        FieldError(f"lines[{i}]", f"amounts must have at most {places} decimals")
        for i, line in enumerate(entry.lines)
        if line.debit.quantize(quantum) != line.debit
        or line.credit.quantize(quantum) != line.credit
    ]


def currency_not_in(entry: JournalEntry, accepted: Sequence[str], title: str) -> list[FieldError]:
    """An entry in a currency the provider (or the organisation's books) does not take."""
    if entry.currency.upper() in {code.upper() for code in accepted}:
        return []
    return [
        FieldError(
            "currency",
            f"{title} takes entries in {' or '.join(accepted)} only; this entry is in "
            f"{entry.currency}",
        )
    ]


def refuse(provider: str, title: str, problems: Sequence[FieldError]) -> None:
    """Raise one ``rejected`` naming every problem, or return when there is none."""
    if problems:
        raise rejected(
            provider,
            f"the entry cannot go to {title}: " + "; ".join(p.message for p in problems),
            tuple(problems),
        )


def refuse_unknown_accounts(
    provider: str,
    title: str,
    entry: JournalEntry,
    known: Container[str],
    kind: str = "account",
    what: str = "account",
) -> None:
    """Refuse an entry whose lines name accounts the provider lacks, one error per line.

    ``what`` is how the provider's account is called per line ("open account", "ledger account"),
    ``kind`` the word of the summary ("accounts" vs "ledger accounts").
    """
    missing = [
        FieldError(f"lines[{i}].account", f"{title} has no {what} {line.account}")
        for i, line in enumerate(entry.lines)
        if line.account not in known
    ]
    if missing:
        raise rejected(
            provider,
            f"{title} does not know these {kind}s: "
            + ", ".join(sorted({f.message.rsplit(" ", 1)[-1] for f in missing})),
            tuple(missing),
        )


def refuse_malformed(
    provider: str, title: str, entry: JournalEntry, extra: Sequence[FieldError] = ()
) -> None:
    """The checks every provider shares, refused at once before any call: fewer than two
    lines, debits and credits that do not balance, negative or two-sided lines, amounts with
    more than two decimals; ``extra`` adds the provider's own problems (a currency)."""
    problems = [
        *extra,
        *too_few_lines(entry, 2),
        *unbalanced(entry),
        *mixed_or_negative(entry),
        *too_precise(entry),
    ]
    refuse(provider, title, problems)


def refuse_closed_period(
    provider: str,
    title: str,
    day: date,
    rows: Iterable[Mapping[str, Any]],
    keys: tuple[str, str, str],
    what: str = "accounting period",
) -> None:
    """Refuse ``day`` unless one of the provider's periods covers it and is open.

    ``keys`` names the rows' (start, end, closed) fields; a covering closed period is
    ``period_locked``, a day no period covers is ``rejected`` (the fiscal year must be made).
    """
    start_key, end_key, closed_key = keys
    for row in rows:
        try:
            start = date.fromisoformat(str(row[start_key])[:10])
            end = date.fromisoformat(str(row[end_key])[:10])
        except (KeyError, ValueError):
            continue
        if start <= day <= end:
            if row.get(closed_key):
                name = row.get("Name") or f"{start} to {end}"
                raise period_locked(
                    provider,
                    f"{title}'s {what} {name} is closed (locked); {day.isoformat()} cannot take "
                    "new entries",
                )
            return
    raise rejected(
        provider,
        f"no {title} {what} covers {day.isoformat()}; open that fiscal year first",
        (FieldError("date", f"outside every {what}"),),
    )
