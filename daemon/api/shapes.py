"""The result shapes of CONTRACT.md section 3, as msgspec Structs.

The dispatcher converts what a handler returns into its method's declared result type
(``msgspec.convert(value, T, from_attributes=True)``): services may return dicts or typed
records, as long as the field names are these. Only the fields declared here reach the wire,
and ``rpc.discover`` publishes exactly these schemas.

``UNSET`` marks a field that is sometimes absent (it is then left out, not sent as null).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from daemon.model import (
    AuthorisationStatus,
    ConfigurationState,
    Frequency,
    NotificationLevel,
    PmsAuth,
    PmsStatus,
    RunState,
    RunTrigger,
)
from daemon.rpc.wire import UNSET, Finite, JSONObject, Meta, MoneyText, Result, UnsetType
from providers.base import AuthKind, Route

Timestamp = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
"""An ISO 8601 date and time, as the daemon stored it."""
Period = Annotated[str, Meta(description="YYYY-MM-DD (daily) or YYYY-MM (monthly)")]


class Deleted(Result):
    deleted: bool


class Updated(Result):
    updated: int


# --- the PMS side -------------------------------------------------------------------------------


class Administration(Result):
    id: str
    number: str
    name: str
    currency: str
    timezone: str
    access: bool


class OpenUrl(Result, tag_field="kind", tag="open_url"):
    """Open ``url`` in any browser, log in, paste the address it lands on back."""

    url: str
    redirect_uri: str
    instructions: str
    expires_at: Finite | UnsetType = UNSET
    login: str | UnsetType = UNSET


class DeviceCode(Result, tag_field="kind", tag="device_code"):
    """Open ``verification_uri`` anywhere and enter ``user_code``."""

    verification_uri: str
    user_code: str
    expires_in: int
    instructions: str
    login: str | UnsetType = UNSET


class CredentialField(Result):
    name: str
    label: str
    secret: bool
    required: bool = True
    hint: str = ""


class Credentials(Result, tag_field="kind", tag="credentials"):
    """Fill in this form and pass it to ``authorisations.complete``."""

    fields: list[CredentialField]
    instructions: str
    login: str | UnsetType = UNSET


class NothingToDo(Result, tag_field="kind", tag="none"):
    """No login step: activate (or complete) directly."""

    instructions: str
    login: str | UnsetType = UNSET


NextStep = OpenUrl | DeviceCode | Credentials | NothingToDo


class PmsConnection(Result):
    kind: Literal["bex"]
    base_url: str | None
    auth: PmsAuth | None
    status: PmsStatus
    message: str
    login_pending: bool
    next_step: OpenUrl | UnsetType = UNSET
    """Only while an OAuth login waits for ``pms.complete``."""


# --- authorisations -----------------------------------------------------------------------------


class Authorisation(Result):
    """A named login at a provider. Never a token or a secret."""

    id: int
    name: str
    provider: str
    status: AuthorisationStatus
    status_message: str
    created_at: Timestamp
    updated_at: Timestamp
    configuration_count: int
    tenant_id: str | None
    tenant_name: str | None
    login_pending: bool
    logged_in: bool
    warning: str | UnsetType = UNSET
    """From ``authorisations.activate``: another active authorisation already reaches the same
    provider organisation (tenant, company, folder)."""


class LoginStarted(Result):
    authorisation: Authorisation
    next_step: NextStep


# --- runs and configurations --------------------------------------------------------------------


class Progress(Result):
    stage: str
    done: int
    total: int | None


class Run(Result):
    id: int
    configuration_id: int
    period: Period
    kind: str
    trigger: RunTrigger
    state: RunState
    progress: Progress
    error: str | None
    error_kind: str | None
    attempts: int
    draft_id: int | None
    entry_id: int | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class RunStarted(Result):
    run_id: int


class NextDue(Result):
    period: Period
    due_at: Timestamp


class Configuration(Result):
    id: int
    authorisation_id: int
    authorisation_name: str
    provider: str
    administration_id: str
    administration_number: str
    administration_name: str
    frequency: Frequency
    ledger_id: str
    ledger_name: str
    tenant_id: str | None
    start_date: date
    end_date: date | None
    delay_days: int
    automatic: bool
    active: bool
    no_vat_code: str | None
    account_map: dict[str, str]
    vat_map: dict[str, str]
    schedule: str | None
    schedule_error: str | None
    """Set when the stored dates cannot be scheduled: the scheduler leaves it aside until fixed."""
    state: ConfigurationState
    next_due: NextDue | None
    overdue: list[NextDue]
    """Due periods nobody is working on, oldest first: manual ones waiting, automatic ones
    failed or stuck (empty while an automatic configuration runs or while it is paused)."""
    label: str
    """How people see it named: id, administration number and name, provider, ledger."""
    allow_duplicate_target: bool
    """Set knowingly: it may post where another active configuration posts too."""
    warning: str | None
    """Set when it posts the same administration into the same ledger as another active
    configuration (only possible with ``allow_duplicate_target``): show it wherever it shows."""
    posted_periods: int
    last_run: Run | None


class Ledger(Result):
    id: str
    code: str
    name: str


class Tenant(Result):
    id: str
    name: str


class VatCode(Result):
    code: str
    name: str
    rate: str | None


class Account(Result):
    """An account of the provider's chart: what a draft line or a mapping posts to."""

    code: str
    name: str


