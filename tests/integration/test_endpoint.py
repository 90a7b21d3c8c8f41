"""Reference endpoint over HTTP: scoring protocol, upstream lookups, admission, disconnects,
metrics. Each test serves the endpoint (and a stub where it calls one) on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.servers.endpoint import EndpointConfig, LogisticModel
from harness.servers.stub import StubConfig, features_for
from harness.system.ports import free_port
from tests.serving import (
    INVOKE,
    ServeEndpoint,
    ServeStub,
    base_url,
    metrics,
    post,
    rows,
    sample,
    wait_for_metric,
)
from tests.waiting import run_async

pytestmark = pytest.mark.integration


# --- payload formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4], [5, 6]]}}, 3),
        ({"dataframe_records": [{"a": 1}, {"a": 2}]}, 2),
        ({"instances": [[1, 2], [3, 4], [5, 6], [7, 8]]}, 4),
        ({"instances": [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}, {"a": 5}]}, 5),
        ({"inputs": [{"a": 1}]}, 1),
        ({"inputs": {"a": [1, 2], "b": [3, 4]}}, 2),
        ({"inputs": [[1.5], [2.5]], "params": {"temperature": 0.1}}, 2),
        ({"dataframe_records": []}, 0),
    ],
)
def test_each_format_gives_one_prediction_per_record(
    payload: Any, expected: int, serve_endpoint: ServeEndpoint
) -> None:
    async def scenario() -> None:
        async with serve_endpoint() as client:
            status, body = await post(client, payload)
        assert status == 200, body
        predictions = body["predictions"]
        assert len(predictions) == expected
        assert all(isinstance(p, float) and 0.0 < p < 1.0 for p in predictions)

    run_async(scenario)


def test_named_route_serves_only_its_own_name(serve_endpoint: ServeEndpoint) -> None:
    async def scenario() -> None:
        async with serve_endpoint(EndpointConfig(name="churn")) as client:
            ok, body = await post(client, {"inputs": [[1]]}, "/serving-endpoints/churn/invocations")
            missing, error = await post(
                client, {"inputs": [[1]]}, "/serving-endpoints/other/invocations"
            )
        assert ok == 200
        assert len(body["predictions"]) == 1
        assert missing == 404
        assert error["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    run_async(scenario)


# --- rejected requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "mentions"),
    [
        ({"foo": []}, "foo"),
        ({"instances": [], "inputs": []}, "inputs"),
        ({"params": {}}, "params"),
        ({}, "dataframe_records"),
        ([{"a": 1}], "JSON list"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, "row 0"),
        ({"dataframe_records": [[1, 2]]}, "dataframe_records"),
        ({"inputs": [{"a": 1}], "params": [1]}, "params"),
    ],
)
def test_bad_payload_is_400_naming_what_was_found(
    payload: Any, mentions: str, serve_endpoint: ServeEndpoint
) -> None:
    async def scenario() -> None:
        async with serve_endpoint() as client:
            status, body = await post(client, payload)
        assert status == 400
        assert body["error_code"] == "BAD_REQUEST"
        assert mentions in body["message"]

    run_async(scenario)


def test_malformed_json_is_400(serve_endpoint: ServeEndpoint) -> None:
    async def scenario() -> None:
        async with serve_endpoint() as client:
            headers = {"Content-Type": "application/json"}
            async with client.post(INVOKE, data=b'{"inputs": [', headers=headers) as resp:
                assert resp.status == 400
                assert (await resp.json())["error_code"] == "BAD_REQUEST"

    run_async(scenario)


def test_other_content_type_is_415(serve_endpoint: ServeEndpoint) -> None:
    async def scenario() -> None:
        async with serve_endpoint() as client:
            headers = {"Content-Type": "text/csv"}
            async with client.post(INVOKE, data=b"a,b\n1,2\n", headers=headers) as resp:
                assert resp.status == 415
                body = await resp.json()
        assert body["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert "text/csv" in body["message"]

    run_async(scenario)


def test_oversized_body_is_413_by_content_length(serve_endpoint: ServeEndpoint) -> None:
    async def scenario() -> None:
        async with serve_endpoint(EndpointConfig(max_payload_bytes=64)) as client:
            status, body = await post(client, {"inputs": [[i] for i in range(100)]})
            small, _ = await post(client, {"inputs": [[1]]})
        assert status == 413
        assert body["error_code"] == "PAYLOAD_TOO_LARGE"
        assert small == 200

    run_async(scenario)


def test_oversized_chunked_body_is_413_without_content_length(
    serve_endpoint: ServeEndpoint,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"inputs": ['
        for i in range(200):
            yield b"[%d]," % i
        yield b"[0]]}"

    async def scenario() -> None:
        async with serve_endpoint(EndpointConfig(max_payload_bytes=256)) as client:
            headers = {"Content-Type": "application/json"}
            async with client.post(INVOKE, data=chunks(), headers=headers) as resp:
                assert "Content-Length" not in resp.request_info.headers
                assert resp.status == 413

    run_async(scenario)


# --- feature-store lookups -------------------------------------------------------------------


def test_endpoint_calls_stub_once_per_record_and_scores_its_features(
    serve_endpoint: ServeEndpoint, serve_stub: ServeStub
) -> None:
    records = [*rows(5), {"entity_id": "e0", "x": 9}]

    async def scenario() -> None:
        async with serve_stub(StubConfig(seed=4)) as stub:
            url = base_url(stub)
            async with serve_endpoint(
                EndpointConfig(upstreams=(("feature-store", url),), seed=2)
            ) as client:
                status, body = await post(client, {"dataframe_records": records})
                endpoint_text = await metrics(client)
            stub_text = await metrics(stub)
        assert status == 200
        calls = sample(stub_text, "stub_calls_total", route="/features/{key}", status="200")
        assert calls == len(records)
        ok = sample(endpoint_text, "serving_upstream_calls_total", outcome="ok")
        assert ok == len(records)
        vectors = [features_for(str(r["entity_id"]), n_features=8, seed=4) for r in records]
        assert body["predictions"] == LogisticModel(2).predict(records, vectors)

    run_async(scenario)


def test_without_feature_store_features_are_zeros(serve_endpoint: ServeEndpoint) -> None:
    records = rows(3)

    async def scenario() -> None:
        async with serve_endpoint(EndpointConfig(seed=5)) as client:
            _, body = await post(client, {"dataframe_records": records})
        assert body["predictions"] == LogisticModel(5).predict(records, [[0.0] * 8] * 3)

    run_async(scenario)


def test_upstream_error_status_is_502(serve_endpoint: ServeEndpoint, serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub(faults=[{"kind": "abort", "status": 500}]) as stub:
            config = EndpointConfig(upstreams=(("feature-store", base_url(stub)),))
            async with serve_endpoint(config) as client:
                status, body = await post(client, {"instances": rows(3)})
                text = await metrics(client)
        assert status == 502
        assert body["error_code"] == "UPSTREAM_ERROR"
        assert "500" in body["message"]
        assert sample(text, "serving_upstream_calls_total", outcome="http_5xx") >= 1
        assert sample(text, "request_5xx_count_total") == 1

    run_async(scenario)


def test_unreachable_feature_store_is_502(serve_endpoint: ServeEndpoint) -> None:
    # A port just found free: nothing listens on it.
    config = EndpointConfig(upstreams=(("feature-store", f"http://127.0.0.1:{free_port()}"),))

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            status, body = await post(client, {"inputs": [{"entity_id": "a"}]})
        assert status == 502
        assert body["error_code"] == "UPSTREAM_ERROR"

    run_async(scenario)


def test_slow_feature_store_is_504(serve_endpoint: ServeEndpoint, serve_stub: ServeStub) -> None:
    async def scenario() -> None:
        async with serve_stub(faults=[{"kind": "delay", "latency": 2000}]) as stub:
            config = EndpointConfig(
                upstreams=(("feature-store", base_url(stub)),), upstream_timeout_s=0.05
            )
            async with serve_endpoint(config) as client:
                status, body = await post(client, {"inputs": [{"entity_id": "a"}]})
                text = await metrics(client)
        assert status == 504
        assert body["error_code"] == "UPSTREAM_ERROR"
        # Three attempts by default, each timing out.
        assert sample(text, "serving_upstream_calls_total", outcome="timeout") == 3
        assert sample(text, "serving_upstream_retries_total", target="feature-store") == 2

    run_async(scenario)


# --- admission: provisioned concurrency and the bounded queue --------------------------------


@pytest.mark.parametrize("overflow_status", [429, 503])
def test_full_queue_rejects_at_once_with_retry_after(
    overflow_status: int, serve_endpoint: ServeEndpoint
) -> None:
    config = EndpointConfig(
        concurrency=1,
        max_queue=1,
        service_time_ms=10_000,
        retry_after_s=3,
        overflow_status=overflow_status,
    )

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            running = asyncio.create_task(post(client, {"inputs": [[1]]}))
            await wait_for_metric(client, "serving_inflight_requests", 1)
            queued = asyncio.create_task(post(client, {"inputs": [[2]]}))
            await wait_for_metric(client, "serving_queue_depth", 1)
            async with client.post(INVOKE, json={"inputs": [[3]]}) as resp:
                assert resp.status == overflow_status
                assert resp.headers["Retry-After"] == "3"
                body = await resp.json()
            assert body["error_code"] in {"REQUEST_LIMIT_EXCEEDED", "TEMPORARILY_UNAVAILABLE"}
            assert not running.done()
            assert not queued.done()
            text = await metrics(client)
            assert sample(text, "serving_requests_total", status=str(overflow_status)) == 1
            running.cancel()
            queued.cancel()
            await asyncio.gather(running, queued, return_exceptions=True)

    run_async(scenario)


def test_zero_queue_rejects_as_soon_as_units_are_busy(serve_endpoint: ServeEndpoint) -> None:
    config = EndpointConfig(concurrency=1, max_queue=0, service_time_ms=10_000)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            running = asyncio.create_task(post(client, {"inputs": [[1]]}))
            await wait_for_metric(client, "serving_inflight_requests", 1)
            status, _ = await post(client, {"inputs": [[2]]})
            assert status == 429
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    run_async(scenario)


def test_disconnected_clients_free_their_unit_and_queue_place(
    serve_endpoint: ServeEndpoint,
) -> None:
    # 100 records x 200 ms keeps the first request busy for 20 s unless its client goes away.
    config = EndpointConfig(concurrency=1, max_queue=4, per_record_ms=200)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            slow = asyncio.create_task(post(client, {"inputs": [[i] for i in range(100)]}))
            await wait_for_metric(client, "serving_inflight_requests", 1)
            waiting = asyncio.create_task(post(client, {"inputs": [[1]]}))
            await wait_for_metric(client, "serving_queue_depth", 1)

            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await wait_for_metric(client, "serving_queue_depth", 0)
            slow.cancel()
            await asyncio.gather(slow, return_exceptions=True)
            await wait_for_metric(client, "serving_inflight_requests", 0)

            status, body = await asyncio.wait_for(post(client, {"inputs": [[1]]}), 5)
            assert status == 200
            assert len(body["predictions"]) == 1
            text = await metrics(client)
        assert sample(text, "serving_inflight_requests") == 0
        assert sample(text, "serving_requests_total", status="499") == 2

    run_async(scenario)


# --- service routes and metrics --------------------------------------------------------------


def test_service_routes(serve_endpoint: ServeEndpoint) -> None:
    async def scenario() -> None:
        async with serve_endpoint() as client:
            for path in ("/ping", "/health"):
                async with client.get(path) as resp:
                    assert resp.status == 200
            async with client.get("/version") as resp:
                assert resp.status == 200
                assert isinstance((await resp.json())["version"], str)

    run_async(scenario)


def test_metrics_expose_harness_and_databricks_names(serve_endpoint: ServeEndpoint) -> None:
    async def scenario() -> None:
        async with serve_endpoint(EndpointConfig(concurrency=6)) as client:
            await post(client, {"inputs": [[1]]})
            await post(client, {"inputs": [[1]]})
            await post(client, {"nope": 1})
            text = await metrics(client)
        names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
        expected = {
            "serving_queue_depth",
            "serving_inflight_requests",
            "serving_provisioned_concurrency",
            "serving_requests_total",
            "serving_request_latency_seconds_bucket",
            "serving_queue_time_seconds_bucket",
            "request_count_total",
            "request_4xx_count_total",
            "request_5xx_count_total",
            "provisioned_concurrent_requests_total",
            "request_latency_ms_bucket",
        }
        assert expected <= names
        assert "# TYPE serving_upstream_calls_total counter" in text
        assert sample(text, "serving_provisioned_concurrency") == 6
        assert sample(text, "provisioned_concurrent_requests_total") == 6
        assert sample(text, "request_count_total") == 3
        assert sample(text, "request_4xx_count_total") == 1
        assert sample(text, "serving_requests_total", status="200") == 2
        assert sample(text, "request_latency_ms_count") == 3
        assert sample(text, "serving_queue_time_seconds_count") == 2

    run_async(scenario)
