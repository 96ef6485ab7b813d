"""Every BEX API path, filter, type and attribute name bexsync relies on, in one place.

UNCONFIRMED: the public research (shared/research/bex-api.md, section 3.2 and 7) could NOT
confirm the paths, filters and attribute names of the ledger-account, VAT-code, VAT-tariff and
journal-transaction endpoints, nor the administration's number/currency/time-zone attributes
or the subscription's link to its administrations. The values below are the probable shapes
from that research, marked [I] (inference) where unverified. The machine-readable truth is the
OAS3 spec at https://api.bookingexperts.nl/v3/oas3.json: aligning bexsync with it is a change to
this file only (the client, the parser and the simulator all read their names from here).

Tags: [V] current BEX docs, [H] BEX's 2020 v3 docs, [I] inference, not a documented fact.
"""

from __future__ import annotations

from providers.ratelimit import RateLimitSpec

PROVIDER = "bex"
MEDIA_TYPE = "application/vnd.api+json"  # [V]
API_KEY_HEADER = "X-API-KEY"  # [V]
DEFAULT_BASE_URL = "https://api.bookingexperts.nl"  # [V]; paths below carry the /v3 prefix

# -- OAuth2 (pms.connect with auth "oauth"; research section 2.2) ----------------------------
# GAP: the token URL https://api.bookingexperts.nl/oauth/token is documented [V]; the authorize
# path is only in the 2020 security scheme [H]. Both are taken relative to the API base URL so
# that a sandbox or simulator base URL brings its own login; [pms] authorize_url / token_url
# override them. Scopes are fixed in the app's "permissions" [I], so none are requested.
OAUTH_AUTHORIZE_PATH = "/oauth/authorize"  # [H] GAP
OAUTH_TOKEN_PATH = "/oauth/token"  # [V]
OAUTH_SCOPES: tuple[str, ...] = ()  # [I] GAP: whether a scope parameter is expected is unknown
OAUTH_USE_PKCE = True  # [I] GAP: not documented; servers that ignore PKCE ignore it harmlessly

# -- limits ---------------------------------------------------------------------------------
# [H] 500 calls per moving 15 minutes, bursts up to 100 per minute; X-RateLimit-Remaining.
RATE_LIMIT = RateLimitSpec(
    calls=500,
    per_seconds=900,
    burst=(100, 60),
    concurrent=4,
    remaining_header="X-RateLimit-Remaining",
)
RATE_LIMIT_HEADER = "X-RateLimit-Limit"  # [H]
RATE_REMAINING_HEADER = "X-RateLimit-Remaining"  # [H]
DEFAULT_PAGE_SIZE = 100  # [3P] Pipedream asks for 100; BEX's maximum page size is unknown
SIMULATOR_MAX_PAGE_SIZE = 1000  # the simulator's cap (not a BEX fact)

# -- paths ----------------------------------------------------------------------------------
SUBSCRIPTION_PATH = "/v3/subscription"  # [V]
ADMINISTRATIONS_PATH = "/v3/administrations"  # [V]
ADMINISTRATION_PATH = "/v3/administrations/{administration_id}"  # [H]
LEDGER_ACCOUNTS_PATH = "/v3/administrations/{administration_id}/ledger_accounts"  # [I]
VAT_CODES_PATH = "/v3/administrations/{administration_id}/vat_codes"  # [I]
VAT_TARIFFS_PATH = "/v3/administrations/{administration_id}/vat_tariffs"  # [I]
JOURNAL_TRANSACTIONS_PATH = "/v3/administrations/{administration_id}/journal_transactions"  # [I]

# -- query parameters -----------------------------------------------------------------------
PAGE_NUMBER_PARAM = "page[number]"  # [H]
PAGE_SIZE_PARAM = "page[size]"  # [H]
TXN_DATE_FILTER = "filter[date]"  # [I] which date attribute is filterable is unknown
RANGE_SEPARATOR = ".."  # [H] filter value form a..b means BETWEEN
META_PAGINATION = "pagination"  # [H] 2020 responses: meta.pagination.total_records
META_TOTAL_RECORDS = "total_records"  # [H] (absent today? then the check is skipped)

# -- JSON:API resource types ----------------------------------------------------------------
TYPE_SUBSCRIPTION = "subscription"  # [H]
TYPE_ADMINISTRATION = "administration"  # [H]
TYPE_LEDGER_ACCOUNT = "ledger_account"  # [I] from the scope name ledger_account|read
TYPE_VAT_CODE = "vat_code"  # [I] from the scope name vat_code|read
TYPE_VAT_TARIFF = "vat_tariff"  # [I] from the scope name vat_tariff|read
TYPE_JOURNAL_TRANSACTION = "journal_transaction"  # [I] from journal_transaction|read

# -- subscription ---------------------------------------------------------------------------
# [H] had relationships organization and administration_subscriptions[]; [I] that an
# administration relationship lists the granted administration ids directly.
SUBSCRIPTION_ADMINISTRATIONS_REL = "administrations"  # [I]

# -- administration -------------------------------------------------------------------------
ADMIN_NAME = "name"  # [H]
ADMIN_NUMBER = "number"  # [I] the help centre shows administrations by number
ADMIN_CURRENCY = "currency"  # [I]
ADMIN_TIMEZONE = "time_zone"  # [I] (2020 had only utc_offset)
DEFAULT_CURRENCY = "EUR"  # used when the administration carries no currency attribute
DEFAULT_TIMEZONE = "Europe/Amsterdam"  # used when it carries no time zone

# -- ledger account -------------------------------------------------------------------------
LEDGER_NUMBER = "number"  # [I] null for BEX's "Uncategorized ..." accounts [V]
LEDGER_NAME = "name"  # [I]

# -- VAT code and tariff --------------------------------------------------------------------
VAT_CODE = "code"  # [I]
VAT_NAME = "name"  # [I]
VAT_PERCENTAGE = "percentage"  # [I] a decimal string
VAT_TARIFF_PERCENTAGE = "percentage"  # [I]
VAT_TARIFF_START = "start_date"  # [I]
VAT_TARIFF_END = "end_date"  # [I]
VAT_TARIFF_VAT_CODE_REL = "vat_code"  # [I]

# -- journal transaction --------------------------------------------------------------------
# [I] Amounts: "debit_credit" = two non-negative decimal strings; "signed" = one signed
# amount attribute, positive = debit. Switch here once the spec says which.
TXN_AMOUNT_MODE = "debit_credit"
TXN_DATE = "date"  # [I] the posting (journal) date that periods use
TXN_DEBIT = "debit"  # [I]
TXN_CREDIT = "credit"  # [I]
TXN_AMOUNT = "amount"  # [I] only in "signed" mode
TXN_DESCRIPTION = "description"  # [I]
TXN_INVOICE_NUMBER = "invoice_number"  # [I]
TXN_INVOICE_DATE = "invoice_date"  # [I]
TXN_CREATED_AT = "created_at"  # [I] not read by the client; the simulator sends it
TXN_LEDGER_ACCOUNT_REL = "ledger_account"  # [I]
TXN_VAT_CODE_REL = "vat_code"  # [I]
TXN_INVOICE_REL = "invoice"  # [I]
TYPE_INVOICE = "invoice"  # [H]

# -- errors ---------------------------------------------------------------------------------
ERROR_APPLICATION_HALTED = "APPLICATION_HALTED"  # [V] the app is halted: every call refused


def path(template: str, administration_id: str) -> str:
    """Fill an administration-scoped path (ids are quoted so a bad id cannot change the path)."""
    from urllib.parse import quote

    return template.format(administration_id=quote(str(administration_id), safe=""))
