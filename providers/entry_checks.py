"""Pre-checks every adapter runs on a journal entry before it spends a call.

Each check returns the ``FieldError`` list of what is wrong (empty when fine) so that an adapter
can add its own checks in between and refuse once, naming every problem at the same time.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from providers.base import JournalEntry
from providers.errors import FieldError, rejected

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
