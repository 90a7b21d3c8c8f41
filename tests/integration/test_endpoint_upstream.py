"""Reference endpoint against a stub over HTTP: retries, the retry budget, the lookup cache
with single-flight, and the enrichment call."""

from __future__ import annotations

import asyncio

import pytest

from harness.servers.endpoint import EndpointConfig, LogisticModel
from harness.servers.stub import features_for
from tests.serving import ServeEndpoint, ServeStub, base_url, metrics, post, sample
from tests.waiting import run_async

pytestmark = pytest.mark.integration

FEATURES = "/features/{key}"


def _calls(text: str, path: str = FEATURES) -> float:
    return sum(
        sample(text, "stub_calls_total", route=path, status=status)
        for status in ("200", "404", "429", "500", "503")
    )


@pytest.mark.parametrize(("status", "attempts"), [(503, 3), (429, 3), (404, 1)])
def test_only_retryable_failures_are_retried(
    status: int, attempts: int, serve_endpoint: ServeEndpoint, serve_stub: ServeStub
) -> None:
    async def scenario() -> None:
        async with serve_stub(faults=[{"kind": "abort", "status": status}]) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", base_url(stub)),),
                upstream_backoff_base_s=0.001,
            )
            async with serve_endpoint(config) as client:
                got, body = await post(client, {"inputs": [{"entity_id": "a"}]})
                text = await metrics(client)
            stub_text = await metrics(stub)
        assert got == 502
        assert str(status) in body["message"]
        assert _calls(stub_text) == attempts
        assert sample(text, "serving_upstream_retries_total", target="feature-store") == (
            attempts - 1
        )
        assert sample(text, "serving_upstream_errors_total", target="feature-store") == attempts

    run_async(scenario)


def test_a_retry_rescues_an_intermittent_failure(
    serve_endpoint: ServeEndpoint, serve_stub: ServeStub
) -> None:
    async def scenario() -> None:
        # rate 0.5 with the stub's seeded dice: some calls fail, and a retry gets through.
        async with serve_stub(faults=[{"kind": "abort", "status": 503, "percentage": 50}]) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", base_url(stub)),),
                upstream_backoff_base_s=0.001,
                upstream_max_attempts=5,
                retry_budget_tokens=0,
            )
            async with serve_endpoint(config) as client:
                statuses = [
                    (await post(client, {"inputs": [{"entity_id": i}]}))[0] for i in range(8)
                ]
                text = await metrics(client)
        assert statuses == [200] * 8
        assert sample(text, "serving_upstream_retries_total", target="feature-store") >= 1

    run_async(scenario)


@pytest.mark.parametrize(("tokens", "expected_calls"), [(0, 30), (10, 13)])
def test_retry_budget_stops_retries_from_multiplying_load(
    tokens: float, expected_calls: int, serve_endpoint: ServeEndpoint, serve_stub: ServeStub
) -> None:
    # Ten requests against a dead upstream: 3 attempts each without a budget; with gRPC's
    # 10 tokens the retries stop once half are spent (3 + 2 calls, then 1 per request).
    async def scenario() -> None:
        async with serve_stub(faults=[{"kind": "abort", "status": 503}]) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", base_url(stub)),),
                upstream_backoff_base_s=0.0,
                retry_budget_tokens=tokens,
            )
            async with serve_endpoint(config) as client:
                for i in range(10):
                    status, _ = await post(client, {"inputs": [{"entity_id": i}]})
                    assert status == 502
                text = await metrics(client)
            stub_text = await metrics(stub)
        assert _calls(stub_text) == expected_calls
        throttled = sample(text, "serving_upstream_retries_throttled_total", target="feature-store")
        assert throttled == (0 if tokens == 0 else 9)

    run_async(scenario)


def test_cache_answers_repeats_without_an_upstream_call(
    serve_endpoint: ServeEndpoint, serve_stub: ServeStub
) -> None:
    async def scenario() -> None:
        async with serve_stub() as stub:
            config = EndpointConfig(upstreams=(("feature-store", base_url(stub)),), cache_ttl_s=60)
            async with serve_endpoint(config) as client:
                first = await post(client, {"inputs": [{"entity_id": "a"}]})
                second = await post(client, {"inputs": [{"entity_id": "a"}]})
                text = await metrics(client)
            stub_text = await metrics(stub)
        assert first == second
        assert _calls(stub_text) == 1
        assert sample(text, "serving_cache_hits_total", target="feature-store") == 1
        assert sample(text, "serving_cache_misses_total", target="feature-store") == 1

    run_async(scenario)


@pytest.mark.parametrize(("single_flight", "expected_calls"), [(True, 1), (False, 6)])
def test_single_flight_shares_one_call_among_concurrent_misses(
    single_flight: bool, expected_calls: int, serve_endpoint: ServeEndpoint, serve_stub: ServeStub
) -> None:
    async def scenario() -> None:
        async with serve_stub(faults=[{"kind": "delay", "latency": 100}]) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", base_url(stub)),),
                cache_ttl_s=60,
                single_flight=single_flight,
                concurrency=6,
            )
            async with serve_endpoint(config) as client:
                payload = {"inputs": [{"entity_id": "hot"}]}
                results = await asyncio.gather(*(post(client, payload) for _ in range(6)))
                text = await metrics(client)
            stub_text = await metrics(stub)
        assert [status for status, _ in results] == [200] * 6
        assert _calls(stub_text) == expected_calls
        shared = sample(text, "serving_cache_shared_total", target="feature-store")
        assert shared == 6 - expected_calls

    run_async(scenario)


def test_enrichment_is_one_call_per_request_and_feeds_the_model(
    serve_endpoint: ServeEndpoint, serve_stub: ServeStub
) -> None:
    records = [{"entity_id": f"e{i}", "x": i} for i in range(3)]

    async def scenario() -> None:
        async with serve_stub() as enrich:
            config = EndpointConfig(upstreams=(("enrichment", base_url(enrich)),), seed=3)
            async with serve_endpoint(config) as client:
                status, body = await post(client, {"dataframe_records": records})
                text = await metrics(client)
            stub_text = await metrics(enrich)
        assert status == 200
        assert _calls(stub_text, "/enrich/{key}") == 1
        assert sample(text, "serving_upstream_calls_total", target="enrichment", outcome="ok") == 1
        context = features_for("e0", n_features=8, seed=0)
        assert body["predictions"] == LogisticModel(3).predict(records, [context] * 3)

    run_async(scenario)


def test_failed_enrichment_fails_the_request(
    serve_endpoint: ServeEndpoint, serve_stub: ServeStub
) -> None:
    async def scenario() -> None:
        async with serve_stub(faults=[{"kind": "abort", "status": 500}]) as enrich:
            config = EndpointConfig(
                upstreams=(("enrichment", base_url(enrich)),), upstream_max_attempts=1
            )
            async with serve_endpoint(config) as client:
                status, body = await post(client, {"inputs": [[1]]})
        assert status == 502
        assert "enrichment" in body["message"]

    run_async(scenario)
