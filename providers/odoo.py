"""The ``odoo`` provider: Odoo Accounting, one entry = one posted ``account.move``.

Endpoint keys of ``[providers.odoo]``:
  ``api_url``  the Odoo base URL when the login form leaves ``url`` empty; with neither, the
               Odoo Online address ``https://<database>.odoo.com`` is used.

Login: a credentials form (``url``, ``database``, ``username``, secret ``api_key``). Odoo is one
host per customer, so the URL is part of the login rather than of the config file.

Two wire APIs, picked by probing ``/json/2/res.users/context_get`` once per adapter:
- JSON-2 (Odoo 19+): ``POST /json/2/<model>/<method>``, named arguments, ``Authorization: bearer
  <api key>``, ``X-Odoo-Database``; errors are HTTP 4xx/5xx with ``{name, message, ...}``.
- JSON-RPC (before 19): ``POST /jsonrpc`` ``common.authenticate`` then ``object.execute_kw``;
  errors arrive with HTTP 200 and an ``error`` member.

Writes: ``account.move`` ``create`` (``move_type`` entry, ``journal_id``, ``date``, ``ref`` = the
reference, all ``line_ids`` in one call so the balance check passes) then ``action_post``. Odoo
has no idempotency key; ``ref`` is indexed, so every post first looks the reference up in the
journal: a posted move is returned as it is, a draft left by a failed ``action_post`` is
replaced. Lock dates are read first (Odoo 17+ may otherwise move a date silently) and Odoo's
own lock refusal maps to ``period_locked``. Rate limits are not documented: one request at a
time and at most 60 a minute per database, which also serialises journal sequence writes.

Checked against: Odoo's documentation (the 19.0 external API pages for JSON-2 and the legacy
JSON-RPC) and its source (``account_move.py``, ``res_company.py`` for balance and lock-date
checks; shared/research/providers-xero-bc-odoo.md section 3). Odoo has no API spec to
validate against.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from datetime import date
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from providers.base import Account, JournalEntry, Ledger, PostedEntry, TaxCode, Tenant, VerifyResult
from providers.context import ProviderContext
from providers.entry_checks import currency_not_in, refuse_malformed
from providers.error_bodies import json_or_none
from providers.errors import ProviderError, auth_expired, period_locked, rejected, unavailable
from providers.kit import FieldError, HttpAdapter, ledgers_from
from providers.login import CredentialField, CredentialsLogin
from providers.ratelimit import RateLimitSpec
from providers.redact import redact, register_secret
from providers.vat_labels import line_label
from providers.wire import cents, dumps_decimal

log = logging.getLogger("bexsync.odoo")

PROVIDER = "odoo"
RATE_LIMIT = RateLimitSpec(calls=60, per_seconds=60, concurrent=1)
NO_TAX = TaxCode("NONE", "No tax (nothing attached)", Decimal("0"))
Flavor = Literal["json2", "jsonrpc"]

_LOCK_RE = re.compile(
    r"(?i)lock(ed)?[ _]date|prior to and inclusive of|period is locked|hard lock|"
    r"fiscal year is (closed|locked)"
)
_TRANSIENT_RE = re.compile(r"(?i)psycopg2|serializ|concurrent update|OperationalError")
_PAGE = 500


def classify(name: str, message: str, status: int | None = None) -> ProviderError:
    """One Odoo exception (JSON-2 body or JSON-RPC ``error.data``) in the taxonomy."""
    short = name.rsplit(".", 1)[-1] if name else "error"
    text = redact(" ".join(message.split()))[:500] or short
    if _LOCK_RE.search(message):
        return period_locked(PROVIDER, f"Odoo refused a date in a locked period: {text}")
    if short == "AccessDenied" or status == 401:
        return auth_expired(PROVIDER, f"Odoo refused the API key: {text}", status=status)
    if short == "AccessError" or status == 403:
        return auth_expired(PROVIDER, f"Odoo denied access: {text}", status=status)
    if _TRANSIENT_RE.search(name) or _TRANSIENT_RE.search(message):
        return unavailable(PROVIDER, f"Odoo failed for now: {text}")
    field = "lines" if "balanced" in message.lower() else "entry"
    return rejected(
        PROVIDER, f"Odoo refused it ({short}): {text}", (FieldError(field, text),), status
    )


def _json2_error_mapper(response: httpx.Response) -> ProviderError | None:
    """JSON-2 errors name the Odoo exception; 429 and bare 5xx keep the shared defaults."""
    status = response.status_code
    if status < 400 or status == 429:
        return None
    body = json_or_none(response)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return None
    name, message = body["name"], str(body.get("message") or "")
    if status >= 500 and not name.startswith("odoo.exceptions."):
        return None  # a crash or a database hiccup: "unavailable", retried where safe
    return classify(name, message, status)


def base_url(ctx: ProviderContext) -> str:
    """The instance URL: the login's ``url``, else the config's ``api_url``, else Odoo Online."""
    url = str(ctx.options.get("url") or "").strip()
    if not url:
        url = ctx.settings.url("api_url", "")
    if not url and ctx.options.get("database"):
        url = f"https://{ctx.options['database']}.odoo.com"
    return url.rstrip("/")


LOGIN = CredentialsLogin(
    (
        CredentialField(
            "url",
            "Odoo URL",
            required=False,
            pattern=r"https?://[^\s/?#]+(/[^\s?#]*)?",
            hint="the address you open Odoo at, e.g. https://mycompany.odoo.com (empty: "
            "https://<database>.odoo.com, or api_url from the config file)",
        ),
        CredentialField(
            "database", "Database name", hint="on Odoo Online the subdomain, e.g. mycompany"
        ),
        CredentialField(
            "username",
            "Username (login e-mail)",
            required=False,
            hint="needed for Odoo 18 and older, which only speak JSON-RPC",
        ),
        CredentialField(
            "api_key",
            "API key",
            secret=True,
            pattern=r"\S{8,}",
            hint="Odoo > Preferences > Account Security > New API Key (of a dedicated user)",
        ),
    )
)


class OdooProvider(
    HttpAdapter, provider="odoo", login=LOGIN, rate_limit=RATE_LIMIT, errors=_json2_error_mapper
):
    """An authorised Odoo database, through JSON-2 or JSON-RPC, whichever the server speaks."""

    def __init__(self, ctx: ProviderContext, **kw: Any) -> None:
        self.url = base_url(ctx)
        self.database = str(ctx.options.get("database") or "")
        self.username = str(ctx.options.get("username") or "")
        self._key = str(ctx.credentials.get("api_key") or "")
        register_secret(self._key)  # it also travels in JSON-RPC bodies, not only the header
        super().__init__(ctx, **kw)
        self.flavor: Flavor | None = None
        self.version: int | None = None
        self._uid: int | None = None
        self._ids = itertools.count(1)
        self._journal_types: dict[str, str] = {}
        self._companies: dict[str | None, dict[str, Any]] = {}

    def api_url(self) -> str:
        return self.url or "http://odoo.invalid"

    def limiter_key(self) -> str:
        """One quota per database, whichever authorisation reaches it."""
        host = urlsplit(self.url).netloc or "unset"
        return f"{PROVIDER}:{host}/{self.database}"

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self._key:
            headers["Authorization"] = f"bearer {self._key}"
        if self.database:
            headers["X-Odoo-Database"] = self.database
        return headers

    # -- the two wire APIs ----------------------------------------------------------------
    async def _probe(self) -> Flavor:
        """JSON-2 when ``/json/2`` answers; JSON-RPC when it is not there (Odoo before 19)."""
        if self.flavor is not None:
            return self.flavor
        if not self.url:
            raise rejected(
                PROVIDER,
                "no Odoo URL is known: log in again with the URL (or set api_url)",
                (FieldError("credentials.url", "the Odoo URL is required"),),
            )
        if not self._key:
            raise auth_expired(PROVIDER, "no Odoo API key is stored: log in again")
        response = await self.http.post(
            "/json/2/res.users/context_get",
            content=b"{}",
            headers={"Content-Type": "application/json"},
            ok={200, 404},
            retry_unsafe=True,  # a read
        )
        if response.status_code == 200:
            self.flavor, self.version = "json2", 19
            return self.flavor
        if _odoo_json(response) is not None:
            # /json/2 exists but said "not found": the database header named no database.
            raise rejected(
                PROVIDER,
                f"Odoo at {self.url} has no database {self.database!r}",
                (FieldError("credentials.database", "unknown database"),),
                status=404,
            )
        await self._authenticate()
        self.flavor = "jsonrpc"
        return self.flavor

    async def _rpc(self, service: str, method: str, args: list[Any], *, read: bool) -> Any:
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(self._ids),
        }
        response = await self.http.post(
            "/jsonrpc",
            content=dumps_decimal(payload),
            headers={"Content-Type": "application/json"},
            retry_unsafe=read,
        )
        body = _odoo_json(response)
        if body is None:
            raise unavailable(PROVIDER, f"Odoo answered {method} with something that is not JSON")
        error = body.get("error")
        if isinstance(error, dict):
            raw = error.get("data")
            data: dict[str, Any] = raw if isinstance(raw, dict) else {}
            name = str(data.get("name") or "")
            message = str(data.get("message") or error.get("message") or "")
            raise classify(name, message)
        return body.get("result")

    async def _authenticate(self) -> None:
        info = await self._rpc("common", "version", [], read=True)
        try:
            self.version = int((info or {}).get("server_version_info", [0])[0])
        except (TypeError, ValueError, IndexError):
            self.version = None
        if not self.database or not self.username:
            raise auth_expired(
                PROVIDER,
                f"Odoo {self.version or ''} speaks JSON-RPC, which needs the database and the "
                "username: log in again with both",
            )
        try:
            uid = await self._rpc(
                "common", "authenticate", [self.database, self.username, self._key, {}], read=True
            )
        except ProviderError as exc:
            if "database" in exc.message.lower() and "not exist" in exc.message.lower():
                raise rejected(
                    PROVIDER,
                    f"Odoo at {self.url} has no database {self.database!r}",
                    (FieldError("credentials.database", "unknown database"),),
                ) from None
            raise
        if not isinstance(uid, int) or isinstance(uid, bool):
            raise auth_expired(
                PROVIDER, "Odoo refused the login: check the database, username and API key"
            )
        self._uid = uid

    async def call(
        self,
        model: str,
        method: str,
        *,
        ids: list[int] | None = None,
        tenant_id: str | None = None,
        read: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Call ``model.method`` with named arguments on whichever API the server speaks."""
        flavor = await self._probe()
        context: dict[str, Any] = {}
        if tenant_id:
            context["allowed_company_ids"] = [int(tenant_id)]
        if flavor == "json2":
            body: dict[str, Any] = dict(kwargs)
            if ids is not None:
                body["ids"] = ids
            if context:
                body["context"] = context
            response = await self.http.post(
                f"/json/2/{model}/{method}",
                content=dumps_decimal(body),
                headers={"Content-Type": "application/json"},
                retry_unsafe=read,
            )
            parsed = _odoo_json(response, keep_scalars=True)
            if parsed is _NOT_JSON:
                raise unavailable(PROVIDER, f"Odoo answered {model}.{method} with no JSON")
            return parsed
        # execute_kw: record ids and create's values are positional, everything else named.
        args: list[Any] = []
        if ids is not None:
            args.append(ids)
        if method == "create":
            args.append(kwargs.pop("vals_list"))
        if context:
            kwargs["context"] = context
        return await self._rpc(
            "object",
            "execute_kw",
            [self.database, self._uid, self._key, model, method, args, kwargs],
            read=read,
        )

    async def _search_read(
        self,
        model: str,
        domain: list[Any],
        fields: list[str],
        tenant_id: str | None,
        *,
        order: str = "id",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every matching record, page by page (``limit``/``offset``)."""
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = _PAGE if limit is None else min(_PAGE, limit - len(rows))
            chunk = await self.call(
                model,
                "search_read",
                tenant_id=tenant_id,
                domain=domain,
                fields=fields,
                offset=offset,
                limit=page,
                order=order,
            )
            if not isinstance(chunk, list):
                raise unavailable(PROVIDER, f"Odoo answered {model}.search_read with no list")
            rows.extend(chunk)
            offset += len(chunk)
            if len(chunk) < page or (limit is not None and len(rows) >= limit):
                return rows

    # -- reading ---------------------------------------------------------------------------
    async def verify(self) -> VerifyResult:
        """Log in, list the companies, and read the journals (which needs accounting rights)."""
        tenants = await self.list_tenants()
        journals = await self.fresh_ledgers(tenants[0].id if len(tenants) == 1 else None)
        if self.flavor == "json2":
            where = "Odoo 19 or later over JSON-2"
        else:
            where = f"Odoo {self.version or ''} over JSON-RPC".replace("  ", " ")
        names = ", ".join(t.name for t in tenants) or "no company"
        return VerifyResult(
            True, f"connected to {where} ({names}; {len(journals)} journals)", tuple(tenants)
        )

    async def list_tenants(self) -> list[Tenant]:
        rows = await self._search_read("res.company", [], ["name"], None)
        return [Tenant(str(r["id"]), str(r.get("name") or "")) for r in rows]

    async def read_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        rows = await self._search_read(
            "account.journal", [], ["code", "name", "type"], tenant_id, order="code"
        )
        self._journal_types.update({str(r["id"]): str(r.get("type") or "general") for r in rows})
        return ledgers_from(rows, "id", "code", "name")

    async def read_accounts(self, tenant_id: str | None) -> list[Account]:
        rows = await self._search_read(
            "account.account", [], ["code", "name"], tenant_id, order="code"
        )
        return [
            Account(str(r["code"]), str(r.get("name") or ""), str(r["id"]))
            for r in rows
            if r.get("code")
        ]

    async def read_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        rows = await self._search_read(
            "account.tax",
            [],
            ["name", "description", "amount", "amount_type", "type_tax_use"],
            tenant_id,
        )
        found: dict[str, TaxCode] = {}
        # Sales and purchase taxes often share a name: the sales one describes BEX's revenue.
        for row in sorted(rows, key=lambda r: r.get("type_tax_use") != "sale"):
            name = str(row.get("name") or "")
            if not name or name in found:
                continue
            rate = None
            if row.get("amount_type") == "percent" and row.get("amount") is not None:
                rate = Decimal(str(row["amount"]))
            label = row.get("description") or name
            found[name] = TaxCode(name, str(label) if label else name, rate)
        found.setdefault(NO_TAX.code, NO_TAX)
        return list(found.values())

    # -- writing ---------------------------------------------------------------------------
    async def _journal_id(self, ledger_id: str, tenant_id: str | None) -> int:
        """The journal's id from the configured ledger id, or from its code (``BEX``)."""
        return int((await self.ledger(ledger_id, tenant_id, "in this company")).id)

    def _journal_type(self, journal_id: int) -> str:
        return self._journal_types.get(str(journal_id), "general")

    async def _company(self, tenant_id: str | None, *, fresh: bool = False) -> dict[str, Any]:
        """Currency and lock dates of the entry's company (read once, or ``fresh``)."""
        if fresh or tenant_id not in self._companies:
            fields = ["name", "currency_id", "fiscalyear_lock_date"]
            if (self.version or 0) >= 18:
                fields += ["hard_lock_date", "sale_lock_date", "purchase_lock_date"]
            domain = [["id", "=", int(tenant_id)]] if tenant_id else []
            rows = await self._search_read("res.company", domain, fields, tenant_id, limit=1)
            if not rows:
                raise rejected(PROVIDER, f"Odoo has no company {tenant_id!r} for this user")
            self._companies[tenant_id] = rows[0]
        return self._companies[tenant_id]

    async def _check_books(self, entry: JournalEntry, tenant: str | None, journal: int) -> None:
        """The company's currency and lock dates. Odoo 18+ also locks sale and purchase
        journals on their own dates, and there it postpones the entry's date instead of
        refusing: so refuse here, before creating. A lock seen in the company read earlier is
        read again before the entry is refused (it may have been moved since)."""
        journal_type = self._journal_type(journal)
        keys = ["fiscalyear_lock_date", "hard_lock_date", f"{journal_type}_lock_date"]
        for fresh in (False, True):
            company = await self._company(tenant, fresh=fresh)
            locks = [date.fromisoformat(str(company[k])) for k in keys if company.get(k)]
            if not locks or entry.date > max(locks):
                break
        else:
            raise period_locked(
                PROVIDER,
                f"Odoo's books of {company.get('name') or 'this company'} are locked up to "
                f"{max(locks).isoformat()}; the entry dated {entry.date.isoformat()} cannot be "
                "posted until the lock date is moved",
            )
        currency = company.get("currency_id")
        code = currency[1] if isinstance(currency, list) and len(currency) > 1 else None
        books = currency_not_in(entry, (str(code),), "the Odoo company's books") if code else []
        refuse_malformed(PROVIDER, "Odoo", entry, extra=books)

    async def _moves(
        self, reference: str, journal_id: int | None, tenant_id: str | None
    ) -> list[dict[str, Any]]:
        domain: list[Any] = [["ref", "=", reference], ["state", "in", ["draft", "posted"]]]
        if journal_id is not None:
            domain.append(["journal_id", "=", journal_id])
        return await self._search_read(
            "account.move", domain, ["name", "state", "date", "journal_id"], tenant_id
        )

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        """Create and post the move unless the reference is already posted in the journal."""
        refuse_malformed(PROVIDER, "Odoo", entry)
        tenant = entry.tenant_id
        journal_id = await self._journal_id(entry.ledger_id, tenant)
        existing = await self._moves(entry.reference, journal_id, tenant)
        posted = [m for m in existing if m.get("state") == "posted"]
        if posted:
            return PostedEntry(str(posted[0]["id"]), entry.reference)
        await self._check_books(entry, tenant, journal_id)
        accounts = await self.known_accounts(entry, tenant)
        ids = {code: int(account.id or 0) for code, account in accounts.items()}
        drafts = [int(m["id"]) for m in existing if m.get("state") == "draft"]
        if drafts:
            # Left by an earlier attempt whose action_post failed; its lines may be stale.
            await self.call("account.move", "unlink", ids=drafts, tenant_id=tenant, read=False)
        vals = {
            "move_type": "entry",
            "journal_id": journal_id,
            "date": entry.date.isoformat(),
            "ref": entry.reference,
            "narration": entry.narration,
            # tax_ids are deliberately not sent: Odoo would add its own tax lines on top of the
            # VAT lines BEX already posts; the VAT code stays visible in the line label.
            "line_ids": [
                [
                    0,
                    0,
                    {
                        "account_id": ids[line.account],
                        "name": line_label(line.description, line.vat_code),
                        "debit": cents(line.debit),
                        "credit": cents(line.credit),
                    },
                ]
                for line in entry.lines
            ],
        }
        created = await self.call(
            "account.move", "create", tenant_id=tenant, read=False, vals_list=[vals]
        )
        move_id = created[0] if isinstance(created, list) else created
        if not isinstance(move_id, int):
            raise unavailable(PROVIDER, "Odoo created the move but did not say its id")
        await self.call("account.move", "action_post", ids=[move_id], tenant_id=tenant, read=False)
        [move] = await self.call(
            "account.move", "read", ids=[move_id], tenant_id=tenant, fields=["date", "name"]
        )
        if move.get("date") != entry.date.isoformat():
            # A lock date set after we read the company: Odoo postponed the entry instead of
            # refusing it. It is posted, so it stays; the bookkeeper has to know.
            log.warning(
                "odoo: %s was posted as %s on %s instead of %s (a lock date moved it)",
                entry.reference,
                move.get("name"),
                move.get("date"),
                entry.date.isoformat(),
            )
        return PostedEntry(str(move_id), entry.reference)

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        """The posted move whose ``ref`` is the reference (drafts do not count as posted)."""
        journal_id = None
        if ledger_id:
            journal_id = await self.journal_or_none(self._journal_id(ledger_id, tenant_id))
            if journal_id is None:
                return None
        for move in await self._moves(reference, journal_id, tenant_id):
            if move.get("state") == "posted":
                return PostedEntry(str(move["id"]), reference)
        return None


_NOT_JSON = object()


def _odoo_json(response: httpx.Response, *, keep_scalars: bool = False) -> Any:
    """The decoded body; None (or ``_NOT_JSON`` with ``keep_scalars``) when it is not JSON."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON if keep_scalars else None
    if keep_scalars:
        return body
    return body if isinstance(body, dict) else None
