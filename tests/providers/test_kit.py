"""The provider kit's own parts: the reference-data cache and the declarative registry."""

from __future__ import annotations

import asyncio

import pytest

from providers import registry
from providers.reference_cache import ReferenceCache
from tests.providers.harness import FakeTime


async def test_a_list_is_read_once_shared_by_concurrent_askers_and_kept_until_its_ttl() -> None:
    time_ = FakeTime()
    cache = ReferenceCache(ttl=300, clock=time_.clock)
    reads: list[str] = []
    release = asyncio.Event()

    async def read() -> list[str]:
        reads.append("read")
        await release.wait()
        return ["BEX"]

    askers = [asyncio.create_task(cache.get("ledgers", read)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*askers) == [["BEX"]] * 3
    assert await cache.get("ledgers", read) == ["BEX"]
    assert reads == ["read"]
    time_.advance(301)
    await cache.get("ledgers", read)
    assert len(reads) == 2
    await cache.get("ledgers", read, fresh=True)
    assert len(reads) == 3


async def test_a_failed_read_is_not_kept_and_a_cancelled_reader_does_not_fail_the_others() -> None:
    cache = ReferenceCache()
    attempts: list[int] = []

    async def failing() -> list[str]:
        attempts.append(1)
        raise ValueError("the provider failed")

    with pytest.raises(ValueError):
        await cache.get("accounts", failing)
    with pytest.raises(ValueError):
        await cache.get("accounts", failing)
    assert len(attempts) == 2

    started, never = asyncio.Event(), asyncio.Event()

    async def slow() -> list[str]:
        started.set()
        await never.wait()
        return []

    async def quick() -> list[str]:
        return ["1000"]

    first = asyncio.create_task(cache.get("tax_codes", slow))
    await started.wait()
    second = asyncio.create_task(cache.get("tax_codes", quick))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == ["1000"]  # it read on its own once the first reader was gone
    with pytest.raises(asyncio.CancelledError):
        await first


def test_every_provider_is_registered_by_its_adapter_class() -> None:
    for provider_id in registry.PROVIDER_IDS:
        spec = registry.get(provider_id)
        assert spec is not None and spec.info.id == provider_id
        module = __import__(spec.module, fromlist=[spec.factory])
        adapter = getattr(module, spec.factory)
        assert spec.info is adapter.info
        assert not hasattr(module, "SPEC") and not hasattr(module, "create")
    assert registry.get("nope") is None
