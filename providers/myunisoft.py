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
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar

import httpx

from providers.base import (
    Account,
    Capabilities,
    JournalEntry,
    Ledger,
    PostedEntry,
    ProviderInfo,
    TaxCode,
    Tenant,
    VerifyResult,
)
from providers.context import ProviderContext
from providers.entry_checks import refuse_unknown_accounts
from providers.error_bodies import error_code
from providers.errors import (
    FieldError,
    ProviderError,
    auth_expired,
    period_locked,
    rejected,
    unavailable,
)
from providers.http import HttpClient, RetryPolicy, Sleep, provider_message
from providers.inqom import amount, check_entry
from providers.journals import find_journal_id
from providers.login import CredentialField, CredentialsLogin
from providers.ratelimit import RateLimitSpec
from providers.redact import register_secret
from providers.settings import SettingsError
from providers.vat_labels import LABEL_TAX_CODES, line_label
from providers.wire import dumps_decimal, loads_decimal

PROVIDER = "myunisoft"
DEFAULT_API_URL = "https://api.myunisoft.fr/api/v1"
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


def partner_secret(settings: Any) -> str:
    """The ``X-Third-Party-Secret`` from the app registration's secret file."""
    try:
        secret = settings.client_secret()
    except SettingsError as exc:
        raise rejected(PROVIDER, str(exc)) from None
    if not secret:
        raise rejected(
            PROVIDER,
            "MyUnisoft needs bexsync's partner secret (X-Third-Party-Secret): set "
            "client_secret_file in [providers.myunisoft] of bexsyncd.toml",
            (FieldError("client_secret_file", "required"),),
        )
    return secret


