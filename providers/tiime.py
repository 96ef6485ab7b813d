"""The ``tiime`` provider: Tiime reached through Chift's unified accounting API.

Tiime publishes no API; Chift holds the partner OAuth app, so the login is a Chift API key and
the tenant a Chift consumer whose accounting connection is Tiime. Endpoint keys of
``[providers.tiime]``: ``api_url`` (default ``https://api.chift.eu``), ``token_url`` (default
``{api_url}/token``), plus ``integration_id`` to pin Chift's Tiime integration.

Tiime's quirks, per Chift's connector notes: one company per connection (no folders), and no
way to create ledger accounts or partners beforehand, so every journal item carries
``account_info`` (number and name) and Tiime creates a missing account on the fly.

Checked against: Chift's published OpenAPI document (shared/specs/chift_openapi.json, every
request validated in the tests) and Chift's Tiime connector page (shared/research/
providers-fr-nl.md sections 2 and 9). Tiime itself publishes no API.
"""

from __future__ import annotations

from typing import ClassVar

from providers.chift_gateway import ChiftGateway, Connector

TIIME = Connector(
    provider_id="tiime",
    label="Tiime",
    integration_names=("tiime",),
    multi_folder=False,
    send_account_info=True,
)


class TiimeProvider(ChiftGateway, provider="tiime"):
    connector: ClassVar[Connector] = TIIME
