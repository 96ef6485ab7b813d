"""The store as the rest of the daemon sees it: repositories of typed records, no SQL.

Every method is atomic: it commits all it writes or nothing, and it never leaves a transaction
open across an await of the caller's. A state change that spans tables is ONE method of the
repository that owns the change (``runs.record_posted`` writes the entry, the period's status,
the run, its draft and the notification together), so atomicity never depends on a caller
holding a transaction while it talks to the network. Timestamps are stamped by the store from
the clock it was built with. Errors are ``daemon.store.errors``, never a driver's.

``daemon.store.sql`` implements each repository once, in portable SQL, for both backends
(``daemon.store.sqlite``, ``daemon.store.postgres``), checked by the same contract tests
(tests/test_store_contract.py). What a method promises, and why, is said here only: each SQL
repository subclasses its protocol here (mypy checks the signatures; ``help()`` shows these
docstrings), and its comments say only how the SQL keeps the promise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from daemon.store.records import (
    Administration,
    Authorisation,
    Configuration,
    ConfigurationValues,
    Counts,
    DoneSummary,
    Entry,
    JsonObject,
    MetricsFigures,
    NewEntry,
    NewNotification,
    NewPendingLogin,
    Notification,
    PendingLogin,
    PmsConnection,
    Posted,
    PostingRun,
    Run,
    Sealed,
    StoredDraft,
    StoredSecret,
)


class PmsRepository(Protocol):
    """The one PMS connection and the PMS's own login in progress."""

    async def get(self) -> PmsConnection | None: ...

    async def pending_login(self) -> PendingLogin | None: ...

    async def start_login(self, pending: NewPendingLogin) -> None:
        """Replace the PMS login in progress."""

    async def save_token(self, token: Sealed) -> None:
        """Store a refreshed token set, only while the connection logs in with OAuth."""

    async def connect(
        self,
        *,
        base_url: str,
        auth: str,
        api_key: Sealed | None,
        token: Sealed | None,
        message: str,
        administrations: Sequence[Administration],
    ) -> None:
        """The connection verified: store it as connected, end the login in progress, and add
        or update the administrations it lists (their ``access`` flag stays as stored)."""

    async def mark_lost(self, message: str, note: NewNotification) -> Notification:
        """The PMS refused the login: the connection in error, and a notification saying so."""


class AdministrationRepository(Protocol):
    async def all(self) -> list[Administration]:
        """By number."""

    async def get(self, admin_id: str) -> Administration | None: ...

    async def set_access(
        self, admin_id: str, access: bool, note: NewNotification | None = None
    ) -> Notification | None:
        """Access granted or removed, with the notification that tells the user, if any."""


class AuthorisationRepository(Protocol):
    async def all(self) -> list[Authorisation]:
        """By name."""

    async def get(self, auth_id: int) -> Authorisation | None: ...

    async def find_by_name(self, name: str) -> Authorisation | None:
        """Names are unique without regard to case."""

    async def create(
        self,
        *,
        name: str,
        provider: str,
        status_message: str,
        settings: JsonObject,
        pending: NewPendingLogin | None,
    ) -> int:
        """A new inactive authorisation with its login in progress; ``Duplicate`` if the name
        is taken."""

    async def record_login(
        self, auth_id: int, *, credentials: Sealed, settings: JsonObject, status_message: str
    ) -> None:
        """A completed login: its credentials replace any older ones, the login in progress
        ends, and the authorisation is inactive until activated."""

    async def set_settings(self, auth_id: int, settings: JsonObject) -> None: ...

    async def set_status(
        self, auth_id: int, status: str, message: str, note: NewNotification | None = None
    ) -> Notification | None:
        """The status with its message, and the notification that tells the user, if any."""

    async def delete(self, auth_id: int) -> None:
        """With its credentials and login in progress."""


class CredentialRepository(Protocol):
    async def get(self, auth_id: int) -> Sealed | None: ...

    async def replace(self, auth_id: int, credentials: Sealed) -> None:
        """Rotated credentials (a refreshed token) of an authorisation that has a login."""