class MyUnisoftProvider:
    """One MyUnisoft dossier (society), reached with the customer's API token."""

    info: ClassVar[ProviderInfo] = ProviderInfo(
        id=PROVIDER,
        title="MyUnisoft",
        route="direct",
        auth=("credentials",),
        capabilities=Capabilities(idempotency="lookup", currencies=("EUR",)),
        notes="The partner secret (X-Third-Party-Secret) is the app registration "
        "(client_secret_file in [providers.myunisoft]); the customer's API token is the login. "
        "Firm-level tokens need the dossier's society id. Amounts in EUR only. VAT codes are "
        "named in line labels.",
        settings={"api_url": DEFAULT_API_URL},
    )

    def __init__(
        self,
        ctx: ProviderContext,
        *,
        sleep: Sleep = asyncio.sleep,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimitSpec = RATE_LIMIT,
    ) -> None:
        self._ctx = ctx
        self._jwt = str(ctx.credentials.get("jwt") or "")
        register_secret(self._jwt)
        headers = {
            "Accept": "application/json",
            "X-Third-Party-Secret": partner_secret(ctx.settings),
        }
        if self._jwt:
            headers["Authorization"] = f"Bearer {self._jwt}"
        society = ctx.options.get("society_id")
        if society:
            headers["society-id"] = str(society)
        self.http = HttpClient(
            PROVIDER,
            ctx.settings.url("api_url", DEFAULT_API_URL),
            rate_limit=rate_limit,
            limiter_key=f"{PROVIDER}:{ctx.authorisation_id}",
            headers=headers,
            transport=ctx.transport,
            error_mapper=_error_mapper,
            sleep=sleep,
            retry=retry or RetryPolicy(),
        )
        self._society: Tenant | None = None
        self._diaries: list[dict[str, Any]] | None = None

    # -- reading ---------------------------------------------------------------------------
    async def _get(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if not self._jwt:
            raise auth_expired(PROVIDER, "no MyUnisoft API token is stored: log in again")
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
        society_id = self._ctx.options.get("society_id") or target.get("societyId")
        if target.get("type") == "firm" and not self._ctx.options.get("society_id"):
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
        diaries = await self._diary_rows(refresh=True)
        return VerifyResult(
            True,
            f"connected to MyUnisoft dossier {society.name!r} ({len(diaries)} journals)",
            (society,),
        )

    async def list_tenants(self) -> list[Tenant]:
        return [await self._society_tenant()]

    async def _diary_rows(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        if self._diaries is None or refresh:
            rows = await self._get("/diary")
            self._diaries = [r for r in rows or [] if isinstance(r, dict)]
        return self._diaries

    async def list_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        rows = await self._diary_rows(refresh=True)
        return [
            Ledger(str(r["diary_id"]), str(r.get("code") or ""), str(r.get("name") or ""))
            for r in rows
            if not r.get("blocked")
        ]

    async def _account_rows(self) -> list[dict[str, Any]]:
        """``/account?mode=2``: ``{rows_number, pages_number, account_array}``.

        GAP: the docs show ``pages_number`` but not the page parameter; we assume ``page``
        (1-based) and read until ``pages_number``.
        """
        rows: list[dict[str, Any]] = []
        page = 1
        while page <= MAX_PAGES:
            body = await self._get("/account", {"mode": 2, "page": page})
            if not isinstance(body, dict):
                break
            rows.extend(r for r in body.get("account_array") or [] if isinstance(r, dict))
            if page >= int(body.get("pages_number") or 1):
                break
            page += 1
        return rows

    async def _accounts(self) -> dict[str, Account]:
        found: dict[str, Account] = {}
        for row in await self._account_rows():
            if row.get("blocked") or row.get("closed"):
                continue
            number = str(row.get("account_number") or "")
            if number and number not in found:
                found[number] = Account(number, str(row.get("label") or ""), str(row["account_id"]))
        return found

    async def list_accounts(self, tenant_id: str | None) -> list[Account]:
        return sorted((await self._accounts()).values(), key=lambda a: a.code)

    async def list_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        return list(LABEL_TAX_CODES)

    # -- writing ---------------------------------------------------------------------------
    async def _diary_id(self, ledger_id: str) -> int:
        """The journal's id from the configured ledger id, or from its code (``BEX``)."""
        found = await find_journal_id(
            lambda refresh: self._diary_rows(refresh=refresh), ledger_id, "diary_id", "code"
        )
        if found is not None:
            return found
        raise rejected(
            PROVIDER,
            f"MyUnisoft has no journal {ledger_id!r}; pick one of the journals in the options",
            (FieldError("ledger_id", f"unknown journal {ledger_id!r}"),),
        )

    async def _check_fiscal_year(self, day: date) -> None:
        """A closed fiscal year (``closed``) is refused before anything is sent."""
        rows = await self._get("/society/exercice")
        for row in rows if isinstance(rows, list) else []:
            try:
                start = date.fromisoformat(str(row["start_date"])[:10])
                end = date.fromisoformat(str(row["end_date"])[:10])
            except (KeyError, ValueError):
                continue
            if start <= day <= end:
                if row.get("closed"):
                    raise period_locked(
                        PROVIDER,
                        f"MyUnisoft's fiscal year {start} to {end} is closed; "
                        f"{day.isoformat()} cannot take new entries",
                    )
                return
        raise rejected(
            PROVIDER,
            f"no MyUnisoft fiscal year covers {day.isoformat()}; create it first",
            (FieldError("date", "outside every fiscal year"),),
        )

    def _check_currency(self, entry: JournalEntry) -> None:
        if entry.currency.upper() != "EUR":
            raise rejected(
                PROVIDER,
                f"MyUnisoft takes amounts in EUR; this administration posts in {entry.currency}",
                (FieldError("currency", "EUR only"),),
            )

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
                    "debit": amount(line.debit),
                    "credit": amount(line.credit),
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
        check_entry(PROVIDER, "MyUnisoft", entry)
        self._check_currency(entry)
        existing = await self.find_entry(entry.reference, entry.tenant_id, entry.ledger_id)
        if existing is not None:
            return existing
        society = await self._society_tenant()
        diary_id = await self._diary_id(entry.ledger_id)
        await self._check_fiscal_year(entry.date)
        accounts = await self._accounts()
        refuse_unknown_accounts(PROVIDER, "MyUnisoft", entry, accounts, what="open account")
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

    async def aclose(self) -> None:
        await self.http.aclose()


def create(ctx: ProviderContext) -> MyUnisoftProvider:
    return MyUnisoftProvider(ctx)


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

# Imported last: the registry imports this module lazily by name.
from providers.registry import ProviderSpec  # noqa: E402

SPEC = ProviderSpec(
    info=MyUnisoftProvider.info,
    module=__name__,
    factory="create",
    needs_app_registration=True,
    login=LOGIN,
)
