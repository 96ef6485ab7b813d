"""The ``myunisoft`` provider: validated entries in a MyUnisoft dossier (partner API v1).

Endpoint keys of ``[providers.myunisoft]``:
  ``api_url``  default ``https://api.myunisoft.fr/api/v1``
  ``client_secret_file``: the partner's ``X-Third-Party-Secret`` (MyUnisoft issues it to listed
  partners; it is the app registration, the same for every customer). ``client_id``: any name
  for that registration (bexsync only needs it to know the app is registered).

Login: a credentials form with the customer's API token (a JWT generated in MyUnisoft under
Paramètres > Connecteurs). A society-level token reaches one dossier, which is the only tenant;
a firm-level token also needs the dossier's ``society_id`` (sent as the ``society-id`` header).

Every call carries both secrets. Reads: ``/key/info?mode=extended`` (also activates a new key),
``/society``, ``/diary`` (journals), ``/account?mode=2`` (accounts: lines use ``account_id``,
never the number), ``/society/exercice`` (fiscal years; a closed one is ``period_locked``, as is
error ECR9). Writes: ``POST /entry?type=e``, one entry per call, with
``entry_origin_partner_id`` = the entry's reference, which ``GET /entry/id?id_origin=`` finds.
Rate limit: 20 requests per 10 seconds per token, at most 10 at once
(``X-Rate-Limit-Remaining`` / ``X-Rate-Limit-Reset``).

Checked against: MyUnisoft's partner documentation (GitHub MyUnisoft/api-partenaires: the
docs, the JSON import schema and the Postman collections; shared/research/providers-fr-nl.md
section 4). The answer of ``/society`` and the paging parameter of ``/account`` are
assumptions, marked ``GAP``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, Tenant, VerifyResult
from providers.context import ProviderContext
from providers.entry_checks import currency_not_in, refuse_closed_period, refuse_malformed
from providers.error_bodies import error_code
from providers.errors import ProviderError, auth_expired, period_locked, rejected, unavailable
from providers.http import provider_message
from providers.kit import FieldError, HttpAdapter, app_secret, ledgers_from
from providers.login import CredentialField, CredentialsLogin
from providers.ratelimit import RateLimitSpec
from providers.redact import register_secret
from providers.settings import ProviderSettings
from providers.vat_labels import line_label
from providers.wire import cents, dumps_decimal, loads_decimal

PROVIDER = "myunisoft"
RATE_LIMIT = RateLimitSpec(
    calls=20,
    per_seconds=10,
    concurrent=10,
    remaining_header="X-Rate-Limit-Remaining",
    reset_header="X-Rate-Limit-Reset",
)
MAX_LABEL = 50  # line labels (documented)
MAX_PAGES = 200  # account pages read at most, a guard against a server that loops

# Error codes (docs/erreurs.md): ECR9 closed fiscal year, EXERCICE14 no open fiscal year.
LOCKED_CODES = frozenset({"ECR9", "EXERCICE14"})
APP_SECRET_CODES = frozenset({"ERR-INVALID-SECRET", "ERR-SECRET-HEADER-NOT-SET"})
TOKEN_CODES = frozenset({"ERR-API-TOKEN-NOT-FOUND", "ERR-INVALID-TOKEN", "ERR-FORBIDDEN-ROUTE"})
# Which request field a validation code is about, for the field errors shown to the user.
CODE_FIELDS = {
    "ECR1": "entry_list",
    "ECR14": "entry_list",
    "ECR27": "entry_list",
    "ECR10": "date_piece",
    "COMPTE6": "account_number",
    "COMPTE7": "account_number",
}


def _error_mapper(response: httpx.Response) -> ProviderError | None:
    status = response.status_code
    if status == 429 or status >= 500:
        return None  # the shared layer waits out Retry-After and retries what is safe
    code = error_code(response)
    message = provider_message(response) or "no reason given"
    said = f"{code}: {message}" if code else message
    if code in LOCKED_CODES:
        return period_locked(PROVIDER, f"MyUnisoft refused a closed fiscal year ({said})")
    if code in APP_SECRET_CODES:
        return rejected(
            PROVIDER,
            f"MyUnisoft refused bexsync's partner secret ({said}); check client_secret_file in "
            "[providers.myunisoft] of bexsyncd.toml",
            status=status,
        )
    if code in TOKEN_CODES or status in (401, 403):
        return auth_expired(
            PROVIDER,
            f"MyUnisoft refused the API token ({said}); generate a new one under Paramètres > "
            "Connecteurs and log in again",
            status=status,
        )
    field = CODE_FIELDS.get(code, "entry")
    return rejected(
        PROVIDER,
        f"MyUnisoft rejected the request (HTTP {status}): {said}",
        (FieldError(field, said),),
        status=status,
    )


def partner_secret(settings: ProviderSettings) -> str:
    """The ``X-Third-Party-Secret`` from the app registration's secret file."""
    return str(
        app_secret(
            PROVIDER,
            settings,
            "MyUnisoft needs bexsync's partner secret (X-Third-Party-Secret): set "
            "client_secret_file in [providers.myunisoft] of bexsyncd.toml",
        )
    )


