"""A simulated Booking Experts PMS API (JSON:API, v3) over a deterministic holiday-park dataset.

Used by the daemon's ``--demo`` and by the tests, through the real ``BexClient``. Paths and
attribute names come from ``providers.bex.mapping`` so that client and simulator agree; both
follow the research's probable shapes until the real OAS3 spec is checked.

The dataset is lazy and index-addressable: any page of any date range is computed from the seed
without generating the pages before it, so a million lines a month cost no memory. Every day
balances (debits == credits), the uncategorised lines included (their counterpart is numbered).

Manual poking: ``python -m providers.simulators.bex --port 8080 --seed 1``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from providers.bex import mapping as m
from providers.ratelimit import RateLimitSpec
from providers.simulators.bex_dataset import (
    DEFAULT_ADMINISTRATIONS,
    AdministrationSpec,
    BexDataset,
    Line,
    TxnRenderer,
)
from providers.simulators.faults import FaultMiddleware, FaultPlan

__all__ = [
    "DEFAULT_ADMINISTRATIONS",
    "AdministrationSpec",
    "BexDataset",
    "Line",
    "SimulatorState",
    "bex_error_body",
    "create_bex_app",
]

# -- JSON:API rendering ---------------------------------------------------------------------


def _error(status: int, code: str, title: str, detail: str) -> dict[str, Any]:
    return {"errors": [{"status": status, "code": code, "title": title, "detail": detail}]}


def bex_error_body(status: int, detail: str) -> dict[str, Any]:
    """BEX's documented error shape, for faults injected in front of the simulator."""
    codes = {429: ("TOO_MANY_REQUESTS", "Too many requests")}
    code, title = codes.get(status, ("INTERNAL_SERVER_ERROR", "Internal server error"))
    if 400 <= status < 500 and status != 429:
        code, title = "BAD_REQUEST", "Bad request"
    return _error(status, code, title, detail)


# -- the app --------------------------------------------------------------------------------


class _SimLimiter:
    """The server side of BEX's limits: sliding windows per API key."""

    def __init__(self, spec: RateLimitSpec, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.clock = clock
        self.windows: list[tuple[int, float, deque[float]]] = [
            (calls, per, deque()) for calls, per in spec.windows()
        ]

    def hit(self) -> tuple[bool, int, float]:
        """(allowed, remaining in the main window, seconds until a slot frees)."""
        now = self.clock()
        wait = 0.0
        for calls, per, stamps in self.windows:
            while stamps and stamps[0] <= now - per:
                stamps.popleft()
            if len(stamps) >= calls:
                wait = max(wait, stamps[0] + per - now)
        calls, _, main = self.windows[0]
        if wait > 0:
            return False, max(calls - len(main), 0), wait
        for _, _, stamps in self.windows:
            stamps.append(now)
        return True, calls - len(main), 0.0


@dataclass
class SimulatorState:
    """What a test can inspect or change while the simulator runs."""

    api_key: str
    access_tokens: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)  # "GET /v3/... ?query" in order
    max_page_size: int = m.SIMULATOR_MAX_PAGE_SIZE


