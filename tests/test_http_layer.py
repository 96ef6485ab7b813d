"""The shared HTTP layer: retry rules that keep posting exactly-once, error mapping, redaction."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from providers.errors import ProviderError, period_locked
from providers.http import HttpClient, RetryPolicy, parse_retry_after, provider_message
from providers.ratelimit import RateLimiter, RateLimitSpec
from providers.redact import forget_secrets, install_log_redaction
from tests.providers.harness import FakeTime

Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """A MockTransport handler that plays a list of responses (or exceptions) in order."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("simulated", request=request)
        if isinstance(step, int):
            return httpx.Response(step, json={"ok": step < 400})
        return step

    @property
    def calls(self) -> int:
        return len(self.requests)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client(
    script: Script,
    sleeps: Callable[[float], Any] | None = None,
    *,
    retry: RetryPolicy | None = None,
    **kw: Any,
) -> HttpClient:
    return HttpClient(
        "acme",
        "https://api.acme.test/v1",
        transport=httpx.MockTransport(script),
        sleep=sleeps or Sleeps(),
        retry=retry or RetryPolicy(),
        **kw,
    )


@pytest.fixture(autouse=True)
def _clean_secrets() -> None:
    forget_secrets()


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_get_is_retried_after_a_server_error(status: int) -> None:
    script, sleeps = Script(status, 200), Sleeps()
    async with client(script, sleeps) as http:
        response = await http.get("/things")
    assert response.status_code == 200
    assert script.calls == 2
    assert len(sleeps.delays) == 1 and 0 <= sleeps.delays[0] <= 0.5


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
async def test_unsafe_methods_are_not_retried_after_a_server_error(method: str) -> None:
    script = Script(500, 201)
    async with client(script) as http:
        with pytest.raises(ProviderError) as info:
            await http.request(method, "/journals", json={"a": 1})
    assert script.calls == 1  # the server may have created the journal: never post twice
    assert info.value.kind == "unavailable"
    assert info.value.status == 500


async def test_unsafe_method_is_retried_when_the_caller_sends_an_idempotency_key() -> None:
    script = Script(502, 201)
    async with client(script) as http:
        response = await http.post(
            "/journals", json={}, headers={"Idempotency-Key": "k1"}, retry_unsafe=True
        )
    assert response.status_code == 201
    assert script.calls == 2
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["k1", "k1"]


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
async def test_post_is_not_retried_when_the_request_may_have_reached_the_server(
    exc: type[Exception],
) -> None:
    script = Script(exc, 201)
    async with client(script) as http:
        with pytest.raises(ProviderError) as info:
            await http.post("/journals", json={})
    assert script.calls == 1
    assert info.value.kind == "unavailable"


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_post_is_retried_when_the_request_never_reached_the_server(
    exc: type[Exception],
) -> None:
    script = Script(exc, 201)
    async with client(script) as http:
        response = await http.post("/journals", json={})
    assert response.status_code == 201
    assert script.calls == 2


async def test_get_is_retried_after_a_read_timeout() -> None:
    script = Script(httpx.ReadTimeout, httpx.ReadTimeout, 200)
    async with client(script) as http:
        assert (await http.get("/x")).status_code == 200
    assert script.calls == 3


async def test_429_is_retried_even_for_post_after_retry_after_seconds() -> None:
    script, sleeps = Script(httpx.Response(429, headers={"Retry-After": "7"}), 201), Sleeps()
    async with client(script, sleeps, rand=lambda: 0.0) as http:
        response = await http.post("/journals", json={})
    assert response.status_code == 201
    assert sleeps.delays == [7.0]


async def test_retry_after_gets_at_most_a_tenth_of_it_as_jitter() -> None:
    script, sleeps = Script(httpx.Response(429, headers={"Retry-After": "7"}), 201), Sleeps()
    async with client(script, sleeps, rand=lambda: 0.999) as http:
        await http.post("/journals", json={})
    assert 7.0 < sleeps.delays[0] < 7.7


async def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    script, sleeps = Script(httpx.Response(429, headers={"Retry-After": when}), 200), Sleeps()
    async with client(script, sleeps) as http:
        await http.get("/x")
    assert 28 <= sleeps.delays[0] <= 33  # 30 s, plus at most a tenth as jitter
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert parse_retry_after("soon") is None


async def test_503_with_retry_after_is_honoured_for_get() -> None:
    script, sleeps = Script(httpx.Response(503, headers={"Retry-After": "12"}), 200), Sleeps()
    async with client(script, sleeps, rand=lambda: 0.0) as http:
        await http.get("/x")
    assert sleeps.delays == [12.0]


