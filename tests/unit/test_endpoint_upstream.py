"""Reference endpoint: retries, the retry budget, the lookup cache with single-flight, and
the enrichment call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from harness.servers.endpoint import EndpointConfig, LogisticModel, LookupCache, RetryBudget
from harness.servers.stub import StubConfig, features_for
from harness.servers.stub import make_app as make_stub_app
from tests.unit.test_endpoint import Client, _client, _endpoint, _metrics, _post, _run, _sample

FEATURES = "/features/{key}"


@asynccontextmanager
async def _stub(fault: dict[str, Any] | None = None) -> AsyncIterator[Client]:
    async with _client(make_stub_app(StubConfig())) as stub:
        if fault is not None:
            async with stub.put("/_chaos/faults", json=fault) as resp:
                assert resp.status == 200
        yield stub


def _calls(text: str, path: str = FEATURES) -> float:
    return sum(
        _sample(text, "stub_requests_total", path=path, status=status)
        for status in ("200", "404", "429", "500", "503")
    )


@pytest.mark.parametrize(("status", "attempts"), [(503, 3), (429, 3), (404, 1)])
def test_only_retryable_failures_are_retried(status: int, attempts: int) -> None:
    async def scenario() -> None:
        async with _stub({"status": status}) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", str(stub.make_url("/"))),),
                upstream_backoff_base_s=0.001,
            )
            async with _endpoint(config) as client:
                got, body = await _post(client, {"inputs": [{"entity_id": "a"}]})
                text = await _metrics(client)
            stub_text = await _metrics(stub)
        assert got == 502
        assert str(status) in body["message"]
        assert _calls(stub_text) == attempts
        assert _sample(text, "serving_upstream_retries_total", target="feature-store") == (
            attempts - 1
        )
        assert _sample(text, "serving_upstream_errors_total", target="feature-store") == attempts

    _run(scenario)


def test_a_retry_rescues_an_intermittent_failure() -> None:
    async def scenario() -> None:
        # rate 0.5 with the stub's seeded dice: some calls fail, and a retry gets through.
        async with _stub({"status": 503, "rate": 0.5}) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", str(stub.make_url("/"))),),
                upstream_backoff_base_s=0.001,
                upstream_max_attempts=5,
                retry_budget_tokens=0,
            )
            async with _endpoint(config) as client:
                statuses = [
                    (await _post(client, {"inputs": [{"entity_id": i}]}))[0] for i in range(8)
                ]
                text = await _metrics(client)
        assert statuses == [200] * 8
        assert _sample(text, "serving_upstream_retries_total", target="feature-store") >= 1

    _run(scenario)


@pytest.mark.parametrize(("tokens", "expected_calls"), [(0, 30), (10, 13)])
def test_retry_budget_stops_retries_from_multiplying_load(
    tokens: float, expected_calls: int
) -> None:
    # Ten requests against a dead upstream: 3 attempts each without a budget; with gRPC's
    # 10 tokens the retries stop once half are spent (3 + 2 calls, then 1 per request).
    async def scenario() -> None:
        async with _stub({"status": 503}) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", str(stub.make_url("/"))),),
                upstream_backoff_base_s=0.0,
                retry_budget_tokens=tokens,
            )
            async with _endpoint(config) as client:
                for i in range(10):
                    status, _ = await _post(client, {"inputs": [{"entity_id": i}]})
                    assert status == 502
                text = await _metrics(client)
            stub_text = await _metrics(stub)
        assert _calls(stub_text) == expected_calls
        throttled = _sample(
            text, "serving_upstream_retries_throttled_total", target="feature-store"
        )
        assert throttled == (0 if tokens == 0 else 9)

    _run(scenario)


def test_retry_budget_refills_on_success() -> None:
    budget = RetryBudget(10, 0.1)
    for _ in range(5):
        budget.on_failure()
    assert not budget.allows_retry()
    budget.on_success()
    assert budget.allows_retry()
    assert budget.tokens == pytest.approx(5.1)


def test_cache_answers_repeats_without_an_upstream_call() -> None:
    async def scenario() -> None:
        async with _stub() as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", str(stub.make_url("/"))),), cache_ttl_s=60
            )
            async with _endpoint(config) as client:
                first = await _post(client, {"inputs": [{"entity_id": "a"}]})
                second = await _post(client, {"inputs": [{"entity_id": "a"}]})
                text = await _metrics(client)
            stub_text = await _metrics(stub)
        assert first == second
        assert _calls(stub_text) == 1
        assert _sample(text, "serving_cache_hits_total", target="feature-store") == 1
        assert _sample(text, "serving_cache_misses_total", target="feature-store") == 1

    _run(scenario)


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

    _run(scenario)
    assert seen == ["miss", "hit", "miss"]


@pytest.mark.parametrize(("single_flight", "expected_calls"), [(True, 1), (False, 6)])
def test_single_flight_shares_one_call_among_concurrent_misses(
    single_flight: bool, expected_calls: int
) -> None:
    async def scenario() -> None:
        async with _stub({"rate": 0.0, "latency_ms": 100}) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", str(stub.make_url("/"))),),
                cache_ttl_s=60,
                single_flight=single_flight,
                concurrency=6,
            )
            async with _endpoint(config) as client:
                payload = {"inputs": [{"entity_id": "hot"}]}
                results = await asyncio.gather(*(_post(client, payload) for _ in range(6)))
                text = await _metrics(client)
            stub_text = await _metrics(stub)
        assert [status for status, _ in results] == [200] * 6
        assert _calls(stub_text) == expected_calls
        shared = _sample(text, "serving_cache_shared_total", target="feature-store")
        assert shared == 6 - expected_calls

    _run(scenario)


def test_enrichment_is_one_call_per_request_and_feeds_the_model() -> None:
    records = [{"entity_id": f"e{i}", "x": i} for i in range(3)]

    async def scenario() -> None:
        async with _stub() as enrich:
            config = EndpointConfig(upstreams=(("enrichment", str(enrich.make_url("/"))),), seed=3)
            async with _endpoint(config) as client:
                status, body = await _post(client, {"dataframe_records": records})
                text = await _metrics(client)
            stub_text = await _metrics(enrich)
        assert status == 200
        assert _calls(stub_text, "/enrich/{key}") == 1
        assert _sample(text, "serving_upstream_calls_total", target="enrichment", outcome="ok") == 1
        context = features_for("e0", n_features=8, seed=0)
        assert body["predictions"] == LogisticModel(3).predict(records, [context] * 3)

    _run(scenario)


def test_failed_enrichment_fails_the_request() -> None:
    async def scenario() -> None:
        async with _stub({"status": 500}) as enrich:
            config = EndpointConfig(
                upstreams=(("enrichment", str(enrich.make_url("/"))),), upstream_max_attempts=1
            )
            async with _endpoint(config) as client:
                status, body = await _post(client, {"inputs": [[1]]})
        assert status == 502
        assert "enrichment" in body["message"]

    _run(scenario)
