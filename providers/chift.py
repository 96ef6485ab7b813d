"""The ``chift`` provider: any accounting software connected to a Chift consumer.

Chift's unified accounting API is the route; the adapter is the shared ``ChiftGateway``
(``providers.chift_gateway``) with no connector restriction: every consumer with an active
accounting connection is a tenant, named with its integration.

Checked against: Chift's published OpenAPI document (shared/specs/chift_openapi.json) and
docs.chift.eu; the tests validate every request against the OpenAPI file.
"""

from __future__ import annotations

from typing import ClassVar

from providers.chift_gateway import ChiftGateway, Connector


class ChiftProvider(ChiftGateway, provider="chift"):
    connector: ClassVar[Connector] = Connector(
        provider_id="chift", label="any accounting connector"
    )
