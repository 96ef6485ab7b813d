"""The one HTTP client every provider adapter and the PMS client build on.

One ``httpx.AsyncClient`` per provider account, behind that account's rate limiter, with the
retry rules that keep posting exactly-once: a request that may have reached the server is only
retried when it is idempotent or the caller sent an idempotency key (``retry_unsafe=True``).
Failures leave this module as ``ProviderError`` with a redacted message in the provider's own
words, so adapters only handle their special cases (``error_mapper``).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Container, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from providers.errors import ProviderError, auth_expired, rate_limited, rejected, unavailable
from providers.ratelimit import RateLimiter, RateLimitSpec
from providers.redact import redact, register_secret

log = logging.getLogger("bexsync.http")

Sleep = Callable[[float], Awaitable[object]]
ErrorMapper = Callable[[httpx.Response], ProviderError | None]

RETRY_STATUSES = frozenset({500, 502, 503, 504})
_SECRET_HEADER_HINTS = ("authorization", "key", "secret", "token", "password")
USER_AGENT = "bexsync/0.1 (+https://github.com/bexsync)"
MAX_MESSAGE = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry transient failures.

    ``max_attempts`` counts the first try. Back-off is "full jitter": a uniform draw in
    ``[0, min(cap, base * 2**retry))``. A ``Retry-After`` above ``max_retry_after`` is not slept:
    the error goes up with ``retry_after`` so the engine reschedules instead of holding a task.
    ``unsafe_methods`` are never retried once the request may have reached the server, unless
    the caller says it carries an idempotency key. PUT is in it because Xero's
    ``PUT /ManualJournals`` creates a journal on every call.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0
    unsafe_methods: frozenset[str] = field(default=frozenset({"POST", "PATCH", "PUT"}))

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Delay before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * (2.0**retry))
        return rand() * ceiling


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def provider_message(response: httpx.Response) -> str:
    """The provider's own error text from common JSON error shapes, else a short body excerpt."""
    text = ""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if body is not None:
        text = _message_from_json(body)
    if not text:
        ctype = response.headers.get("content-type", "")
        if ctype.startswith("text/plain"):
            text = response.text.strip()
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 3] + "..."
    return redact(text)


