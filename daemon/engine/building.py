"""Building a period's draft: the PMS's transactions, page by page, into one entry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from daemon.entry_builder import BuildContext, Draft, EntryAccumulator
from daemon.periods import Period
from daemon.provider_pool import ProviderPool
from daemon.services.access import restore_hint
from daemon.store.records import Configuration
from providers.bex.client import BexClient
from providers.bex.models import LedgerAccount, VatCode
from providers.errors import ProviderError, rejected

REFERENCE_TTL = 300.0  # seconds the PMS's ledger accounts and VAT codes are reused


class PmsClients(Protocol):
    """Where the engine gets the one shared PMS client (``Administrations.pms_client``)."""

    async def pms_client(self) -> BexClient: ...

    async def refused(self, admin_id: str, error: ProviderError) -> bool:
        """True when the PMS's refusal meant access to the administration was removed."""


Reference = tuple[dict[str, LedgerAccount], dict[str, VatCode]]


class DraftBuilder:
    def __init__(self, *, pool: ProviderPool, pms: PmsClients) -> None:
        self._pool = pool
        self._pms = pms
        self._reference: dict[str, tuple[float, Reference]] = {}

    async def build(
        self,
        cfg: Configuration,
        period: Period,
        on_progress: Callable[[int], None] | None = None,
    ) -> Draft:
        """Fetch the period's transactions page by page and build the draft.

        A 403/404 for the administration that turns out to be access removed in BEX pauses its
        configurations (``Administrations.refused``) and fails with that reason."""
        try:
            return await self._build(cfg, period, on_progress)
        except ProviderError as exc:
            if not await self._pms.refused(cfg.administration_id, exc):
                raise
            raise rejected(
                exc.provider,
                f"BEX no longer gives this app access to administration "
                f"{cfg.administration_number} {cfg.administration_name} (HTTP {exc.status}); "
                f"its configurations are paused. {restore_hint(cfg.administration_id)}",
                status=exc.status,
            ) from None

    async def _build(
        self, cfg: Configuration, period: Period, on_progress: Callable[[int], None] | None
    ) -> Draft:
        tenant = cfg.tenant_id
        known_accounts, known_taxes = await self._pool.chart(cfg.authorisation_id, tenant)
        pms = await self._pms.pms_client()
        admin_id = cfg.administration_id
        accounts, vat_codes = await self._reference_data(pms, admin_id)
        ctx = BuildContext(
            configuration_id=cfg.id,
            period=period,
            administration_name=cfg.administration_name,
            currency=cfg.currency,
            ledger_id=cfg.ledger_id,
            tenant_id=tenant,
            accounts=accounts,
            vat_codes=vat_codes,
            account_map=cfg.account_map,
            vat_map=cfg.vat_map,
            no_vat_code=cfg.no_vat_code,
            known_accounts=known_accounts,
            known_tax_codes=known_taxes,
        )
        acc = EntryAccumulator(ctx)
        seen = 0
        pages = pms.iter_journal_transactions(
            admin_id,
            period.start,
            period.end,
            ledger_accounts=accounts.values(),
            vat_codes=vat_codes.values(),
        )
        async for page in pages:
            acc.add_many(page)
            seen += len(page)
            if on_progress is not None:
                on_progress(seen)
        return acc.finish()

    async def _reference_data(self, pms: BexClient, admin_id: str) -> Reference:
        """Ledger accounts and VAT codes change rarely; a catch-up must not re-fetch them per
        period and spend the PMS's rate limit (500 calls per 15 minutes) on it."""
        cached = self._reference.get(admin_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        accounts = {a.id: a for a in await pms.list_ledger_accounts(admin_id)}
        vat_codes = {v.id: v for v in await pms.list_vat_codes(admin_id)}
        self._reference[admin_id] = (time.monotonic() + REFERENCE_TTL, (accounts, vat_codes))
        return accounts, vat_codes