async def test_retry_after_beyond_the_cap_is_raised_for_the_engine_to_reschedule() -> None:
    script, sleeps = Script(httpx.Response(429, headers={"Retry-After": "600"}), 200), Sleeps()
    async with client(script, sleeps) as http:
        with pytest.raises(ProviderError) as info:
            await http.get("/x")
    assert script.calls == 1
    assert sleeps.delays == []
    assert info.value.kind == "rate_limited"
    assert info.value.retry_after == 600.0
    assert info.value.retryable

    script = Script(httpx.Response(503, headers={"Retry-After": "3600"}), 200)
    async with client(script) as http:
        with pytest.raises(ProviderError) as info:
            await http.get("/x")
    assert info.value.kind == "unavailable"
    assert info.value.retry_after == 3600.0


async def test_gives_up_after_max_attempts_with_capped_exponential_backoff() -> None:
    script, sleeps = Script(503), Sleeps()
    policy = RetryPolicy(max_attempts=5, base=0.5, cap=3.0)
    async with client(script, sleeps, retry=policy, rand=lambda: 1.0) as http:
        with pytest.raises(ProviderError) as info:
            await http.get("/x")
    assert script.calls == 5
    assert sleeps.delays == [0.5, 1.0, 2.0, 3.0]  # doubling, then the cap
    assert info.value.kind == "unavailable"


def test_full_jitter_stays_within_zero_and_the_capped_ceiling() -> None:
    policy = RetryPolicy(base=0.5, cap=30.0)
    rng = random.Random(42)
    for retry in range(12):
        ceiling = min(30.0, 0.5 * 2**retry)
        draws = [policy.backoff(retry, rng.random) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # jitter actually spreads over the range
        assert min(draws) < ceiling * 0.2


# -- error mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth_expired"), (403, "auth_expired"), (429, "rate_limited"), (500, "unavailable")],
)
async def test_status_maps_to_error_kind(status: int, kind: str) -> None:
    script = Script(httpx.Response(status, json={"message": "nope"}))
    async with client(script, retry=RetryPolicy(max_attempts=1)) as http:
        with pytest.raises(ProviderError) as info:
            await http.get("/x")
    assert info.value.kind == kind
    assert "nope" in info.value.message
    assert info.value.provider == "acme"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "Account 9999 does not exist"}, "Account 9999 does not exist"),
        ({"error": "invalid_grant", "error_description": "Code expired"}, "invalid_grant: Code"),
        ({"errors": [{"status": 422, "detail": "Date is required"}]}, "Date is required"),
        ({"errors": [{"title": "Bad date"}, {"message": "Bad amount"}]}, "Bad date; Bad amount"),
        ({"Message": "A validation exception occurred"}, "A validation exception occurred"),
        (
            {"Elements": [{"ValidationErrors": [{"Message": "Journal lines must balance"}]}]},
            "Journal lines must balance",
        ),
    ],
)
async def test_4xx_is_rejected_with_the_providers_own_message(body: Any, expected: str) -> None:
    script = Script(httpx.Response(400, json=body))
    async with client(script) as http:
        with pytest.raises(ProviderError) as info:
            await http.post("/journals", json={})
    assert info.value.kind == "rejected"
    assert info.value.status == 400
    assert expected in info.value.message
    assert script.calls == 1


def test_plain_text_error_bodies_are_used_and_html_is_not() -> None:
    plain = httpx.Response(400, text="amount must be positive")
    assert provider_message(plain) == "amount must be positive"
    html = httpx.Response(400, html="<html><body>Bad Request</body></html>")
    assert provider_message(html) == ""


async def test_error_mapper_recognises_special_cases_first() -> None:
    def mapper(response: httpx.Response) -> ProviderError | None:
        if response.status_code == 400 and "locked" in response.text:
            return period_locked("acme", "the period is locked until 2024-01-31")
        return None

    script = Script(httpx.Response(400, json={"message": "period locked"}))
    async with client(script, error_mapper=mapper) as http:
        with pytest.raises(ProviderError) as info:
            await http.post("/journals", json={})
    assert info.value.kind == "period_locked"

    script = Script(httpx.Response(400, json={"message": "other"}))
    async with client(script, error_mapper=mapper) as http:
        with pytest.raises(ProviderError) as info:
            await http.post("/journals", json={})
    assert info.value.kind == "rejected"


async def test_ok_statuses_are_returned_to_the_caller() -> None:
    script = Script(404)
    async with client(script) as http:
        response = await http.get("/journals/by-ref", ok={200, 404})
    assert response.status_code == 404


async def test_get_json_refuses_a_non_json_success() -> None:
    script = Script(httpx.Response(200, html="<html>maintenance</html>"))
    async with client(script) as http:
        with pytest.raises(ProviderError) as info:
            await http.get_json("/x")
    assert info.value.kind == "unavailable"
    script = Script(httpx.Response(200, json={"a": [1]}))
    async with client(script) as http:
        assert await http.get_json("/x") == {"a": [1]}


