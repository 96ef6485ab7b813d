"""Typed records the store takes and gives: what the daemon keeps, without any SQL in sight.

Timestamps are ISO-8601 UTC text with whole seconds and a ``Z`` (``daemon.formats.iso``): the form
they are stored and shown in. Secrets (credentials, pending logins, the PMS key and token) pass
through the store sealed (``daemon.vault``): the store never sees them in the clear. JSON columns
arrive decoded (dicts and lists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from daemon.model import (
    AuthorisationStatus,
    Frequency,
    NotificationLevel,
    PmsAuth,
    RunState,
    RunTrigger,
)

Timestamp = str
"""ISO-8601 UTC text, whole seconds, ``Z``: ``2026-11-27T12:00:00Z``."""

Sealed = str
"""A secret as ``daemon.vault.CredentialVault.seal`` wrote it (JSON, encrypted with a key file)."""

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """One sealed value where the store keeps it (``place`` and ``key`` are the store's own)."""

    place: str
    key: str
    value: Sealed


@dataclass(frozen=True, slots=True)
class PmsConnection:
    kind: str
    base_url: str
    auth: PmsAuth
    api_key: Sealed | None
    token: Sealed | None
    status: str  # "connected" or "error"
    message: str
    updated_at: Timestamp


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A login in progress (PKCE verifier, OAuth state, device code): sealed, until it expires.

    ``authorisation_id`` is None for the PMS's own login."""

    authorisation_id: int | None
    data: Sealed
    expires_at: float  # Unix time


@dataclass(frozen=True, slots=True)
class NewPendingLogin:
    data: Sealed
    expires_at: float


@dataclass(frozen=True, slots=True)
class Administration:
    """One PMS administration. ``access`` is bexsync's own flag: listing the administrations
    again (``pms.connect``) keeps it as stored."""

    id: str
    number: str
    name: str
    currency: str
    timezone: str
    access: bool = False


@dataclass(frozen=True, slots=True)
class Authorisation:
    id: int
    name: str
    provider: str
    status: AuthorisationStatus
    status_message: str
    settings: JsonObject  # non-secret login options: tenant, username, ...
    created_at: Timestamp
    updated_at: Timestamp
    configuration_count: int
    login_pending: bool
    logged_in: bool


@dataclass(frozen=True, slots=True)
class ConfigurationValues:
    """The fields of a configuration a user writes."""

    authorisation_id: int
    administration_id: str
    frequency: Frequency
    ledger_id: str
    ledger_name: str
    tenant_id: str | None
    start_date: date
    end_date: date | None
    delay_days: int
    automatic: bool
    no_vat_code: str | None = None
    account_map: dict[str, str] = field(default_factory=dict)
    vat_map: dict[str, str] = field(default_factory=dict)
    schedule: str | None = None
    allow_duplicate_target: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Configuration(ConfigurationValues):
    """A stored configuration: the values a user writes, with what the store keeps about it and
    what it is read together with (its administration and its login)."""

    id: int
    active: bool
    created_at: Timestamp
    updated_at: Timestamp
    administration_number: str
    administration_name: str
    timezone: str
    currency: str
    access: bool
    authorisation_status: str
    authorisation_name: str
    authorisation_updated_at: Timestamp
    provider: str


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    configuration_id: int
    period: str
    kind: str  # entry or correction
    trigger: RunTrigger
    state: RunState
    stage: str
    done: int
    total: int | None
    error: str | None
    error_kind: str | None
    attempts: int
    draft_id: int | None
    entry_id: int | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


@dataclass(frozen=True, slots=True)
class PostingRun:
    """A run that committed its intent to post: the key and the exact entry it sends."""

    run: Run
    idempotency_key: str
    payload: JsonObject


@dataclass(frozen=True, slots=True)
class StoredDraft:
    id: int
    configuration_id: int
    period: str
    data: JsonObject  # daemon.entry_builder.Draft.as_dict() plus the daemon's warnings
    status: str  # open, posting, posted
    created_at: Timestamp
    updated_at: Timestamp


@dataclass(frozen=True, slots=True)
class Entry:
    """A posted journal entry. ``lines`` (money as 2-place text) only when asked for."""

    id: int
    configuration_id: int | None
    administration_number: str
    period: str
    kind: str  # entry or correction
    reference: str
    date: str
    provider: str
    external_id: str
    total: Decimal
    line_count: int
    posted_at: Timestamp
    run_id: int | None
    lines: list[JsonObject] | None = None
    corrects: int | None = None
    """A correction: the id of the period's entry it corrects."""
    source_lines: list[JsonObject] | None = None
    """With ``lines``: the PMS lines (draft lines before hand edits) at this posting; None
    for an entry posted before snapshots were kept, until one is rebuilt."""


@dataclass(frozen=True, slots=True)
class NewEntry:
    configuration_id: int
    administration_number: str
    period: str
    kind: str
    reference: str
    date: date
    provider: str
    external_id: str
    total: Decimal
    lines: list[JsonObject]
    source_lines: list[JsonObject] | None = None
    corrects: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    level: NotificationLevel
    title: str
    body: str
    created_at: Timestamp
    read: bool
    link: JsonObject | None


@dataclass(frozen=True, slots=True)
class NewNotification:
    level: NotificationLevel
    title: str
    body: str
    link: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    """What ``runs.record_posted`` did: the entry it holds the run to, and whether this call
    recorded it (``note`` set) or found it recorded by another run of the period already."""

    entry_id: int
    note: Notification | None


@dataclass(frozen=True, slots=True)
class DoneSummary:
    """A configuration's settled periods counted, not listed (a listing must not read years of
    them): ``count`` of every key; ``matching`` of the keys shaped like its frequency's
    (``YYYY-MM-DD`` daily, ``YYYY-MM`` monthly: a frequency changed later leaves the others),
    which run from ``first`` to ``last``."""

    count: int
    matching: int
    first: str | None
    last: str | None


@dataclass(frozen=True, slots=True)
class Counts:
    administrations: int
    authorisations: int
    configurations: int
    entries: int
    running: int
    unread_notifications: int


@dataclass(frozen=True, slots=True)
class LastPosting:
    configuration_id: int
    administration_number: str
    finished_at: Timestamp


@dataclass(frozen=True, slots=True)
class MetricsFigures:
    runs_by_state: dict[str, int]
    authorisations_by_status: dict[str, int]
    errors_by_provider_and_kind: dict[tuple[str, str], int]
    last_postings: list[LastPosting]


@dataclass(frozen=True, slots=True)
class Lease:
    """A configuration a daemon holds while it runs (or recovers) one of its periods."""

    configuration_id: int
    period: str | None


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """A daemon on the shared database: alive until its heartbeat is 4/5 of the lease old."""

    id: str
    host: str
    pid: int
    started_at: Timestamp
    heartbeat_age_s: float
    alive: bool
    leases: list[Lease]
