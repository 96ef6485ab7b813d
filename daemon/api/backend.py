"""What the RPC methods need from the daemon, and nothing more: the API's side of the seam.

The handlers in this package see the daemon only through ``ApiBackend`` (``ctx.app``). The
composition root hands the server an object with these members; mypy checks that it fits
where the server is built, so a service whose signature drifts is caught there.

Results are ``Shaped``: whatever a service returns (a dict today, a typed record tomorrow) is
converted by field name to the method's declared result Struct (``daemon.api.shapes``) before
it is sent, so the static type here is only "an object with those fields".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias

from daemon.model import PmsAuth, RunState, RunTrigger
from daemon.rpc.registry import CallContext
from daemon.rpc.wire import JSONObject

Shaped: TypeAlias = object
"""A dict or an object with the fields of the method's result Struct."""


class AdministrationsApi(Protocol):
    async def pms_get(self) -> Shaped: ...
    async def pms_connect(
        self, base_url: str | None, api_key: str | None, auth: PmsAuth | None, /
    ) -> Shaped: ...
    async def pms_complete(self, redirect_url: str | None, code: str | None, /) -> Shaped: ...
    async def list(self) -> Sequence[Shaped]: ...
    async def set_access(self, admin_id: str, access: bool, /) -> Shaped: ...


class AuthorisationsApi(Protocol):
    async def list(self) -> Sequence[Shaped]: ...
    async def get(self, auth_id: int, /) -> Shaped: ...
    async def create(self, name: str, provider: str, settings: JSONObject | None, /) -> Shaped: ...
    async def login(self, auth_id: int, /) -> Shaped: ...
    async def complete(
        self,
        auth_id: int,
        redirect_url: str | None,
        code: str | None,
        credentials: JSONObject | None,
        /,
    ) -> Shaped: ...
    async def activate(self, auth_id: int, tenant_id: str | None, /) -> Shaped: ...
    async def delete(self, auth_id: int, /) -> Shaped: ...


class ConfigurationsApi(Protocol):
    async def options(self, authorisation_id: int, /) -> Shaped: ...
    async def list(self, authorisation_id: int | None, /) -> Sequence[Shaped]: ...
    async def get(self, config_id: int, /) -> Shaped: ...
    async def create(self, values: dict[str, object], /) -> Shaped: ...
    async def update(self, config_id: int, changes: dict[str, object], /) -> Shaped: ...
    async def set_active(self, config_id: int, active: bool, /) -> Shaped: ...
    async def delete(self, config_id: int, /) -> Shaped: ...
    async def accounts(self, config_id: int, /) -> Sequence[Shaped]: ...


class SyncsApi(Protocol):
    """Starting and cancelling runs (the sync engine)."""

    async def start(
        self,
        config_id: int,
        period: str | None,
        /,
        *,
        draft_id: int | None,
        trigger: RunTrigger,
        force: bool,
        early: bool,
    ) -> int: ...
    async def cancel(self, run_id: int, /) -> Shaped: ...


class DraftsApi(Protocol):
    """Previews and their drafts."""

    async def preview(self, config_id: int, period: str | None, /) -> Shaped: ...
    async def get(self, draft_id: int, /) -> Shaped: ...
    async def update(self, draft_id: int, lines: list[JSONObject], /) -> Shaped: ...


class RunsApi(Protocol):
    async def get(self, run_id: int, /) -> Shaped: ...
    async def list(
        self, configuration_id: int | None, state: RunState | None, limit: int, /
    ) -> Sequence[Shaped]: ...


class EntriesApi(Protocol):
    async def list(
        self,
        configuration_id: int | None,
        administration_id: str | None,
        period: str | None,
        limit: int,
        offset: int,
        /,
    ) -> Sequence[Shaped]: ...
    async def get(self, entry_id: int, /) -> Shaped: ...


class NotificationsApi(Protocol):
    async def list(self, unread_only: bool, /) -> Sequence[Shaped]: ...
    async def mark_read(self, notification_id: int | None, all_: bool, /) -> int: ...


class ReportApi(Protocol):
    def hello(self) -> Shaped: ...
    async def status(self) -> Shaped: ...


class ProviderCatalogApi(Protocol):
    def catalog(self) -> Sequence[Shaped]: ...


class ApiBackend(Protocol):
    """The daemon as the RPC methods see it."""

    @property
    def administrations(self) -> AdministrationsApi: ...
    @property
    def authorisations(self) -> AuthorisationsApi: ...
    @property
    def configurations(self) -> ConfigurationsApi: ...
    @property
    def engine(self) -> SyncsApi: ...
    @property
    def drafts(self) -> DraftsApi: ...
    @property
    def runs(self) -> RunsApi: ...
    @property
    def entries(self) -> EntriesApi: ...
    @property
    def notifications(self) -> NotificationsApi: ...

    @property
    def report(self) -> ReportApi: ...
    @property
    def provider_settings(self) -> ProviderCatalogApi: ...


Ctx: TypeAlias = CallContext[ApiBackend]
"""What every handler of this package receives."""