async def test_links_to_another_host_are_refused() -> None:
    script = Script(200)
    async with client(script, headers={"X-API-KEY": "secret-key-123"}) as http:
        with pytest.raises(ProviderError) as info:
            await http.get("https://evil.test/v1/steal")
        await http.get("https://api.acme.test/v1/ok")  # same origin: fine
    assert script.calls == 1
    assert "evil.test" in info.value.message


# -- secrets --------------------------------------------------------------------------------


async def test_secret_echoed_in_an_error_body_is_redacted() -> None:
    key = "sk_live_9f8e7d6c5b4a"
    body = {"message": f"API key {key} is not valid", "refresh_token": "rt-abcdef"}
    script = Script(httpx.Response(401, json=body))
    async with client(script, headers={"X-API-KEY": key}) as http:
        with pytest.raises(ProviderError) as info:
            await http.get("/x")
    assert key not in info.value.message
    assert key not in str(info.value)
    assert "***" in info.value.message


async def test_one_debug_line_per_request_without_headers_query_or_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "sk_live_0123456789"
    script = Script(503, 200)
    caplog.set_level(logging.DEBUG, logger="bexsync.http")
    async with client(script, headers={"Authorization": f"Bearer {key}"}) as http:
        await http.get("/ledgers", params={"access_token": "tok-in-query-123"})
    lines = [r.getMessage() for r in caplog.records if r.name == "bexsync.http"]
    assert len(lines) == 2
    assert "GET /v1/ledgers -> 503" in lines[0]
    assert "GET /v1/ledgers -> 200" in lines[1]
    assert not any(key in line or "tok-in-query" in line for line in lines)


async def test_log_redaction_masks_registered_secrets_in_any_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "pms-api-key-777777"
    install_log_redaction()
    async with client(Script(200), headers={"X-API-KEY": key}):
        pass  # building the client registers the header value as a secret
    caplog.set_level(logging.INFO)
    logger = logging.getLogger("bexsync.some.adapter")
    logger.info("calling with %s", key)
    try:
        raise ValueError(f"boom {key}")
    except ValueError:
        logger.exception("failed")
    text = caplog.text
    assert key not in text
    assert "calling with ***" in text
    assert "boom ***" in text


# -- rate limiting --------------------------------------------------------------------------


async def test_429_holds_back_every_request_of_the_same_account() -> None:
    now = [0.0]

    async def fake_sleep(delay: float) -> None:
        now[0] += delay
        await asyncio.sleep(0)

    limiter = RateLimiter(
        RateLimitSpec(calls=100, per_seconds=60, remaining_header="X-RateLimit-Remaining"),
        clock=lambda: now[0],
        sleep=fake_sleep,
    )
    script = Script(httpx.Response(429, headers={"Retry-After": "20"}), 200)
    a = client(script, fake_sleep, limiter=limiter, rand=lambda: 0.0)  # the same fake time
    await a.get("/x")
    assert now[0] == pytest.approx(20.0)
    limiter.penalise(5)
    b = client(Script(200), limiter=limiter)
    await b.get("/y")  # another client of the same account waits too
    assert now[0] == pytest.approx(25.0)
    await a.aclose()
    await b.aclose()


async def test_remaining_header_feeds_the_limiter() -> None:
    limiter = RateLimiter(
        RateLimitSpec(calls=500, per_seconds=900, remaining_header="X-RateLimit-Remaining")
    )
    script = Script(httpx.Response(200, headers={"X-RateLimit-Remaining": "3"}))
    async with client(script, limiter=limiter) as http:
        await http.get("/x")
    assert limiter.remaining() == 3


@pytest.mark.parametrize("retry_after", ["1", "http-date"])
async def test_a_429_costs_what_retry_after_asks_even_when_the_minute_is_used_up(
    retry_after: str,
) -> None:
    """Xero answers a 429 with ``Retry-After: 1`` and ``X-MinLimit-Remaining: 0``: the retry
    goes out after about a second, not after the rest of the minute window."""
    from providers.xero import rate_limit_spec

    time_ = FakeTime()
    limiter = RateLimiter(rate_limit_spec(), clock=time_.clock, sleep=time_.sleep)
    value = "1" if retry_after == "1" else email.utils.formatdate(time.time() + 1, usegmt=True)
    limited = httpx.Response(429, headers={"Retry-After": value, "X-MinLimit-Remaining": "0"})
    script = Script(limited, httpx.Response(200, headers={"X-MinLimit-Remaining": "58"}))
    async with client(script, time_.sleep, limiter=limiter) as http:
        await http.get("/ManualJournals")
    assert script.calls == 2
    assert 0.0 < time_.now <= 1.1  # what Xero asked for (an HTTP date: at most that), + jitter
