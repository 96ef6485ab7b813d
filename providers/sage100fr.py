"""The ``sage100fr`` provider: Sage 100 Comptabilité (FR, on premises) through Chift.

Sage 100 has no hosted API; Chift reaches it through its local agent, a Windows service on the
customer's Sage server. The login is a Chift API key and the tenant a Chift consumer whose
accounting connection is Sage 100. Endpoint keys of ``[providers.sage100fr]``: ``api_url``
(default ``https://api.chift.eu``), ``token_url`` (default ``{api_url}/token``), plus
``integration_id`` to pin Chift's Sage 100 integration.

Quirks: the agent must be up (``verify`` reads the connection's ``agent.status``; a refusal
because the agent is away is ``unavailable``, retried later, not a rejection); one company file
per connection (no folders); one request at a time, since the agent drives Sage's Objets
Métiers sequentially; line labels cut to 35 characters (Sage 100's ``EC_Intitule``; an
assumption, Chift does not document it); the entry number is 13 characters (``EC_Piece``),
which ``providers.chift_gateway.entry_number`` already respects.

Checked against: Chift's published OpenAPI document (shared/specs/chift_openapi.json, every
request validated in the tests) and Chift's Sage 100 connector and local-agent pages
(shared/research/providers-fr-nl.md sections 7 and 9). Sage 100's field lengths are
assumptions.
"""

from __future__ import annotations

from typing import ClassVar

from providers.chift_gateway import ChiftGateway, Connector
from providers.ratelimit import RateLimitSpec

SAGE100FR = Connector(
    provider_id="sage100fr",
    label="Sage 100",
    integration_names=("sage100",),
    multi_folder=False,
    max_description=35,
    max_reference=17,  # EC_RefPiece (an assumption, like the label length)
    local_agent=True,
    rate_limit=RateLimitSpec(calls=120, per_seconds=60, concurrent=1),
)


class Sage100FrProvider(ChiftGateway, provider="sage100fr"):
    connector: ClassVar[Connector] = SAGE100FR
