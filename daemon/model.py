"""Domain rules, pure: each returns field-level errors instead of raising, so one call reports all.

The RPC layer turns a non-empty list into a ValidationFailed error; the same rules guard the
demo seeding and the store, so there is one definition of a valid configuration.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, get_args

# The closed vocabularies of the wire (CONTRACT.md section 3), each spelled out once: the RPC
# schema, the services, metrics and logs import these. (The SQL CHECK constraints of the
# migrations are frozen history and keep their own copy.)
AuthorisationStatus = Literal["inactive", "active", "error"]
AUTHORISATION_STATUSES: tuple[AuthorisationStatus, ...] = get_args(AuthorisationStatus)
Frequency = Literal["daily", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = get_args(Frequency)
ActiveRunState = Literal["queued", "fetching", "building", "posting"]
"""A run still working (or waiting to)."""
SettledRunState = Literal["posted", "failed", "cancelled", "needs_review"]
"""A run that is over."""
RunState = Literal[ActiveRunState, SettledRunState]
RUN_STATES: tuple[RunState, ...] = get_args(RunState)
ACTIVE_RUN_STATES: frozenset[RunState] = frozenset(get_args(ActiveRunState))
FINAL_RUN_STATES: frozenset[RunState] = frozenset(get_args(SettledRunState))
RunTrigger = Literal["schedule", "manual"]
INTERRUPTED_KIND = "interrupted"
"""The error kind of a run that a stop or a crash (not a user) ended before posting: nothing was
sent, and the scheduler runs its period again at start."""
NotificationLevel = Literal["info", "success", "warning", "error"]
NOTIFICATION_LEVELS: tuple[NotificationLevel, ...] = get_args(NotificationLevel)
ConfigurationState = Literal[
    "running",
    "finished",
    "inactive",
    "no_access",
    "authorisation_inactive",
    "authorisation_error",
    "active",
]
PmsAuth = Literal["api_key", "oauth"]
PmsStatus = Literal["not_connected", "connected", "error"]
MAX_DELAY_DAYS = 14
MAX_NAME_LENGTH = 100
EARLIEST_DATE = date(2000, 1, 1)
"""Configuration dates the scheduler can handle: from here up to ``MAX_YEARS_AHEAD`` from today
(far enough for any real schedule, and far from the calendar's end, where period arithmetic
overflows, and from year 1, which would mean 739,000 days to catch up)."""
MAX_YEARS_AHEAD = 10
# Control (Cc), format (Cf: bidi overrides, zero-width), line and paragraph separators, surrogates.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class ConfigurationFields:
    """The user-editable fields of a configuration, as the rules see them."""

    administration_id: str
    frequency: Frequency | str
    ledger_id: str
    start_date: date
    end_date: date | None
    delay_days: int
    automatic: bool
    no_vat_code: str | None = None


def fold_name(name: str) -> str:
    """A name as stored: NFKC (full-width letters, composed accents, NBSP become their plain
    forms) and every run of white space one space, none at the ends."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


def name_key(name: str) -> str:
    """What two names must differ in to be different names: their folded, case-folded forms
    ("Straße" and "STRASSE" are one name)."""
    return unicodedata.normalize("NFKC", fold_name(name).casefold())


def validate_authorisation_name(name: str) -> list[FieldProblem]:
    stripped = name.strip()
    if not stripped:
        return [FieldProblem("name", "a name is required")]
    if len(stripped) > MAX_NAME_LENGTH:
        return [FieldProblem("name", f"at most {MAX_NAME_LENGTH} characters")]
    if any(unicodedata.category(ch) in INVISIBLE_CATEGORIES for ch in stripped):
        # Bidi overrides and other invisible characters would make a name display as another.
        return [FieldProblem("name", "control and invisible formatting characters are not allowed")]
    return []


def latest_date(today: date) -> date:
    """The last configuration date accepted on ``today`` (29 February maps to 28 February)."""
    day = 28 if (today.month, today.day) == (2, 29) else today.day
    return today.replace(year=today.year + MAX_YEARS_AHEAD, day=day)


def validate_configuration(
    fields: ConfigurationFields,
    *,
    administration_access: bool | None,
    today: date,
    known_provider_ledgers: Iterable[str] | None = None,
) -> list[FieldProblem]:
    """Every rule of a configuration; ``administration_access`` None: unknown administration."""
    problems: list[FieldProblem] = []
    latest = latest_date(today)
    for name, value in (("start_date", fields.start_date), ("end_date", fields.end_date)):
        if value is not None and not EARLIEST_DATE <= value <= latest:
            between = f"{EARLIEST_DATE} and {latest} (today + {MAX_YEARS_AHEAD} years)"
            problems.append(FieldProblem(name, f"must be between {between}"))
    if administration_access is None:
        problems.append(
            FieldProblem(
                "administration_id", f"unknown administration {fields.administration_id!r}"
            )
        )
    elif not administration_access:
        problems.append(
            FieldProblem(
                "administration_id",
                "bexsync has no access to this administration; tick its access first",
            )
        )
    if fields.frequency not in FREQUENCIES:
        problems.append(FieldProblem("frequency", "must be daily or monthly"))
    if not fields.ledger_id.strip():
        problems.append(FieldProblem("ledger_id", "choose the ledger (journal) to post into"))
    elif known_provider_ledgers is not None and fields.ledger_id not in set(known_provider_ledgers):
        problems.append(
            FieldProblem("ledger_id", f"the provider has no ledger {fields.ledger_id!r}")
        )
    if fields.end_date is not None and fields.end_date <= fields.start_date:
        problems.append(FieldProblem("end_date", "the end date must be after the start date"))
    if not 0 <= fields.delay_days <= MAX_DELAY_DAYS:
        problems.append(FieldProblem("delay_days", f"must be between 0 and {MAX_DELAY_DAYS} days"))
    if fields.no_vat_code is not None and len(fields.no_vat_code) > 32:
        problems.append(FieldProblem("no_vat_code", "at most 32 characters"))
    return problems


def configuration_state(
    *, active: bool, authorisation_status: str, finished: bool, running: bool, access: bool = True
) -> ConfigurationState:
    """A single word for the configuration list: what a user should know first."""
    if running:
        return "running"
    if finished:
        return "finished"
    if not active:
        return "inactive"
    if not access:
        return "no_access"  # paused until access to its administration is restored
    if authorisation_status == "inactive":
        return "authorisation_inactive"
    if authorisation_status != "active":
        return "authorisation_error"
    return "active"


def money(value: Any) -> str:
    """Decimal -> the wire form, a string with two places."""

    return f"{Decimal(value).quantize(Decimal('0.01')):f}"
