"""The Booking Experts PMS client: administrations, ledger accounts, VAT codes, journal lines.

Built on the shared ``HttpClient`` (rate limit per API key or OAuth grant, safe retries, error
mapping). Journal transactions stream page by page following ``links.next``: a monthly entry of
a million lines never holds more than one page. All wire names come from ``mapping``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import httpx

from providers.bex import mapping as m
from providers.bex.jsonapi import (
    JournalPageParser,
    Page,
    PmsDataError,
    PmsSubscription,
    VatTariff,
    decode_page,
    load_document,
    parse_administration,
    parse_administrations,
    parse_ledger_accounts,
    parse_subscription,
    parse_vat_codes,
    parse_vat_tariffs,
)
from providers.bex.models import JournalTransaction, LedgerAccount, PmsAdministration, VatCode
from providers.errors import ProviderError, auth_expired
from providers.http import HttpClient, RetryPolicy, provider_message
from providers.ratelimit import LimiterRegistry, RateLimitSpec
from providers.redact import register_secret

DEFAULT_RETRY = RetryPolicy()
MAX_PAGES = 100_000  # a runaway links.next loop ends here rather than never
# How long a pager waits for its prefetch request to reach the wire before it parses anyway.
PREFETCH_SEND_WAIT = 0.05

# Set (in the prefetch task's context only) to the future that says "the request was sent".
_request_sent: contextvars.ContextVar[asyncio.Future[None] | None] = contextvars.ContextVar(
    "bex_request_sent", default=None
)
_SENT_EVENTS = frozenset({"http11.send_request_body.complete", "http2.send_request_body.complete"})


class _SignalSent(httpx.AsyncBaseTransport):
    """Resolves the prefetching pager's future once httpcore has written the request.

    The pager parses a page without awaiting, so a prefetch task only runs when the pager next
    yields to the loop. Waiting for this event (a few loop turns) puts the request on the wire
    first, so the PMS renders the next page while this one is parsed; without it the two
    halves ran one after the other. Uses httpcore's documented ``trace`` request extension.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = _request_sent.get()
        if sent is not None and "trace" not in request.extensions:

            async def trace(name: str, info: dict[str, Any]) -> None:
                if name in _SENT_EVENTS and not sent.done():
                    sent.set_result(None)

            request.extensions["trace"] = trace
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class BexClient:
    """One connection to the PMS (one API key or one OAuth grant)."""

    def __init__(
        self,
        base_url: str = m.DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        page_size: int = m.DEFAULT_PAGE_SIZE,
        http: HttpClient | None = None,
        rate_limit: RateLimitSpec | None = m.RATE_LIMIT,
        limiters: LimiterRegistry | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be positive")
        self.page_size = page_size
        self._credential = "access token" if auth is not None and api_key is None else "API key"
        # Our own HttpClient signals when a prefetch request is on the wire; a caller's does not.
        self._signals_sent = http is None
        if http is None:
            headers = {"Accept": m.MEDIA_TYPE}
            transport = _SignalSent(transport or httpx.AsyncHTTPTransport())
            if api_key:
                register_secret(api_key)
                headers[m.API_KEY_HEADER] = api_key
            limiter = None
            if limiters is not None and rate_limit is not None:
                # one limiter per key: the hash identifies the key without revealing it
                digest = hashlib.sha256((api_key or "oauth").encode()).hexdigest()[:16]
                limiter = limiters.limiter(f"bex:{base_url.rstrip('/')}:{digest}", rate_limit)
            http = HttpClient(
                m.PROVIDER,
                base_url,
                limiter=limiter,
                rate_limit=rate_limit,
                auth=auth,
                headers=headers,
                timeout=timeout,
                retry=retry,
                transport=transport,
                error_mapper=self._map_error,
                sleep=sleep,
            )
        self.http = http

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> BexClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- errors ---------------------------------------------------------------------------
    def _map_error(self, response: httpx.Response) -> ProviderError | None:
        status = response.status_code
        if status not in (401, 403):
            return None
        detail = provider_message(response)
        suffix = f" ({detail})" if detail else ""
        if m.ERROR_APPLICATION_HALTED in response.text:
            return auth_expired(
                m.PROVIDER,
                f"Booking Experts has halted this app: the PMS refuses every request{suffix}",
                status=status,
            )
        if status == 401:
            message = (
                f"the PMS refused the {self._credential} (HTTP 401){suffix}; "
                f"check the {self._credential} in the PMS connection"
            )
        else:
            message = (
                f"the PMS denied access (HTTP 403){suffix}; the app may lack a permission "
                "or the server's address may be blocked after too many requests"
            )
        return auth_expired(m.PROVIDER, message, status=status)

    # -- plumbing -------------------------------------------------------------------------
    async def _document(
        self, url: str, what: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.http.get(url, params=params)
        return load_document(response.content, what)

    async def _pages(
        self,
        url: str,
        what: str,
        params: dict[str, Any],
        parse: Callable[[Any, str], list[Any]],
        decode: Callable[[bytes, str], Page] = decode_page,
        records_of: Callable[[Page, str], list[Any]] | None = None,
    ) -> AsyncIterator[list[Any]]:
        """Yield the records of each page, following links.next (page numbers without it).

        ``decode`` turns a response body into a ``Page``; ``records_of`` (default: ``parse`` of
        the decoded document) turns that into records. The next page is requested between the
        two, and this waits until that request is on the wire, so the PMS prepares the next
        page while this one is parsed and built: the two halves of the work overlap.

        Decoding and parsing run with the cyclic garbage collector paused: a page is an acyclic
        tree of thousands of objects, and letting the collector rescan it while it is being
        built doubles the cost of a million-line month for nothing. The page is dropped before
        the collector resumes. (The wait for the prefetch's send, a few loop turns, happens
        inside the pause: other tasks then run briefly without the collector, which is harmless.)
        """
        if records_of is None:

            def records_of(page: Page, label: str) -> list[Any]:
                return parse(page.body, label)

        seen: set[str] = set()
        announced: int | None = None  # the collection's size, as the first page said
        page_params: dict[str, Any] | None = {
            **params,
            m.PAGE_SIZE_PARAM: self.page_size,
            m.PAGE_NUMBER_PARAM: 1,
        }
        number = 1
        pending: asyncio.Task[Any] | None = asyncio.ensure_future(
            self.http.get(url, params=page_params)
        )
        try:
            for _ in range(MAX_PAGES):
                label = f"{what} page {number}"
                assert pending is not None
                response = await pending
                pending = None
                with _gc_paused():
                    page = decode(response.content, label)
                    del response
                    nxt = page.next
                    short = page.has_links or page.size < self.page_size
                    if page.total is not None:
                        if announced is None:
                            announced = page.total
                        elif page.total != announced:
                            raise PmsDataError(
                                f"the PMS's data changed while bexsync read it: {label} "
                                f"counts {page.total} records, the first page {announced}; "
                                "sync again"
                            )
                    if nxt is not None:
                        if nxt in seen:
                            raise PmsDataError(
                                f"the PMS sent {label} whose links.next repeats a page"
                            )
                        seen.add(nxt)
                        self._check_same_origin(nxt, label)
                        pending = await self._prefetch(nxt)
                    records = records_of(page, label)
                    del page
                yield records
                del records
                if nxt is None:
                    if short:
                        return
                    # No links object at all: fall back to page numbers until a short page.
                    number += 1
                    page_params = {**params, m.PAGE_SIZE_PARAM: self.page_size}
                    page_params[m.PAGE_NUMBER_PARAM] = number
                    pending = await self._prefetch(url, page_params)
                    continue
                number += 1
            raise PmsDataError(f"the PMS sent more than {MAX_PAGES} pages of {what}")
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def _prefetch(self, url: str, params: dict[str, Any] | None = None) -> asyncio.Task[Any]:
        """Start fetching a page and return once its request is sent (or it is done)."""
        if not self._signals_sent:
            task = asyncio.ensure_future(self.http.get(url, params=params))
            await asyncio.sleep(0)  # give it a start; nothing says when it is on the wire
            return task
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        token = _request_sent.set(sent)
        try:
            task = asyncio.ensure_future(self.http.get(url, params=params))
        finally:
            _request_sent.reset(token)
        try:
            await asyncio.wait(
                (task, sent), timeout=PREFETCH_SEND_WAIT, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            task.cancel()
            raise
        finally:
            sent.cancel()
        return task

    def _check_same_origin(self, link: str, label: str) -> None:
        if "://" not in link:
            return
        base = urlsplit(self.http.base_url)
        parts = urlsplit(link)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise PmsDataError(
                f"the PMS sent {label} whose links.next points to another host "
                f"({parts.hostname}); refusing to send the {self._credential} there"
            )

    async def _collect(self, url: str, what: str, parse: Callable[..., list[Any]]) -> list[Any]:
        out: list[Any] = []
        async for records in self._pages(url, what, {}, parse):
            out.extend(records)
        return out

    # -- resources ------------------------------------------------------------------------
    async def get_subscription(self) -> PmsSubscription:
        """The app's installation; also the cheapest way to verify the credentials."""
        doc = await self._document(m.SUBSCRIPTION_PATH, "the subscription")
        return parse_subscription(doc)

    async def list_administrations(self) -> list[PmsAdministration]:
        """The administrations the subscription may access."""
        subscription = await self.get_subscription()
        admins: list[PmsAdministration] = await self._collect(
            m.ADMINISTRATIONS_PATH, "administrations", parse_administrations
        )
        granted = set(subscription.administration_ids)
        if granted:
            admins = [a for a in admins if a.id in granted]
        return admins

    async def get_administration(self, administration_id: str) -> PmsAdministration:
        url = m.path(m.ADMINISTRATION_PATH, administration_id)
        doc = await self._document(url, f"administration {administration_id}")
        return parse_administration(doc["data"])

    async def list_ledger_accounts(self, administration_id: str) -> list[LedgerAccount]:
        url = m.path(m.LEDGER_ACCOUNTS_PATH, administration_id)
        return await self._collect(
            url, f"ledger accounts of administration {administration_id}", parse_ledger_accounts
        )

    async def list_vat_codes(self, administration_id: str) -> list[VatCode]:
        url = m.path(m.VAT_CODES_PATH, administration_id)
        return await self._collect(
            url, f"VAT codes of administration {administration_id}", parse_vat_codes
        )

    async def list_vat_tariffs(self, administration_id: str) -> list[VatTariff]:
        url = m.path(m.VAT_TARIFFS_PATH, administration_id)
        return await self._collect(
            url, f"VAT tariffs of administration {administration_id}", parse_vat_tariffs
        )

    async def iter_journal_transactions(
        self,
        administration_id: str,
        start: date,
        end: date,
        *,
        ledger_accounts: Iterable[LedgerAccount] | None = None,
        vat_codes: Iterable[VatCode] | None = None,
    ) -> AsyncIterator[list[JournalTransaction]]:
        """Yield the journal lines whose posting date is in ``start..end``, one page at a time.

        Pass the administration's ``ledger_accounts`` (and ``vat_codes``) when already fetched;
        otherwise they are fetched first, because every line is checked against them.
        """
        if end < start:
            raise ValueError("end is before start")
        if ledger_accounts is None:
            ledger_accounts = await self.list_ledger_accounts(administration_id)
        if vat_codes is None:
            vat_codes = await self.list_vat_codes(administration_id)
        parser = JournalPageParser(
            [a.id for a in ledger_accounts], [v.id for v in vat_codes], start=start, end=end
        )
        url = m.path(m.JOURNAL_TRANSACTIONS_PATH, administration_id)
        what = f"journal transactions of administration {administration_id}"
        params = {m.TXN_DATE_FILTER: f"{start.isoformat()}{m.RANGE_SEPARATOR}{end.isoformat()}"}
        async for page in self._pages(
            url, what, params, parser.parse, decode=parser.decode, records_of=parser.records
        ):
            yield page
