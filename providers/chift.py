"""The ``chift`` provider: any accounting software connected to a Chift consumer.

Chift's unified accounting API is the route; the adapter is the shared ``ChiftGateway``
(``providers.chift_gateway``) with no connector restriction: every consumer with an active
accounting connection is a tenant, named with its integration.

Checked against: Chift's published OpenAPI document (shared/specs/chift_openapi.json) and
docs.chift.eu; the tests validate every request against the OpenAPI file.
"""

from __future__ import annotations

from typing import ClassVar

from providers.base import Capabilities, ProviderInfo
from providers.chift_gateway import DEFAULT_API_URL, ChiftGateway, Connector


class ChiftProvider(ChiftGateway):
    info: ClassVar[ProviderInfo] = ProviderInfo(
        id="chift",
        title="Chift (unified accounting API)",
        route="chift",
        auth=("credentials",),
        capabilities=Capabilities(idempotency="key"),
        notes="Any accounting software connected to a Chift consumer. Log in with a Chift API "
        "key (client id, secret, account id); each consumer (or folder) is a tenant.",
        settings={"api_url": DEFAULT_API_URL, "token_url": f"{DEFAULT_API_URL}/token"},
    )
    connector: ClassVar[Connector] = Connector(
        provider_id="chift", label="any accounting connector"
    )