def create_bex_app(
    dataset: BexDataset,
    *,
    api_key: str,
    faults: FaultPlan | None = None,
    access_tokens: Collection[str] | None = None,
    rate_limit: RateLimitSpec | None = m.RATE_LIMIT,
    max_page_size: int = m.SIMULATOR_MAX_PAGE_SIZE,
    clock: Callable[[], float] = time.monotonic,
    record_requests: bool = False,
) -> Starlette:
    """A Starlette app answering like the BEX v3 API for ``dataset``.

    Requests need ``X-API-KEY: api_key`` or ``Authorization: Bearer <one of access_tokens>``
    (a mutable set: an OAuth simulator may add tokens later). ``rate_limit`` enforces BEX's
    documented limits; pass ``None`` (or a larger spec) for a demo that catches up quickly.
    ``app.state.bex`` is the ``SimulatorState``.
    """
    state = SimulatorState(
        api_key=api_key,
        access_tokens=access_tokens if isinstance(access_tokens, set) else set(access_tokens or ()),
        max_page_size=max_page_size,
    )
    limiter = _SimLimiter(rate_limit, clock) if rate_limit is not None else None
    renderers: dict[str, TxnRenderer] = {}

    def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Response(content, status_code=status, headers=headers, media_type=m.MEDIA_TYPE)

    def guard(request: Request) -> tuple[Response | None, dict[str, str]]:
        if record_requests:
            query = f"?{request.url.query}" if request.url.query else ""
            state.requests.append(f"{request.method} {request.url.path}{query}")
        key = request.headers.get(m.API_KEY_HEADER)
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        if not ((key and key == state.api_key) or (token and token in state.access_tokens)):
            detail = "Please make sure to set the Authorization HTTP header"
            return respond(_error(401, "UNAUTHORIZED", "Unauthorized error", detail), 401), {}
        if limiter is None:
            return None, {}
        allowed, remaining, wait = limiter.hit()
        headers = {
            m.RATE_LIMIT_HEADER: str(limiter.spec.calls),
            m.RATE_REMAINING_HEADER: str(remaining),
        }
        if not allowed:
            headers["Retry-After"] = str(max(math.ceil(wait), 1))
            body = _error(429, "TOO_MANY_REQUESTS", "Too many requests", "Rate limit exceeded")
            return respond(body, 429, headers), headers
        return None, headers

    def not_found(what: str) -> Response:
        return respond(_error(404, "RESOURCE_NOT_FOUND", "Not found", f"{what} not found"), 404)

    def bad_request(detail: str) -> Response:
        return respond(_error(400, "BAD_REQUEST", "Bad request", detail), 400)

    def admin_of(request: Request) -> AdministrationSpec | None:
        admin = dataset.administration(request.path_params["administration_id"])
        return admin if admin is not None and admin.granted else None

    def paging(request: Request, default: int = 30) -> tuple[int, int] | Response:
        try:
            size = int(request.query_params.get(m.PAGE_SIZE_PARAM, default))
            number = int(request.query_params.get(m.PAGE_NUMBER_PARAM, 1))
        except ValueError:
            return bad_request("page[size] and page[number] must be integers")
        if size < 1 or number < 1:
            return bad_request("page[size] and page[number] must be positive")
        return min(size, state.max_page_size), number

    def links(request: Request, number: int, size: int, total: int) -> dict[str, str | None]:
        last = max(math.ceil(total / size), 1)

        def at(n: int) -> str:
            url = request.url.include_query_params(
                **{m.PAGE_NUMBER_PARAM: str(n), m.PAGE_SIZE_PARAM: str(size)}
            )
            return str(url)

        return {
            "self": at(number),
            "first": at(1),
            "prev": at(number - 1) if number > 1 else None,
            "next": at(number + 1) if number < last else None,
            "last": at(last),
        }

    def collection(
        request: Request, records: list[dict[str, Any]], headers: dict[str, str]
    ) -> Response:
        page = paging(request)
        if isinstance(page, Response):
            return page
        size, number = page
        chunk = records[(number - 1) * size : number * size]
        body = {
            "data": chunk,
            "links": links(request, number, size, len(records)),
            "meta": {"pagination": {"total_records": len(records), "page": number, "size": size}},
        }
        return respond(body, headers=headers)

    def admin_record(admin: AdministrationSpec) -> dict[str, Any]:
        return {
            "id": admin.id,
            "type": m.TYPE_ADMINISTRATION,
            "attributes": {
                m.ADMIN_NAME: admin.name,
                m.ADMIN_NUMBER: admin.number,
                m.ADMIN_CURRENCY: admin.currency,
                m.ADMIN_TIMEZONE: admin.timezone,
            },
        }

    async def subscription(request: Request) -> Response:
        error, headers = guard(request)
        if error is not None:
            return error
        body = {
            "data": {
                "id": dataset.subscription_id,
                "type": m.TYPE_SUBSCRIPTION,
                "attributes": {"authorized": True, "user_locale": "en"},
                "relationships": {
                    m.SUBSCRIPTION_ADMINISTRATIONS_REL: {
                        "data": [
                            {"type": m.TYPE_ADMINISTRATION, "id": a.id} for a in dataset.granted()
                        ]
                    }
                },
            }
        }
        return respond(body, headers=headers)

    async def administrations(request: Request) -> Response:
        error, headers = guard(request)
        if error is not None:
            return error
        return collection(request, [admin_record(a) for a in dataset.granted()], headers)

    async def administration(request: Request) -> Response:
        error, headers = guard(request)
        if error is not None:
            return error
        admin = admin_of(request)
        if admin is None:
            return not_found("administration")
        return respond({"data": admin_record(admin)}, headers=headers)

    def admin_collection(
        build: Callable[[str], list[dict[str, Any]]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """An administration-scoped collection endpoint: auth, the administration, then records."""

        async def endpoint(request: Request) -> Response:
            error, headers = guard(request)
            if error is not None:
                return error
            admin = admin_of(request)
            if admin is None:
                return not_found("administration")
            return collection(request, build(admin.id), headers)

        return endpoint

    ledger_accounts = admin_collection(
        lambda admin_id: [
            {
                "id": lid,
                "type": m.TYPE_LEDGER_ACCOUNT,
                "attributes": {m.LEDGER_NUMBER: number, m.LEDGER_NAME: name},
            }
            for lid, number, name in dataset.ledger_accounts(admin_id)
        ]
    )
    vat_codes = admin_collection(
        lambda admin_id: [
            {
                "id": vid,
                "type": m.TYPE_VAT_CODE,
                "attributes": {m.VAT_CODE: code, m.VAT_NAME: name, m.VAT_PERCENTAGE: pct},
            }
            for vid, code, name, pct in dataset.vat_codes(admin_id)
        ]
    )
    vat_tariffs = admin_collection(
        lambda admin_id: [
            {
                "id": tid,
                "type": m.TYPE_VAT_TARIFF,
                "attributes": {
                    m.VAT_TARIFF_PERCENTAGE: pct,
                    m.VAT_TARIFF_START: start,
                    m.VAT_TARIFF_END: end,
                },
                "relationships": {
                    m.VAT_TARIFF_VAT_CODE_REL: {"data": {"type": m.TYPE_VAT_CODE, "id": vid}}
                },
            }
            for tid, vid, pct, start, end in dataset.vat_tariffs(admin_id)
        ]
    )

    async def journal_transactions(request: Request) -> Response:
        error, headers = guard(request)
        if error is not None:
            return error
        admin = admin_of(request)
        if admin is None:
            return not_found("administration")
        raw = request.query_params.get(m.TXN_DATE_FILTER)
        start, end = dataset.start, dataset.today
        if raw is not None:
            first, sep, last = raw.partition(m.RANGE_SEPARATOR)
            try:
                start = date.fromisoformat(first)
                end = date.fromisoformat(last) if sep else start
            except ValueError:
                return bad_request(f"{m.TXN_DATE_FILTER} must be a date or a range a..b")
        page = paging(request)
        if isinstance(page, Response):
            return page
        size, number = page
        total = dataset.count(admin.id, start, end)
        renderer = renderers.get(admin.id)
        if renderer is None:
            renderer = renderers[admin.id] = TxnRenderer(dataset, admin.id)
        render = renderer.render
        slices = dataset.slices(admin.id, start, end, (number - 1) * size, size)
        tail = {
            "links": links(request, number, size, total),
            "meta": {"pagination": {"total_records": total, "page": number, "size": size}},
        }
        body = (
            '{"data":['
            + ",".join([render(event, lo, hi) for event, lo, hi in slices])
            + "],"
            + json.dumps(tail)[1:]
        )
        return respond(body.encode(), headers=headers)

    def route(template: str, endpoint: Callable[..., Any]) -> Route:
        return Route(template, endpoint, methods=["GET"])

    middleware = [Middleware(FaultMiddleware, plan=faults)] if faults is not None else []
    app = Starlette(
        routes=[
            route(m.SUBSCRIPTION_PATH, subscription),
            route(m.ADMINISTRATIONS_PATH, administrations),
            route(m.ADMINISTRATION_PATH, administration),
            route(m.LEDGER_ACCOUNTS_PATH, ledger_accounts),
            route(m.VAT_CODES_PATH, vat_codes),
            route(m.VAT_TARIFFS_PATH, vat_tariffs),
            route(m.JOURNAL_TRANSACTIONS_PATH, journal_transactions),
        ],
        middleware=middleware,
    )
    app.state.bex = state
    app.state.dataset = dataset
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run the simulator on 127.0.0.1 for manual poking with curl."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Simulated Booking Experts PMS API")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api-key", default="demo-bex-api-key")
    parser.add_argument("--today", type=date.fromisoformat, default=date.today())
    parser.add_argument("--no-rate-limit", action="store_true")
    args = parser.parse_args(argv)
    dataset = BexDataset(args.seed, args.today)
    app = create_bex_app(
        dataset, api_key=args.api_key, rate_limit=None if args.no_rate_limit else m.RATE_LIMIT
    )
    admin = dataset.administrations[0].id
    print(f"BEX simulator on http://127.0.0.1:{args.port}  (X-API-KEY: {args.api_key})")
    print(
        f"  curl -g -H 'X-API-KEY: {args.api_key}' "
        f"'http://127.0.0.1:{args.port}{m.path(m.JOURNAL_TRANSACTIONS_PATH, admin)}"
        f"?filter[date]={args.today}..{args.today}'"
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
