"""Entry building: a period's PMS journal transactions become one balanced journal entry.

Pure code: the sync engine streams pages of transactions into an :class:`EntryAccumulator` and
gets a :class:`Draft` back, which it can preview, let a user edit (:func:`validate_lines`) and
turn into the provider-neutral :class:`providers.base.JournalEntry`. Memory is O(groups +
invoices), never O(transactions), so a month of a large park streams through in seconds.
``draft`` holds the draft and its checks, ``accumulator`` the folding of transactions.
"""

from daemon.entry_builder.accumulator import BuildContext, EntryAccumulator, build_draft
from daemon.entry_builder.draft import (
    CENT,
    MAX_INVOICES,
    Draft,
    DraftLine,
    InvoiceRef,
    Issue,
    LinesInputError,
    Sources,
    Totals,
    format_money,
    narration_for,
    parse_lines,
    parse_money,
    reference_for,
    validate_lines,
)

__all__ = [
    "CENT",
    "MAX_INVOICES",
    "BuildContext",
    "Draft",
    "DraftLine",
    "EntryAccumulator",
    "InvoiceRef",
    "Issue",
    "LinesInputError",
    "Sources",
    "Totals",
    "build_draft",
    "format_money",
    "narration_for",
    "parse_lines",
    "parse_money",
    "reference_for",
    "validate_lines",
]
