"""Chift's official OpenAPI file as a request validator, loaded once per test session.

``chift_transport()`` is what the Chift contract tests give the adapter as ``ctx.transport``:
every request (``POST /token`` included, the spec describes it) is checked against
shared/specs/chift_openapi.json before it reaches the simulator, so a request the real API
would refuse fails the test.
"""

from __future__ import annotations

import pytest
from openapi_core import OpenAPI

from tests.providers.conftest import SpecRoute, SpecValidatingTransport, load_spec

CHIFT_SPEC_FILE = "chift_openapi.json"


def chift_spec() -> OpenAPI:
    """The loaded spec (cached per process by ``load_spec``; loading takes about a second)."""
    return load_spec(CHIFT_SPEC_FILE)


def chift_transport() -> SpecValidatingTransport:
    """A real HTTP transport that validates each request against the Chift spec first.

    The spec's server is ``https://api.chift.eu`` with no base path, and the simulator serves
    the same paths at its root, so the whole URL space maps onto the spec."""
    return SpecValidatingTransport(routes=[SpecRoute("/", chift_spec())])


@pytest.fixture(scope="session")
def chift_openapi() -> OpenAPI:
    return chift_spec()