LOGIN = CredentialsLogin(
    (
        CredentialField(
            "jwt",
            "MyUnisoft API token",
            secret=True,
            pattern=r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
            hint="the token generated in MyUnisoft > Paramètres > Connecteurs (a JWT)",
        ),
        CredentialField(
            "society_id",
            "Society id (firm-level tokens only)",
            required=False,
            pattern=r"\d{1,12}",
            hint="the dossier's numeric society id",
        ),
    )
)


class MyUnisoftProvider(
    HttpAdapter,
    provider="myunisoft",
    login=LOGIN,
    rate_limit=RATE_LIMIT,
    errors=_error_mapper,
    app_registration=True,
):
    """One MyUnisoft dossier (society), reached with the customer's API token."""

    def __init__(self, ctx: ProviderContext, **kw: Any) -> None:
        self._jwt = str(ctx.credentials.get("jwt") or "")
        register_secret(self._jwt)
        super().__init__(ctx, **kw)
        self._society: Tenant | None = None

    def headers(self) -> dict[str, str]:
        headers = {**super().headers(), "X-Third-Party-Secret": partner_secret(self.ctx.settings)}
        if self._jwt:
            headers["Authorization"] = f"Bearer {self._jwt}"
        society = self.ctx.options.get("society_id")
        if society:
            headers["society-id"] = str(society)
        return headers

    # -- reading ---------------------------------------------------------------------------
    async def _get(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if not self._jwt:
            raise self.login_missing("API token")
        response = await self.http.get(path, params=params, **kw)
        if response.status_code == 404:
            return None
        try:
            return loads_decimal(response.content)
        except (ValueError, UnicodeDecodeError):
            raise unavailable(
                PROVIDER, f"MyUnisoft answered {response.request.url.path} with something not JSON"
            ) from None

    async def _society_tenant(self) -> Tenant:
        """The one dossier this login reaches (``key/info`` also activates a new key)."""
        if self._society is not None:
            return self._society
        info = await self._get("/key/info", {"mode": "extended"})
        target = info.get("target") if isinstance(info, dict) else None
        target = target if isinstance(target, dict) else {}
        society_id = self.ctx.options.get("society_id") or target.get("societyId")
        if target.get("type") == "firm" and not self.ctx.options.get("society_id"):
            raise rejected(
                PROVIDER,
                "this is a firm-level MyUnisoft token: log in again and give the dossier's "
                "society id",
                (FieldError("credentials.society_id", "required for a firm-level token"),),
            )
        if not society_id:
            raise rejected(PROVIDER, "MyUnisoft did not say which dossier this token reaches")
        # GAP: the /society answer is not specified for partners; we read ``name`` (or
        # ``society_name``) from it and fall back to the id.
        society = await self._get("/society")
        name = ""
        if isinstance(society, dict):
            name = str(society.get("name") or society.get("society_name") or "")
        self._society = Tenant(str(society_id), name or f"Society {society_id}")
        return self._society

    async def verify(self) -> VerifyResult:
        self._society = None
        society = await self._society_tenant()
        diaries = await self.list_ledgers(society.id)
        return VerifyResult(
            True,
            f"connected to MyUnisoft dossier {society.name!r} ({len(diaries)} journals)",
            (society,),
        )

    async def list_tenants(self) -> list[Tenant]:
        return [await self._society_tenant()]

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        rows = await self._get("/diary")
        open_rows = [r for r in rows or [] if isinstance(r, dict) and not r.get("blocked")]
        return ledgers_from(open_rows, "diary_id", "code", "name")

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        """``/account?mode=2``: ``{rows_number, pages_number, account_array}``; lines name an
        account by its ``account_id``, kept as the account's id.

        GAP: the docs show ``pages_number`` but not the page parameter; we assume ``page``
        (1-based) and read until ``pages_number``.
        """
        found: dict[str, Account] = {}
        page = 1
        while page <= MAX_PAGES:
            body = await self._get("/account", {"mode": 2, "page": page})
            if not isinstance(body, dict):
                break
            for row in body.get("account_array") or []:
                if not isinstance(row, dict) or row.get("blocked") or row.get("closed"):
                    continue
                number = str(row.get("account_number") or "")
                if number and number not in found:
                    label = str(row.get("label") or "")
                    found[number] = Account(number, label, str(row["account_id"]))
            if page >= int(body.get("pages_number") or 1):
                break
            page += 1
        return sorted(found.values(), key=lambda a: a.code)

    # -- writing ---------------------------------------------------------------------------
    async def _check_fiscal_year(self, day: date) -> None:
        """A closed fiscal year (``closed``) is refused before anything is sent."""
        rows = await self._get("/society/exercice")
        years = rows if isinstance(rows, list) else []
        keys = ("start_date", "end_date", "closed")
        refuse_closed_period(PROVIDER, "MyUnisoft", day, years, keys, "fiscal year")

    @staticmethod
    def payload(
        entry: JournalEntry, society_id: int, diary_id: int, account_ids: Mapping[str, str]
    ) -> dict[str, Any]:
        """The body of ``POST /entry?type=e``: the reference is the partner id lookup uses."""
        day = entry.date.isoformat()
        return {
            "date_piece": day,
            "diary_id": diary_id,
            "etablissement_id": society_id,
            "entry_origin_partner_id": entry.reference,
            "comment": {"content": entry.narration},
            "entry_list": [
                {
                    "account_id": int(account_ids[line.account]),
                    "label": line_label(line.description, line.vat_code)[:MAX_LABEL],
                    "debit": cents(line.debit),
                    "credit": cents(line.credit),
                    "deadline": day,
                }
                for line in entry.lines
            ],
        }

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """Create the validated entry unless its partner id (the reference) exists already.

        MyUnisoft has no idempotency key; the partner id is looked up before every attempt and
        the POST is never retried once it may have reached MyUnisoft.
        """
        currency = currency_not_in(entry, ("EUR",), "MyUnisoft")
        refuse_malformed(PROVIDER, "MyUnisoft", entry, extra=currency)
        existing = await self.find_entry(entry.reference, entry.tenant_id, entry.ledger_id)
        if existing is not None:
            return existing
        society = await self._society_tenant()
        diary_id = int((await self.ledger(entry.ledger_id, society.id)).id)
        await self._check_fiscal_year(entry.date)
        accounts = await self.known_accounts(entry, society.id, what="open account")
        ids = {code: str(acc.id) for code, acc in accounts.items()}
        body = dumps_decimal(self.payload(entry, int(society.id), diary_id, ids))
        response = await self.http.post(
            "/entry",
            params={"type": "e"},
            content=body,
            headers={"Content-Type": "application/json"},
        )
        created = self._created_id(response)
        if created is not None:
            return PostedEntry(created, entry.reference)
        found = await self.find_entry(entry.reference, entry.tenant_id, entry.ledger_id)
        if found is None:
            raise unavailable(
                PROVIDER,
                "MyUnisoft accepted the entry but does not find it by its partner id yet; it is "
                "looked up again before any retry",
            )
        return found

    @staticmethod
    def _created_id(response: httpx.Response) -> str | None:
        """GAP: the answer to ``POST /entry`` is not documented; we read ``id_entry`` (the name
        the lookup route uses) or ``entry_id`` when present, else look the partner id up."""
        try:
            body = loads_decimal(response.content)
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(body, dict):
            for key in ("id_entry", "entry_id"):
                if body.get(key) not in (None, ""):
                    return str(body[key])
        return None

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """``GET /entry/id?id_origin=<reference>``; the partner id is unique per dossier.

        GAP: what the route answers for an unknown id is not documented; a 404 or an answer
        without ``id_entry`` both mean "no such entry".
        """
        body = await self._get("/entry/id", {"id_origin": reference}, ok={200, 404})
        if isinstance(body, list):
            body = body[0] if body else None
        if not isinstance(body, dict) or body.get("id_entry") in (None, ""):
            return None
        return PostedEntry(str(body["id_entry"]), reference)
