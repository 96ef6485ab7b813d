"""One ledger, one feed: two configurations that post the same administration into the same
ledger of the same provider organisation (tenant, company, folder) would post every period twice.

The target of a configuration is (provider, tenant, ledger, administration); a second active
configuration on a target, under another authorisation, is refused unless it says
``allow_duplicate_target`` - and then it carries a warning wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from daemon.labels import configuration_label
from daemon.store.records import Configuration

Target = tuple[str, str, str, str]


def target_of(
    provider: str, tenant_id: str | None, ledger_id: str, administration_id: str
) -> Target:
    return (provider, tenant_id or "", ledger_id, administration_id)


def config_target(cfg: Configuration) -> Target:
    return target_of(cfg.provider, cfg.tenant_id, cfg.ledger_id, cfg.administration_id)


def twins(
    target: Target, authorisation_id: int, config_id: int | None, configs: Iterable[Configuration]
) -> list[Configuration]:
    """Other active configurations, of other authorisations, on the same target."""
    return [
        c
        for c in configs
        if c.active
        and c.id != config_id
        and c.authorisation_id != authorisation_id
        and config_target(c) == target
    ]


def duplicate_warning(cfg: Configuration, configs: Iterable[Configuration]) -> str | None:
    """For a configuration that posts where another active one posts too."""
    others = twins(config_target(cfg), cfg.authorisation_id, cfg.id, configs)
    if not others:
        return None
    names = "; ".join(configuration_label(c) for c in others)
    return (
        f"Posts the same administration into the same ledger as {names}: every period may be "
        "posted twice. Allowed only because allow_duplicate_target is set."
    )
