"""What bexsync tells users about each provider, in one table (DESIGN.md's "Providers" table).

Each adapter class takes its ``info`` from here (``info = CATALOG["xero"]``); the registry
(``providers.registry.ADAPTERS``) says which class serves each id. ``settings`` holds the
endpoint keys of ``[providers.<id>]`` with their defaults, which the adapters read them from.
"""

from __future__ import annotations

from collections.abc import Mapping

from providers.base import AuthKind, Capabilities, ProviderInfo, Route

CHIFT_API = "https://api.chift.eu"
ENTRA = "https://login.microsoftonline.com/{entra_tenant}/oauth2/v2.0"


def _described(
    provider_id: str,
    title: str,
    auth: tuple[AuthKind, ...],
    capabilities: Capabilities,
    notes: str,
    settings: Mapping[str, str],
    route: Route = "direct",
) -> ProviderInfo:
    return ProviderInfo(provider_id, title, route, auth, capabilities, notes, settings)


_CHIFT_SETTINGS = {"api_url": CHIFT_API, "token_url": f"{CHIFT_API}/token"}
_PROVIDERS = (
    _described(
        "acd",
        "ACD (i-Suite Expert)",
        ("credentials",),
        Capabilities(idempotency="lookup", currencies=("EUR",)),
        "The firm's i-Suite Expert host and connection code, an i-Suite user and its password "
        "(kept to log in again when the session expires). The dossier must be published in "
        "i-Suite with the target journal ticked. EUR only.",
        {"api_url": "{host}/{code}/api"},
    ),
    _described(
        "business_central",
        "Microsoft Dynamics 365 Business Central",
        ("device_code", "oauth_code", "client_credentials"),
        Capabilities(idempotency="lookup"),
        "Entra ID app registration (client_id; client_secret_file for client credentials). "
        "Tenants are environment/company. Each run posts through its own journal batch; "
        "entries are found again by their document number (BX...).",
        {
            "api_url": "https://api.businesscentral.dynamics.com",
            "authorize_url": f"{ENTRA}/authorize",
            "token_url": f"{ENTRA}/token",
            "device_url": f"{ENTRA}/devicecode",
        },
    ),
    _described(
        "cegid_loop",
        "Cegid Loop",
        ("credentials",),
        Capabilities(idempotency="lookup", async_post=True),
        "Partner subscription key (client_secret_file) plus the firm's API key (key:secret "
        "from CegidLife, activated in LoopHub) and the dossier code. Imports are asynchronous: "
        "a run stays 'posting' until Cegid has processed the import.",
        {"api_url": "https://api.cegid.com/loop-api-publiques"},
    ),
    _described(
        "chift",
        "Chift (unified accounting API)",
        ("credentials",),
        Capabilities(idempotency="key"),
        "Any accounting software connected to a Chift consumer. Log in with a Chift API key "
        "(client id, secret, account id); each consumer (or folder) is a tenant.",
        _CHIFT_SETTINGS,
        route="chift",
    ),
    _described(
        "inqom",
        "Inqom",
        ("password",),
        Capabilities(idempotency="key"),
        "OAuth2 password grant with an API client issued by Inqom (client_id and "
        "client_secret_file in [providers.inqom]). Each dossier the user sees is a tenant. VAT "
        "codes are named in line labels; Inqom lines carry no tax code.",
        {
            "api_url": "https://api.inqom.com",
            "token_url": "https://auth.inqom.com/identity/connect/token",
        },
    ),
    _described(
        "minox",
        "Minox",
        ("oauth_code",),
        Capabilities(idempotency="key"),
        "OAuth2 app from Minox's open-API programme (client_id, client_secret_file); the "
        "subscription's main user consents. Tenants are tenant/administration. Each entry is a "
        "transaction line batch whose uuid comes from the idempotency key.",
        {
            "api_url": "https://app.minox.nl/api/1",
            "authorize_url": "https://app.minox.nl/oauth/authorize",
            "token_url": "https://app.minox.nl/oauth/token",
        },
    ),
    _described(
        "myunisoft",
        "MyUnisoft",
        ("credentials",),
        Capabilities(idempotency="lookup", currencies=("EUR",)),
        "The partner secret (X-Third-Party-Secret) is the app registration (client_secret_file "
        "in [providers.myunisoft]); the customer's API token is the login. Firm-level tokens "
        "need the dossier's society id. Amounts in EUR only. VAT codes are named in line labels.",
        {"api_url": "https://api.myunisoft.fr/api/v1"},
    ),
    _described(
        "odoo",
        "Odoo",
        ("credentials",),
        Capabilities(idempotency="lookup"),
        "API key of a dedicated Odoo user (Preferences > Account Security; keys last at most "
        "three months). JSON-2 on Odoo 19+, JSON-RPC before. VAT codes are checked against "
        "account.tax names but not attached: BEX posts its VAT lines itself.",
        {"api_url": "https://<database>.odoo.com"},
    ),
    _described(
        "pennylane",
        "Pennylane",
        ("credentials",),
        Capabilities(idempotency="lookup", max_lines=1000),
        "Company API token (Settings > Connectivity > Developers) with the journals, "
        "ledger_accounts and ledger_entries scopes. Partners' OAuth2 code flow is not offered "
        "yet. VAT codes are named in line labels; Pennylane entries carry no tax code.",
        {"api_url": "https://app.pennylane.com/api/external/v2"},
    ),
    _described(
        "sage100fr",
        "Sage 100 FR (through Chift's local agent)",
        ("credentials",),
        Capabilities(idempotency="key"),
        "Sage 100 runs on your own server: Chift's local agent (a Windows service on that "
        "server) must be installed and running. Log in with your Chift API key; each Chift "
        "consumer connected to Sage 100 is a tenant.",
        _CHIFT_SETTINGS,
        route="chift",
    ),
    _described(
        "sandbox",
        "Sandbox ledger (local)",
        ("none",),
        Capabilities(idempotency="key"),
        "A local SQLite ledger in the state dir, for the demo and dry runs.",
        {},
        route="local",
    ),
    _described(
        "tiime",
        "Tiime (through Chift)",
        ("credentials",),
        Capabilities(idempotency="key"),
        "Tiime has no public API: bexsync posts through Chift. Log in with your Chift API key; "
        "each Chift consumer connected to Tiime is a tenant. Missing ledger accounts are "
        "created in Tiime from the line's account number and name.",
        _CHIFT_SETTINGS,
        route="chift",
    ),
    _described(
        "xero",
        "Xero",
        ("oauth_code",),
        Capabilities(idempotency="key"),
        "Manual journals in the organisation's base currency; one pseudo-ledger "
        "'Manual journals'; the reference is kept in the narration. Granular scopes by "
        'default; scopes = "legacy" in [providers.xero] for apps made before March 2026.',
        {
            "api_url": "https://api.xero.com/api.xro/2.0",
            "identity_url": "https://api.xero.com",
            "authorize_url": "https://login.xero.com/identity/connect/authorize",
            "token_url": "https://identity.xero.com/connect/token",
        },
    ),
)
CATALOG: Mapping[str, ProviderInfo] = {info.id: info for info in _PROVIDERS}
