"""The name shown beside a configuration's ledger id, read from the provider."""

from __future__ import annotations

from daemon.errors import AuthorisationRequired, ValidationFailed
from daemon.model import FieldProblem
from daemon.provider_pool import ProviderPool
from providers.errors import ProviderError


async def ledger_name(
    pool: ProviderPool,
    authorisation_id: int,
    ledger_id: str,
    tenant: str | None,
    *,
    must_exist: bool = False,
) -> str:
    """A provider hiccup is not fatal (the ledger is checked again when posting), but when the
    provider does answer and has no such ledger, ``must_exist`` refuses it now rather than at
    the first sync."""
    try:
        provider = await pool.provider_for(authorisation_id)
        ledgers = await provider.list_ledgers(tenant)
    except (ProviderError, AuthorisationRequired):
        return ""
    for ledger in ledgers:
        if ledger.id == ledger_id:
            return ledger.name
    if must_exist and ledgers:
        known = ", ".join(sorted(ledger.id for ledger in ledgers)[:10])
        raise ValidationFailed(
            "The configuration breaks some rules.",
            errors=[
                FieldProblem(
                    "ledger_id", f"the provider has no ledger {ledger_id!r} (it has: {known})"
                )
            ],
        )
    return ""
