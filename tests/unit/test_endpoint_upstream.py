"""The reference endpoint's retry budget and lookup cache on their own, the cache on a fake
clock. The endpoint calling a stub with them is in the integration tier's test_endpoint_upstream."""

from __future__ import annotations

import pytest

from harness.servers.endpoint import LookupCache, RetryBudget
from tests.waiting import run_async


def test_retry_budget_refills_on_success() -> None:
    budget = RetryBudget(10, 0.1)
    for _ in range(5):
        budget.on_failure()
    assert not budget.allows_retry()
    budget.on_success()
    assert budget.allows_retry()
    assert budget.tokens == pytest.approx(5.1)


def test_cache_entries_expire() -> None:
    now = [0.0]
    seen: list[str] = []
    calls: list[str] = []
    cache: LookupCache[str] = LookupCache(
        ttl_s=5, single_flight=True, record=seen.append, clock=lambda: now[0]
    )

    async def load() -> str:
        calls.append("x")
        return f"v{len(calls)}"

    async def scenario() -> None:
        assert await cache.get("k", load) == "v1"
        now[0] = 4.9
        assert await cache.get("k", load) == "v1"
        now[0] = 5.0
        assert await cache.get("k", load) == "v2"

    run_async(scenario)
    assert seen == ["miss", "hit", "miss"]