class ConfigurationOptions(Result):
    """Live from the provider, for the configuration form's dropdowns."""

    administrations: list[Administration]
    ledgers: list[Ledger]
    tenants: list[Tenant]
    vat_codes: list[VatCode]


# --- drafts and entries -------------------------------------------------------------------------


class EntryLine(Result):
    account: str
    account_name: str
    description: str
    vat_code: str | None
    debit: MoneyText
    credit: MoneyText


class DraftLine(EntryLine):
    """A line of a draft: a posted line, plus the BEX account and VAT code it came from."""

    source_account: str | None
    source_vat_code: str | None


class Totals(Result):
    debit: MoneyText
    credit: MoneyText


class Issue(Result):
    """A warning or an error of a draft; ``code`` is stable, ``message`` is for people."""

    code: str
    message: str
    details: JSONObject


class InvoiceRef(Result):
    id: str | None
    number: str | None
    date: date | None
    date_split: bool


class Sources(Result):
    transactions: int
    invoice_count: int
    invoices: list[InvoiceRef]
    invoices_truncated: bool


class Draft(Result):
    id: int
    configuration_id: int
    reference: str
    period: Period
    date: date
    narration: str
    currency: str
    ledger_id: str
    tenant_id: str | None
    lines: list[DraftLine]
    totals: Totals
    balanced: bool
    postable: bool
    warnings: list[Issue]
    errors: list[Issue]
    sources: Sources
    status: str | UnsetType = UNSET
    """Absent on a fresh preview; "open" until a run uses the draft."""
    kind: Literal["entry", "correction"] = "entry"
    """"correction" for a period already posted: the lines are what changed in the PMS since
    its last posting (hand edits of the posted entry stay), to confirm and post with force."""
    corrects: int | None = None
    """For a correction: the id of the period's entry it corrects."""
    due_at: Timestamp | UnsetType = UNSET
    """When the period becomes due."""
    early: bool = False
    """The period is not due yet: the PMS may still add to it; posting it needs early=true."""


class Entry(Result):
    id: int
    configuration_id: int | None
    administration_number: str
    period: Period
    kind: Literal["entry", "correction"]
    reference: str
    date: date
    provider: str
    external_id: str
    total: MoneyText
    line_count: int
    posted_at: Timestamp
    run_id: int | None
    corrects: int | None
    """For ``kind`` "correction": the id of the period's entry it corrects."""
    lines: list[EntryLine] | UnsetType = UNSET
    """Only from ``entries.get``."""


# --- notifications ------------------------------------------------------------------------------


class EntriesLink(Result, tag_field="kind", tag="entries"):
    configuration_id: int
    entry_id: int | None
    period: Period | UnsetType = UNSET
    action: Literal["correction"] | UnsetType = UNSET


class AuthorisationsLink(Result, tag_field="kind", tag="authorisations"):
    authorisation_id: int


class PmsLink(Result, tag_field="kind", tag="pms"):
    pass


class Notification(Result):
    id: int
    level: NotificationLevel
    title: str
    body: str
    created_at: Timestamp
    read: bool
    link: EntriesLink | AuthorisationsLink | PmsLink | None


# --- the daemon ---------------------------------------------------------------------------------


class Capabilities(Result):
    idempotency: str
    async_post: bool
    max_lines: int | None
    currencies: list[str] | None


class ProviderInfo(Result):
    id: str
    title: str
    route: Route
    auth: list[AuthKind]
    capabilities: Capabilities
    login: str
    registered: bool


class Hello(Result):
    api_version: str
    server_version: str
    instance_id: str


class NextRun(Result):
    configuration_id: int
    administration_number: str
    period: Period
    due_at: Timestamp
    automatic: bool


class Attention(Result):
    """Something a sysadmin should look at: the PMS, an authorisation, a failed run, a
    configuration whose dates cannot be scheduled or with overdue periods (``period``: the
    oldest, ``due_at``: its due time), or one paused because access to its administration was
    removed (``access``)."""

    kind: Literal["pms", "authorisation", "run", "configuration", "access"]
    id: int | None
    message: str
    configuration_id: int | UnsetType = UNSET
    period: Period | UnsetType = UNSET
    state: RunState | UnsetType = UNSET
    due_at: Timestamp | UnsetType = UNSET
    label: str | UnsetType = UNSET


class HeldLease(Result):
    configuration_id: int
    period: Period | None


class ClusterDaemon(Result):
    """A daemon on the shared database (one, this one, on SQLite)."""

    id: str
    host: str
    pid: int
    started_at: Timestamp
    heartbeat_age_s: float
    alive: bool
    this: bool
    """The daemon that answers this call."""
    leases: list[HeldLease]


class Status(Result):
    version: str
    api_version: str
    instance_id: str
    started_at: Timestamp
    uptime_s: int
    state_dir: str
    socket: str
    pms: PmsConnection
    counts: dict[str, int]
    clients: int
    next_runs: list[NextRun]
    attention: list[Attention]
    store: str
    """The store's backend and where it is (no password): sqlite:///... or postgresql://..."""
    daemons: list[ClusterDaemon]
    """Every daemon sharing the store, with the leases it holds and its last heartbeat."""