class PendingLoginRepository(Protocol):
    """Provider logins in progress, one per authorisation."""

    async def get(self, auth_id: int) -> PendingLogin | None: ...

    async def all(self) -> list[PendingLogin]: ...

    async def replace(self, auth_id: int, pending: NewPendingLogin | None) -> None:
        """A new login in progress replaces the older one (None: only end the older one)."""


class SecretRepository(Protocol):
    """Every sealed value at once: to seal what an older version stored in plain text."""

    async def all(self) -> list[StoredSecret]: ...

    async def rewrite(self, secrets: Sequence[StoredSecret]) -> None:
        """Replace these values in one transaction, then purge the old ones from the files
        (free pages, the journal), so no earlier plain text stays readable there."""


class ConfigurationRepository(Protocol):
    async def get(self, config_id: int) -> Configuration | None: ...

    async def all(self, authorisation_id: int | None = None) -> list[Configuration]:
        """By administration number, then id."""

    async def schedulable(self) -> list[Configuration]:
        """Active and automatic, with an active authorisation and access to its administration;
        by id."""

    async def without_ledger_name(self, authorisation_id: int) -> list[Configuration]: ...

    async def on_target(
        self, provider: str, tenant_id: str | None, ledger_id: str, administration_id: str
    ) -> list[Configuration]:
        """The active configurations that post this administration into this ledger of this
        provider organisation (a missing tenant is the same as an empty one); by id."""

    async def clash(
        self, authorisation_id: int, administration_id: str, other_than: int | None
    ) -> int | None:
        """The id of another configuration of this authorisation and administration."""

    async def create(self, values: ConfigurationValues, *, active: bool) -> int:
        """``Duplicate`` if the authorisation has one for this administration already."""

    async def update(self, config_id: int, values: ConfigurationValues) -> None: ...

    async def set_active(self, config_id: int, active: bool) -> None: ...

    async def set_ledger_name(self, config_id: int, name: str) -> None: ...

    async def delete(self, config_id: int) -> None:
        """With its runs, drafts and period status; its entries stay, unlinked."""


class PeriodRepository(Protocol):
    """Per configuration and period: synced (posted, or empty) and what the PMS showed."""

    async def done(self, config_id: int) -> set[str]:
        """Keys of the periods settled (posted or empty)."""

    async def summary_by_configuration(self) -> dict[int, DoneSummary]:
        """How many periods each configuration has settled, and the first and last of those
        keyed like its frequency, from the index alone (configurations with none left out):
        what a listing needs when they run unbroken, whatever the history's length."""

    async def source_hash(self, config_id: int, period: str) -> str | None: ...

    async def record_drift(
        self, config_id: int, period: str, digest: str, note: NewNotification
    ) -> Notification:
        """A newly seen difference between the PMS and what was posted, and its notification."""


class RunRepository(Protocol):
    async def get(self, run_id: int) -> Run | None: ...

    async def recent(
        self, configuration_id: int | None, state: str | None, limit: int
    ) -> list[Run]:
        """Newest first."""

    async def active(self, config_id: int) -> Run | None:
        """The configuration's run that is queued, fetching, building or posting."""

    async def running(self) -> list[Run]:
        """Every active run, oldest first."""

    async def latest(self, config_id: int) -> Run | None: ...

    async def latest_by_configuration(self) -> dict[int, Run]:
        """``latest`` of every configuration that has a run, in one query."""

    async def latest_for_period(self, config_id: int, period: str) -> Run | None: ...

    async def interrupted(self) -> list[Run]:
        """Active runs that never reached posting (after a restart: nothing was sent)."""

    async def posting(self) -> list[PostingRun]:
        """Runs that committed their intent to post, oldest first."""

    async def posting_run(self, run_id: int) -> PostingRun | None:
        """The run if it is in posting."""

    async def queue(
        self,
        config_id: int,
        period: str,
        *,
        trigger: str,
        draft_id: int | None,
        allow_correction: bool,
    ) -> int:
        """A new queued run: an entry run, or a correction run of a period already synced.
        Checked and written at once (so a restart's recovery settling this very period cannot
        slip in between and have it run twice): ``AlreadySynced`` when the period is synced and
        no correction is allowed, ``Duplicate`` when the configuration has an active run.

        A retry of a failed period carries its count of attempts on (the pause grows); after a
        run a crash interrupted (it failed at nothing) the count starts afresh."""

    async def set_state(self, run_id: int, state: str, stage: str | None) -> None:
        """Progress through fetching and building (the first one stamps ``started_at``)."""

    async def set_stage(self, run_id: int, stage: str) -> None: ...

    async def mark_posting(
        self,
        run_id: int,
        *,
        idempotency_key: str,
        payload_hash: str,
        payload: JsonObject,
    ) -> None:
        """The intent, committed before the provider is called: run and draft in posting, with
        the key and the exact entry, so a restart can look it up or replay it. ``Superseded``
        if the run is no longer active (a peer daemon settled it): it must not post."""

    async def record_posted(self, run_id: int, entry: NewEntry, note: NewNotification) -> Posted:
        """The provider holds the entry: entry, period status, run posted, draft posted and the
        notification (its link gets the new ``entry_id``), at once. If another run of the
        period recorded this very reference already (a sync started while a restart's recovery
        settled the period), the run points at that entry instead: held once, here and there."""

    async def record_empty(self, run_id: int) -> None:
        """No transactions: the period is settled as empty and the run posted."""

    async def record_unchanged(self, run_id: int, note: NewNotification) -> Notification:
        """A correction found nothing to correct: the run posted, and the notification."""

    async def record_failed(
        self,
        run_id: int,
        *,
        state: str,
        message: str,
        error_kind: str | None,
        note: NewNotification | None,
    ) -> Notification | None:
        """The run ends failed, cancelled or needing review (one more attempt counted); its
        draft, if posting, is open again."""