def _message_from_json(body: Any) -> str:
    if isinstance(body, list) and body:
        return _message_from_json(body[0])
    if not isinstance(body, dict):
        return body if isinstance(body, str) else ""
    parts: list[str] = []
    errors = body.get("errors")
    if isinstance(errors, list):
        for err in errors[:5]:
            if isinstance(err, dict):
                msg = next(
                    (err[k] for k in ("detail", "title", "message") if isinstance(err.get(k), str)),
                    "",
                )
                where = err.get("field") or err.get("source", {})
                if isinstance(where, dict):
                    where = where.get("pointer") or where.get("parameter") or ""
                if msg:
                    parts.append(f"{where}: {msg}" if isinstance(where, str) and where else msg)
            elif isinstance(err, str):
                parts.append(err)
    elif isinstance(errors, dict):  # {"errors": {"field": ["msg"]}}
        for key, msgs in list(errors.items())[:5]:
            msgs = msgs if isinstance(msgs, list) else [msgs]
            parts.append(f"{key}: {', '.join(str(m) for m in msgs)}")
    if parts:
        return "; ".join(parts)
    elements = body.get("Elements")
    if isinstance(elements, list):
        for element in elements:
            if isinstance(element, dict):
                for verr in element.get("ValidationErrors") or []:
                    if isinstance(verr, dict) and isinstance(verr.get("Message"), str):
                        parts.append(verr["Message"])
        if parts:
            return "; ".join(parts)
    for key in ("message", "Message", "detail", "title"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    error = body.get("error")
    if isinstance(error, dict):
        return _message_from_json(error)
    if isinstance(error, str):
        desc = body.get("error_description")
        return f"{error}: {desc}" if isinstance(desc, str) and desc else error
    return ""


def default_error(provider: str, response: httpx.Response) -> ProviderError:
    """Map a final error response to the taxonomy (after retries and the adapter's mapper)."""
    status = response.status_code
    detail = provider_message(response)
    suffix = f": {detail}" if detail else ""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 401:
        return auth_expired(
            provider, f"{provider} refused the credentials (HTTP 401){suffix}", status=status
        )
    if status == 403:
        return auth_expired(provider, f"{provider} denied access (HTTP 403){suffix}", status=status)
    if status == 429:
        return rate_limited(
            provider, f"{provider} is rate limiting requests (HTTP 429){suffix}", retry_after
        )
    if status >= 500:
        err = unavailable(provider, f"{provider} failed (HTTP {status}){suffix}", retry_after)
        err.status = status
        return err
    return rejected(
        provider, f"{provider} rejected the request (HTTP {status}){suffix}", status=status
    )


def _server_said_wait(response: httpx.Response) -> bool:
    """A 429, or a 503 with Retry-After: the account (not just this request) must wait."""
    status = response.status_code
    return status == 429 or (status == 503 and "retry-after" in response.headers)


def _reached_server(exc: httpx.TransportError) -> bool:
    """Whether a failed request may have been received (and processed) by the server."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "could not be reached"
    return f"connection failed ({type(exc).__name__})"


class HttpClient:
    """One provider account's HTTP client: rate limited, retrying, mapping errors, redacting."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        limiter: RateLimiter | None = None,
        rate_limit: RateLimitSpec | None = None,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.AsyncBaseTransport | None = None,
        error_mapper: ErrorMapper | None = None,
        sleep: Sleep = asyncio.sleep,
        allow_other_origins: bool = False,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.error_mapper = error_mapper
        self._sleep = sleep
        self._rand = rand
        self._allow_other_origins = allow_other_origins
        base = urlsplit(self.base_url)
        self._origin = (base.scheme, base.netloc)
        # ``limiter``: the account's shared one (from a LimiterRegistry); ``rate_limit`` alone
        # gives this client a limiter of its own.
        if limiter is None and rate_limit is not None:
            limiter = RateLimiter(rate_limit, sleep=sleep)
        self.limiter = limiter
        all_headers = {"User-Agent": USER_AGENT}
        for name, value in (headers or {}).items():
            all_headers[name] = value
            if any(hint in name.lower() for hint in _SECRET_HEADER_HINTS):
                register_secret(value)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            headers=all_headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    # -- lifecycle ------------------------------------------------------------------------
    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        """The underlying client (for authlib integrations that need it); prefer request()."""
        return self._client

    # -- requests -------------------------------------------------------------------------
    def _check_origin(self, url: str) -> None:
        if self._allow_other_origins or "://" not in url:
            return
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            # Following a link to another host would hand it our credentials.
            raise rejected(
                self.provider,
                f"{self.provider} pointed to another host ({parts.scheme}://{parts.hostname}); "
                "refusing to send credentials there",
            )

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        retry_unsafe: bool = False,
        ok: Container[int] | None = None,
    ) -> httpx.Response:
        """Send one logical request; retry what is safe to retry; raise ``ProviderError``.

        ``ok`` lists statuses returned to the caller as they are (default: any 2xx), e.g.
        ``{200, 404}`` for a lookup where "not found" is an answer.
        """
        method = method.upper()
        self._check_origin(url)
        policy = self.retry
        safe = retry_unsafe or method not in policy.unsafe_methods
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= policy.max_attempts
            request = self._client.build_request(
                method, url, params=params, json=json, content=content, headers=headers
            )
            started = time.perf_counter()
            try:
                response = await self._send(request, retrying=attempt > 1)
            except httpx.TransportError as exc:
                elapsed = (time.perf_counter() - started) * 1000
                log.debug(
                    "%s %s %s -> %s after %.0f ms",
                    self.provider,
                    method,
                    request.url.path,
                    type(exc).__name__,
                    elapsed,
                )
                if last or (_reached_server(exc) and not safe):
                    detail = redact(exc).strip()
                    suffix = f": {detail}" if detail else ""
                    raise unavailable(
                        self.provider, f"{self.provider} {_describe(exc)}{suffix}"
                    ) from None
                await self._sleep(policy.backoff(attempt - 1, self._rand))
                continue
            elapsed = (time.perf_counter() - started) * 1000
            status = response.status_code
            log.debug(
                "%s %s %s -> %d in %.0f ms",
                self.provider,
                method,
                request.url.path,
                status,
                elapsed,
            )
            if (ok is not None and status in ok) or (ok is None and 200 <= status < 300):
                return response
            if self.error_mapper is not None:
                special = self.error_mapper(response)
                if special is not None:
                    special.message = redact(special.message)
                    raise special
            delay = self._retry_delay(response, attempt, safe)
            if delay is None or last or delay > policy.max_retry_after:
                raise default_error(self.provider, response)
            if self.limiter is not None and _server_said_wait(response):
                # The limiter holds this retry (at the front of the queue) and every other
                # request of the account for exactly that long: no second wait here.
                self.limiter.penalise(delay)
            else:
                await self._sleep(delay)

    async def _send(self, request: httpx.Request, *, retrying: bool) -> httpx.Response:
        if self.limiter is None:
            return await self._client.send(request)
        async with self.limiter.slot(front=retrying):
            response = await self._client.send(request)
        self.limiter.observe(response.headers)
        return response

    def _retry_delay(self, response: httpx.Response, attempt: int, safe: bool) -> float | None:
        """Seconds to wait before retrying ``response``, or None when it must not be retried."""
        status = response.status_code
        if _server_said_wait(response):
            # A 429 was not processed: always safe. A 503 with Retry-After is the server saying
            # "not now"; retrying it is only safe for requests that may be repeated.
            if status == 503 and not safe:
                return None
            after = parse_retry_after(response.headers.get("retry-after"))
            if after is None:
                return self.retry.backoff(attempt - 1, self._rand)
            # What the server asked, plus a little jitter so that waiting clients do not all
            # come back in the same instant.
            return after + self._rand() * min(0.1 * after, 1.0)
        if status in RETRY_STATUSES and safe:
            return self.retry.backoff(attempt - 1, self._rand)
        return None

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", url, **kw)

    async def put(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", url, **kw)

    async def patch(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kw)

    async def get_json(self, url: str, **kw: Any) -> Any:
        """GET and decode JSON. A 2xx that is not JSON (a proxy's HTML page) is "unavailable"."""
        response = await self.request("GET", url, **kw)
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise unavailable(
                self.provider,
                f"{self.provider} answered {response.request.url.path} with something that is "
                "not JSON",
            ) from None
