"""The embedded demo (CONTRACT.md section 5): a simulated PMS and a sandbox ledger, seeded once.

Everything goes through production code paths: the simulated PMS is a real HTTP server on
127.0.0.1 that the real BEX client talks to, and the seeding calls the same services the RPC
methods call.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from providers.simulators.base import SimulatorServer
from providers.simulators.bex import BexDataset, create_bex_app
from providers.simulators.planted import plant

if TYPE_CHECKING:
    from daemon.app import DaemonApp

log = logging.getLogger("bexsync.demo")

DEMO_SEED = 20261127
DEMO_AUTHORISATION = "Demo sandbox"


async def start_pms_simulator(app: DaemonApp) -> tuple[str, str]:
    api_key = plant("demo-", 12)
    dataset = BexDataset(seed=DEMO_SEED, today=lambda: app.clock().date())
    # The client keeps to BEX's limits itself; the demo's PMS does not also police them, so a
    # busy machine never turns a burst into a minute-long Retry-After in the demo.
    pms = create_bex_app(dataset, api_key=api_key, rate_limit=None)
    server = SimulatorServer(pms, name="bex-simulator")
    url = await server.start()
    app.extra_stop.append(server.stop)
    log.info("demo: simulated BEX PMS at %s", url)
    return url, api_key


async def seed_demo(app: DaemonApp, *, providers: str | None = None) -> None:
    """Start the simulators; seed the state on first start, re-point the PMS on later ones."""
    url, api_key = await start_pms_simulator(app)
    first_start = (await app.store.reports.counts()).authorisations == 0
    await app.administrations.pms_connect(url, api_key)
    if not first_start:
        if providers:
            from daemon.demo_providers import seed_demo_providers

            await seed_demo_providers(app, providers, first_start=False)
        return
    admins = await app.administrations.list()
    for admin in admins:
        await app.administrations.set_access(admin["id"], True)
    created = await app.authorisations.create(DEMO_AUTHORISATION, "sandbox", None)
    auth_id = created["authorisation"]["id"]
    await app.authorisations.activate(auth_id, None)
    today = app.clock().date()
    month_start = today.replace(day=1)
    three_months_ago = (month_start - timedelta(days=70)).replace(day=1)
    plans = [
        # (frequency, start, automatic, delay): one daily automatic that catches up on start,
        # one monthly manual to preview and correct, one monthly automatic.
        ("daily", today - timedelta(days=10), True, 0),
        ("monthly", three_months_ago, False, 3),
        ("monthly", three_months_ago, True, 5),
    ]
    for admin, (frequency, start, automatic, delay) in zip(admins, plans, strict=False):
        await app.configurations.create(
            {
                "authorisation_id": auth_id,
                "administration_id": admin["id"],
                "frequency": frequency,
                "ledger_id": "BEX",
                "start_date": start,
                "end_date": None,
                "delay_days": delay,
                "automatic": automatic,
                "tenant_id": None,
                "activate": True,
                "no_vat_code": "NONE",
            }
        )
    if providers:
        from daemon.demo_providers import seed_demo_providers

        await seed_demo_providers(app, providers)
    log.info("demo: seeded %d administrations and their configurations", len(admins))