class DraftRepository(Protocol):
    async def create(self, config_id: int, period: str, data: JsonObject) -> int: ...

    async def get(self, draft_id: int) -> StoredDraft | None: ...

    async def update(self, draft_id: int, data: JsonObject) -> None: ...


class EntryRepository(Protocol):
    async def recent(
        self,
        *,
        configuration_id: int | None,
        administration_id: str | None,
        period_prefix: str | None,
        limit: int,
        offset: int,
    ) -> list[Entry]:
        """Newest first, without lines."""

    async def get(self, entry_id: int) -> Entry | None:
        """With lines."""

    async def for_period(self, config_id: int, period: str) -> list[Entry]:
        """The entry and its corrections, with lines."""

    async def set_source(self, entry_id: int, source_lines: list[JsonObject]) -> None:
        """The PMS lines of an entry posted before snapshots were kept, once rebuilt."""

    async def corrections(self, config_id: int, period: str) -> int:
        """How many corrections of the period were posted."""


class NotificationRepository(Protocol):
    async def create(self, note: NewNotification) -> Notification: ...

    async def recent(self, *, unread_only: bool, limit: int) -> list[Notification]:
        """Newest first."""

    async def unread_count(self) -> int: ...

    async def mark_read(self, notification_id: int | None) -> int:
        """One notification, or every one (None); how many were unread."""


class ReportRepository(Protocol):
    """Figures across tables, for daemon.status and the metrics file."""

    async def counts(self) -> Counts: ...

    async def runs_needing_attention(self, limit: int) -> list[Run]:
        """The last run of each period, if failed or needing review and the period is still
        not synced; newest first."""

    async def metrics(self) -> MetricsFigures: ...


class Store(Protocol):
    """Every repository, on one backend that is opened once and closed once."""

    @property
    def pms(self) -> PmsRepository: ...

    @property
    def administrations(self) -> AdministrationRepository: ...

    @property
    def authorisations(self) -> AuthorisationRepository: ...

    @property
    def credentials(self) -> CredentialRepository: ...

    @property
    def logins(self) -> PendingLoginRepository: ...

    @property
    def secrets(self) -> SecretRepository: ...

    @property
    def configurations(self) -> ConfigurationRepository: ...

    @property
    def periods(self) -> PeriodRepository: ...

    @property
    def runs(self) -> RunRepository: ...

    @property
    def drafts(self) -> DraftRepository: ...

    @property
    def entries(self) -> EntryRepository: ...

    @property
    def notifications(self) -> NotificationRepository: ...

    @property
    def reports(self) -> ReportRepository: ...

    async def open(self) -> None:
        """Create or upgrade the schema and connect; ``StateDirError`` if it is unsafe."""

    async def close(self) -> None: ...
