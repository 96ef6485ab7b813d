"""``--demo-providers``: every named provider's simulator, an authorisation and a configuration.

The daemon reaches each simulator exactly as it would reach the real provider: through the
endpoint overrides of a ``[providers.<id>]`` table (here built in memory from what the simulator
reports) and the provider's own login step, completed the way a user would complete it.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from providers import registry
from providers.catalog import CATALOG
from providers.settings import ProviderSettings

if TYPE_CHECKING:
    from daemon.app import DaemonApp
    from providers.simulators.demo import DemoProvider

log = logging.getLogger("bexsync.demo")


class DemoProvidersError(ValueError):
    pass


def parse_ids(spec: str) -> list[str]:
    known = [s.info.id for s in registry.all_specs() if s.info.id != "sandbox"]
    if spec.strip() == "all":
        return known
    ids = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise DemoProvidersError(
            f"--demo-providers: unknown or unavailable provider(s) {', '.join(unknown)}; "
            f"available: {', '.join(known)}"
        )
    return ids


async def start_simulators(app: DaemonApp, ids: list[str]) -> dict[str, DemoProvider]:
    """Start each simulator and register its endpoints as if they were in the config file."""
    workdir = app.state_dir / "demo-providers"
    workdir.mkdir(mode=0o700, exist_ok=True)
    started: dict[str, DemoProvider] = {}
    for provider_id in ids:
        module = importlib.import_module(f"providers.simulators.{provider_id}")
        demo = await module.demo_setup(workdir)
        app.extra_stop.append(demo.aclose)
        app.provider_settings.add(
            provider_id, ProviderSettings.from_table(provider_id, demo.settings)
        )
        started[provider_id] = demo
        log.info("demo: %s simulator started", provider_id)
    app.demo_providers.update(started)
    return started


async def seed_demo_providers(app: DaemonApp, spec: str, *, first_start: bool = True) -> None:
    started = await start_simulators(app, parse_ids(spec))
    if not first_start:
        return
    admins = [a for a in await app.administrations.list() if a["access"]]
    for provider_id, demo in started.items():
        created = await app.authorisations.create(
            f"Demo {CATALOG[provider_id].title}", provider_id, demo.create_settings or None
        )
        auth_id = created["authorisation"]["id"]
        step = created["next_step"]
        if demo.complete is not None:
            await app.authorisations.complete(auth_id, None, None, demo.complete.get("credentials"))
        elif demo.browser_login is not None and step.get("kind") == "open_url":
            redirect = await demo.browser_login(step["url"])
            await app.authorisations.complete(auth_id, redirect, None, None)
        # Inactive on purpose: authorisations.activate verifies it against the simulator.
        provider = await app.providers.provider_for(auth_id)
        tenants = await provider.list_tenants()
        tenant = tenants[0].id if tenants else None
        ledgers = await provider.list_ledgers(tenant)
        ledger = next((x for x in ledgers if "BEX" in (x.id, x.code)), ledgers[0])
        await app.configurations.create(
            {
                "authorisation_id": auth_id,
                "administration_id": admins[0]["id"],
                "frequency": "monthly",
                "ledger_id": ledger.id,
                "start_date": app.clock().date().replace(day=1, month=1),
                "end_date": None,
                "delay_days": 3,
                "automatic": False,
                "tenant_id": tenant,
                "activate": False,
                "no_vat_code": None,
            }
        )
        app.providers.forget(auth_id)
