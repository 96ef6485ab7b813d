"""Chift's official OpenAPI file as a validator, loaded once per test session.

``chift_transport(prefix)`` is what the Chift contract tests give the adapter as
``ctx.transport``: every request (``POST /token`` included, the spec describes it) is checked
against shared/specs/chift_openapi.json before it reaches the simulator, so a request the real
API would refuse fails the test. With ``check_responses`` it also checks the simulator's
answers against the spec's response schemas, which keeps the simulator honest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers

from tests.providers.conftest import (
    SpecRoute,
    SpecValidatingTransport,
    SpecViolation,
    _OpenAPIRequest,
    load_spec,
)

CHIFT_SPEC_FILE = "chift_openapi.json"
CHIFT_HOST = "https://api.chift.eu"  # the spec's server: no base path


def chift_spec() -> OpenAPI:
    """The loaded spec (cached per process by ``load_spec``; loading takes about a second)."""
    return load_spec(CHIFT_SPEC_FILE)


@dataclass(frozen=True)
class _OpenAPIResponse:
    response: httpx.Response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def content_type(self) -> str:
        return self.response.headers.get("content-type", "").lower()

    @property
    def headers(self) -> Headers:
        return Headers(list(self.response.headers.multi_items()))

    @property
    def data(self) -> bytes | None:
        return self.response.content or None


def validate_response(request: httpx.Request, response: httpx.Response, mount: str = "") -> bool:
    """Check ``response`` against the schema the spec gives for ``request``'s operation.

    Returns False for a status the operation does not document (the spec lists no 401, 429 or
    5xx answers, which Chift sends in its generic error shape)."""
    path = request.url.path[len(mount) :] or "/"
    try:
        chift_spec().validate_response(
            _OpenAPIRequest(request, CHIFT_HOST, path), _OpenAPIResponse(response)
        )
        return True
    except ResponseNotFound:
        return False
    except Exception as exc:
        causes = [str(exc)]
        for err in getattr(exc.__cause__, "schema_errors", ()) or ():
            causes.append(getattr(err, "message", str(err)))
        raise SpecViolation(
            f"the answer {response.status_code} to {request.method} {path} breaks the spec: "
            + " | ".join(causes)
        ) from exc


@dataclass
class ChiftTransport(SpecValidatingTransport):
    """Requests validated against the Chift spec; responses too when ``check_responses``."""

    mount: str = ""
    check_responses: bool = False
    responses_checked: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self.check_responses:
            await response.aread()
            try:
                checked = validate_response(request, response, self.mount)
            except SpecViolation as exc:
                self.violations.append(str(exc))
                raise
            if checked:
                self.responses_checked.append(f"{response.status_code} {request.url.path}")
        return response


def chift_transport(mount: str = "", *, check_responses: bool = False) -> ChiftTransport:
    """A real HTTP transport validating against the Chift spec; ``mount`` is the path prefix
    under which a simulator serves what the spec serves at the root of ``api.chift.eu``."""
    prefix = mount.rstrip("/") or "/"
    return ChiftTransport(
        routes=[SpecRoute(prefix, chift_spec(), mount.rstrip("/"))],
        mount=mount.rstrip("/"),
        check_responses=check_responses,
    )


@pytest.fixture(scope="session")
def chift_openapi() -> OpenAPI:
    return chift_spec()
