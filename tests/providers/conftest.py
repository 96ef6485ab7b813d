"""OpenAPI request validation for provider contract tests (openapi-core 0.23).

Fixtures and helpers any provider test may use:

- ``openapi_spec`` (session fixture): ``openapi_spec(path)`` loads a spec once per session.
  Strict spec checking is off: the official Xero and Chift files contain small schema mistakes
  (shared/specs/README.md), which do not affect request validation.
- ``validate_request(spec, request, mount=None)``: validates an ``httpx.Request`` against the
  spec by its path relative to the spec's server base path (``/api.xro/2.0`` for Xero), so a
  simulator on 127.0.0.1 is checked like the production host. Raises ``SpecViolation``.
- ``SpecValidatingTransport``: an httpx transport that validates every request it sends before
  passing it on; give it to the adapter as ``ctx.transport`` and a failing validation fails the
  test (``violations`` keeps them too, in case an adapter swallowed the error).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from providers.redact import forget_secrets

SPECS_DIR = Path(__file__).resolve().parents[3] / "shared" / "specs"
if not SPECS_DIR.is_dir():  # the repo checked out elsewhere: fall back to the known location
    SPECS_DIR = Path("/work/shared/specs")


class SpecViolation(AssertionError):
    """A request the adapter sent does not match the provider's official spec."""


@cache
def load_spec(path: str | Path) -> OpenAPI:
    """Load (once per process) an OpenAPI file without the strict spec check."""
    resolved = Path(path)
    if not resolved.is_absolute():
        resolved = SPECS_DIR / resolved
    return OpenAPI.from_file_path(str(resolved), config=Config(spec_validator_cls=None))


@pytest.fixture(scope="session")
def openapi_spec() -> Callable[[str | Path], OpenAPI]:
    """``openapi_spec("xero_accounting.yaml")``: a path relative to shared/specs, or absolute."""
    return load_spec


def _raw(spec: OpenAPI) -> dict[str, Any]:
    """The spec document as loaded (``$ref``s unresolved)."""
    with spec.spec.open() as document:
        return document


def server_url(spec: OpenAPI) -> str:
    servers = _raw(spec).get("servers") or [{"url": "/"}]
    return str(servers[0]["url"]).rstrip("/")


def base_path(spec: OpenAPI) -> str:
    return urlsplit(server_url(spec)).path.rstrip("/")


class _OpenAPIRequest:
    """An ``httpx.Request`` seen as openapi-core's request protocol, on the spec's host."""

    def __init__(self, request: httpx.Request, host_url: str, path: str) -> None:
        self._request = request
        self._host_url = host_url
        self._path = path
        query = parse_qs(request.url.query.decode("ascii"), keep_blank_values=True)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict([(k, v) for k, values in query.items() for v in values]),
            header=Headers(list(request.headers.multi_items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return self._host_url

    @property
    def path(self) -> str:
        return self._path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        content = self._request.content
        return content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "application/json").lower()


def _oauth2_secured(spec: OpenAPI, path: str, method: str) -> bool:
    """Whether the operation (or the whole spec) requires an OAuth2 or bearer scheme."""
    document = _raw(spec)
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    for template, item in (document.get("paths") or {}).items():
        operation = item.get(method) if _template_matches(template, path) else None
        if not isinstance(operation, dict):
            continue
        security = operation.get("security", document.get("security")) or []
        for requirement in security:
            for name in requirement:
                scheme = schemes.get(name) or {}
                kind = scheme.get("type")
                if kind == "oauth2" or (kind == "http" and scheme.get("scheme") == "bearer"):
                    return True
    return False


def _template_matches(template: str, path: str) -> bool:
    t_parts, p_parts = template.strip("/").split("/"), path.strip("/").split("/")
    if len(t_parts) != len(p_parts):
        return False
    return all(t.startswith("{") or t == p for t, p in zip(t_parts, p_parts, strict=True))


def validate_request(spec: OpenAPI, request: httpx.Request, mount: str | None = None) -> None:
    """Validate ``request`` against ``spec``; ``mount`` is where the spec's server base path
    sits in the request URL (default: the same path, as the simulators serve it)."""
    prefix = base_path(spec) if mount is None else mount.rstrip("/")
    path = request.url.path
    if prefix and not (path == prefix or path.startswith(prefix + "/")):
        raise SpecViolation(f"{request.method} {path} is outside the spec's base path {prefix}")
    relative = path[len(prefix) :] or "/"
    server = urlsplit(server_url(spec))
    host_url = f"{server.scheme}://{server.netloc}"
    target = _OpenAPIRequest(request, host_url, base_path(spec) + relative)
    with warnings.catch_warnings():
        # openapi-core does not check oauth2 schemes ("Unsupported scheme type"); we do below.
        warnings.filterwarnings("ignore", message="Unsupported scheme type")
        try:
            spec.validate_request(target)
        except Exception as exc:  # openapi-core raises a family of errors; report them all
            causes = [str(exc)]
            cause = exc.__cause__
            for err in getattr(cause, "schema_errors", ()) or ():
                causes.append(getattr(err, "message", str(err)))
            raise SpecViolation(
                f"{request.method} {relative} breaks the spec: " + " | ".join(causes)
            ) from exc
    if _oauth2_secured(spec, relative, request.method.lower()) and not request.headers.get(
        "authorization", ""
    ).lower().startswith("bearer "):
        raise SpecViolation(f"{request.method} {relative} needs an OAuth2 bearer token")


@dataclass(frozen=True)
class SpecRoute:
    """Requests whose path starts with ``prefix`` are validated against ``spec``; the spec's
    server base path sits at ``mount`` (None: the spec's own base path)."""

    prefix: str
    spec: OpenAPI
    mount: str | None = None


@dataclass
class SpecValidatingTransport(httpx.AsyncBaseTransport):
    """Validate every outgoing request against the matching spec, then send it for real.

    Requests under ``passthrough`` prefixes (an OAuth token endpoint no spec describes) go out
    unchecked; any other request that no route claims is itself a violation.
    """

    routes: Sequence[SpecRoute]
    passthrough: Iterable[str] = ()
    inner: httpx.AsyncBaseTransport = field(default_factory=httpx.AsyncHTTPTransport)
    validated: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def check(self, request: httpx.Request) -> None:
        path = request.url.path
        for route in self.routes:
            if path == route.prefix or path.startswith(route.prefix.rstrip("/") + "/"):
                try:
                    validate_request(route.spec, request, route.mount)
                except SpecViolation as exc:
                    self.violations.append(str(exc))
                    raise
                self.validated.append(f"{request.method} {path}")
                return
        if any(path.startswith(p) for p in self.passthrough):
            return
        message = f"{request.method} {path} matches no spec route"
        self.violations.append(message)
        raise SpecViolation(message)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.check(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(autouse=True)
def _fresh_redaction() -> None:
    """The redaction registry is per process: start each test clean."""
    forget_secrets()
