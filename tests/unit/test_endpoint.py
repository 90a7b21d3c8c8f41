"""Reference endpoint: scoring protocol, upstream lookups, admission, disconnects, metrics."""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from harness.servers.endpoint import (
    Admission,
    ApiError,
    EndpointConfig,
    LogisticModel,
    QueueFull,
    add_arguments,
    config_from_args,
    entity_key,
    make_app,
    parse_records,
)
from harness.servers.stub import StubConfig, features_for
from harness.servers.stub import make_app as make_stub_app

Client = TestClient[web.Request, web.Application]
INVOKE = "/invocations"


@asynccontextmanager
async def _client(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app)) as client:
        yield client


@asynccontextmanager
async def _endpoint(config: EndpointConfig | None = None) -> AsyncIterator[Client]:
    async with _client(make_app(config or EndpointConfig())) as client:
        yield client


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=30))


async def _post(client: Client, payload: Any, path: str = INVOKE) -> tuple[int, Any]:
    async with client.post(path, json=payload) as resp:
        return resp.status, await resp.json()


async def _metrics(client: Client) -> str:
    async with client.get("/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def _wait_for_metric(client: Client, name: str, value: float) -> None:
    """Poll /metrics until `name` reads `value`; fail with the last reading otherwise."""
    patience = 3.0
    deadline = asyncio.get_running_loop().time() + patience
    seen = None
    while asyncio.get_running_loop().time() < deadline:
        seen = _sample(await _metrics(client), name)
        if seen == value:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"expected {name}={value} within {patience}s but last saw {seen}")


def _rows(n: int, *, entity: bool = True) -> list[dict[str, Any]]:
    return [{"entity_id": f"e{i}", "x": i} if entity else {"x": i} for i in range(n)]


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
def test_each_format_gives_one_prediction_per_record(payload: Any, expected: int) -> None:
    async def scenario() -> None:
        async with _endpoint() as client:
            status, body = await _post(client, payload)
        assert status == 200, body
        predictions = body["predictions"]
        assert len(predictions) == expected
        assert all(isinstance(p, float) and 0.0 < p < 1.0 for p in predictions)

    _run(scenario)


def test_named_route_serves_only_its_own_name() -> None:
    async def scenario() -> None:
        async with _endpoint(EndpointConfig(name="churn")) as client:
            ok, body = await _post(
                client, {"inputs": [[1]]}, "/serving-endpoints/churn/invocations"
            )
            missing, error = await _post(
                client, {"inputs": [[1]]}, "/serving-endpoints/other/invocations"
            )
        assert ok == 200
        assert len(body["predictions"]) == 1
        assert missing == 404
        assert error["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    _run(scenario)


def test_split_without_columns_is_positional() -> None:
    records = parse_records({"dataframe_split": {"data": [[1, "a"], [2, "b"]]}})
    assert records == [{"0": 1, "1": "a"}, {"0": 2, "1": "b"}]


@pytest.mark.parametrize("width", [0, 1, 63, 64, 65, 300])
def test_positional_rows_of_any_width_name_every_value(width: int) -> None:
    row = list(range(width))
    (record,) = parse_records({"instances": [row]})
    assert record == {str(i): i for i in range(width)}


def test_entity_key_prefers_entity_id_and_is_stable_otherwise() -> None:
    assert entity_key({"entity_id": 42, "x": 1}) == "42"
    assert entity_key({"a": 1, "b": 2}) == entity_key({"b": 2, "a": 1})
    assert entity_key({"a": 1}) != entity_key({"a": 2})


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
def test_bad_payload_is_400_naming_what_was_found(payload: Any, mentions: str) -> None:
    async def scenario() -> None:
        async with _endpoint() as client:
            status, body = await _post(client, payload)
        assert status == 400
        assert body["error_code"] == "BAD_REQUEST"
        assert mentions in body["message"]

    _run(scenario)


def test_wrong_keys_message_lists_valid_ones() -> None:
    with pytest.raises(ApiError) as caught:
        parse_records({"rows": []})
    assert caught.value.status == 400
    for key in ("rows", "dataframe_split", "dataframe_records", "instances", "inputs"):
        assert key in caught.value.message


def test_malformed_json_is_400() -> None:
    async def scenario() -> None:
        async with _endpoint() as client:
            headers = {"Content-Type": "application/json"}
            async with client.post(INVOKE, data=b'{"inputs": [', headers=headers) as resp:
                assert resp.status == 400
                assert (await resp.json())["error_code"] == "BAD_REQUEST"

    _run(scenario)


def test_other_content_type_is_415() -> None:
    async def scenario() -> None:
        async with _endpoint() as client:
            headers = {"Content-Type": "text/csv"}
            async with client.post(INVOKE, data=b"a,b\n1,2\n", headers=headers) as resp:
                assert resp.status == 415
                body = await resp.json()
        assert body["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert "text/csv" in body["message"]

    _run(scenario)


def test_oversized_body_is_413_by_content_length() -> None:
    async def scenario() -> None:
        async with _endpoint(EndpointConfig(max_payload_bytes=64)) as client:
            status, body = await _post(client, {"inputs": [[i] for i in range(100)]})
            small, _ = await _post(client, {"inputs": [[1]]})
        assert status == 413
        assert body["error_code"] == "PAYLOAD_TOO_LARGE"
        assert small == 200

    _run(scenario)


def test_oversized_chunked_body_is_413_without_content_length() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"inputs": ['
        for i in range(200):
            yield b"[%d]," % i
        yield b"[0]]}"

    async def scenario() -> None:
        async with _endpoint(EndpointConfig(max_payload_bytes=256)) as client:
            headers = {"Content-Type": "application/json"}
            async with client.post(INVOKE, data=chunks(), headers=headers) as resp:
                assert "Content-Length" not in resp.request_info.headers
                assert resp.status == 413

    _run(scenario)


# --- feature-store lookups -------------------------------------------------------------------


def test_endpoint_calls_stub_once_per_record_and_scores_its_features() -> None:
    records = [*_rows(5), {"entity_id": "e0", "x": 9}]

    async def scenario() -> None:
        async with _client(make_stub_app(StubConfig(seed=4))) as stub:
            url = str(stub.make_url("/"))
            async with _endpoint(
                EndpointConfig(upstreams=(("feature-store", url),), seed=2)
            ) as client:
                status, body = await _post(client, {"dataframe_records": records})
                endpoint_text = await _metrics(client)
            stub_text = await _metrics(stub)
        assert status == 200
        calls = _sample(stub_text, "stub_requests_total", path="/features/{key}", status="200")
        assert calls == len(records)
        ok = _sample(endpoint_text, "serving_upstream_calls_total", outcome="ok")
        assert ok == len(records)
        vectors = [features_for(str(r["entity_id"]), n_features=8, seed=4) for r in records]
        assert body["predictions"] == LogisticModel(2).predict(records, vectors)

    _run(scenario)


def test_without_feature_store_features_are_zeros() -> None:
    records = _rows(3)

    async def scenario() -> None:
        async with _endpoint(EndpointConfig(seed=5)) as client:
            _, body = await _post(client, {"dataframe_records": records})
        assert body["predictions"] == LogisticModel(5).predict(records, [[0.0] * 8] * 3)

    _run(scenario)


def test_upstream_error_status_is_502() -> None:
    async def scenario() -> None:
        async with _client(make_stub_app(StubConfig())) as stub:
            fault = {"status": 500, "rate": 1.0}
            async with stub.put("/_chaos/faults", json=fault) as resp:
                assert resp.status == 200
            config = EndpointConfig(upstreams=(("feature-store", str(stub.make_url("/"))),))
            async with _endpoint(config) as client:
                status, body = await _post(client, {"instances": _rows(3)})
                text = await _metrics(client)
        assert status == 502
        assert body["error_code"] == "UPSTREAM_ERROR"
        assert "500" in body["message"]
        assert _sample(text, "serving_upstream_calls_total", outcome="http_5xx") >= 1
        assert _sample(text, "request_5xx_count_total") == 1

    _run(scenario)


def test_unreachable_feature_store_is_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = EndpointConfig(upstreams=(("feature-store", f"http://127.0.0.1:{port}"),))

    async def scenario() -> None:
        async with _endpoint(config) as client:
            status, body = await _post(client, {"inputs": [{"entity_id": "a"}]})
        assert status == 502
        assert body["error_code"] == "UPSTREAM_ERROR"

    _run(scenario)


def test_slow_feature_store_is_504() -> None:
    async def scenario() -> None:
        async with _client(make_stub_app(StubConfig())) as stub:
            fault = {"rate": 0.0, "latency_ms": 2000}
            async with stub.put("/_chaos/faults", json=fault) as resp:
                assert resp.status == 200
            config = EndpointConfig(
                upstreams=(("feature-store", str(stub.make_url("/"))),), upstream_timeout_s=0.05
            )
            async with _endpoint(config) as client:
                status, body = await _post(client, {"inputs": [{"entity_id": "a"}]})
                text = await _metrics(client)
        assert status == 504
        assert body["error_code"] == "UPSTREAM_ERROR"
        # Three attempts by default, each timing out.
        assert _sample(text, "serving_upstream_calls_total", outcome="timeout") == 3
        assert _sample(text, "serving_upstream_retries_total", target="feature-store") == 2

    _run(scenario)


# --- admission: provisioned concurrency and the bounded queue --------------------------------


@pytest.mark.parametrize("overflow_status", [429, 503])
def test_full_queue_rejects_at_once_with_retry_after(overflow_status: int) -> None:
    config = EndpointConfig(
        concurrency=1,
        max_queue=1,
        service_time_ms=10_000,
        retry_after_s=3,
        overflow_status=overflow_status,
    )

    async def scenario() -> None:
        async with _endpoint(config) as client:
            running = asyncio.create_task(_post(client, {"inputs": [[1]]}))
            await _wait_for_metric(client, "serving_inflight_requests", 1)
            queued = asyncio.create_task(_post(client, {"inputs": [[2]]}))
            await _wait_for_metric(client, "serving_queue_depth", 1)
            async with client.post(INVOKE, json={"inputs": [[3]]}) as resp:
                assert resp.status == overflow_status
                assert resp.headers["Retry-After"] == "3"
                body = await resp.json()
            assert body["error_code"] in {"REQUEST_LIMIT_EXCEEDED", "TEMPORARILY_UNAVAILABLE"}
            assert not running.done()
            assert not queued.done()
            text = await _metrics(client)
            assert _sample(text, "serving_requests_total", status=str(overflow_status)) == 1
            running.cancel()
            queued.cancel()
            await asyncio.gather(running, queued, return_exceptions=True)

    _run(scenario)


def test_zero_queue_rejects_as_soon_as_units_are_busy() -> None:
    config = EndpointConfig(concurrency=1, max_queue=0, service_time_ms=10_000)

    async def scenario() -> None:
        async with _endpoint(config) as client:
            running = asyncio.create_task(_post(client, {"inputs": [[1]]}))
            await _wait_for_metric(client, "serving_inflight_requests", 1)
            status, _ = await _post(client, {"inputs": [[2]]})
            assert status == 429
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    _run(scenario)


def test_disconnected_clients_free_their_unit_and_queue_place() -> None:
    # 100 records x 200 ms keeps the first request busy for 20 s unless its client goes away.
    config = EndpointConfig(concurrency=1, max_queue=4, per_record_ms=200)

    async def scenario() -> None:
        async with _endpoint(config) as client:
            slow = asyncio.create_task(_post(client, {"inputs": [[i] for i in range(100)]}))
            await _wait_for_metric(client, "serving_inflight_requests", 1)
            waiting = asyncio.create_task(_post(client, {"inputs": [[1]]}))
            await _wait_for_metric(client, "serving_queue_depth", 1)

            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await _wait_for_metric(client, "serving_queue_depth", 0)
            slow.cancel()
            await asyncio.gather(slow, return_exceptions=True)
            await _wait_for_metric(client, "serving_inflight_requests", 0)

            status, body = await asyncio.wait_for(_post(client, {"inputs": [[1]]}), 5)
            assert status == 200
            assert len(body["predictions"]) == 1
            text = await _metrics(client)
        assert _sample(text, "serving_inflight_requests") == 0
        assert _sample(text, "serving_requests_total", status="499") == 2

    _run(scenario)


def test_admission_is_fifo_and_bounded() -> None:
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=2)
        order: list[int] = []
        gate = asyncio.Event()

        async def work(n: int) -> None:
            async with admission.unit():
                order.append(n)
                await gate.wait()

        tasks = [asyncio.create_task(work(n)) for n in range(3)]
        await asyncio.sleep(0)
        assert (admission.inflight, admission.queued) == (1, 2)
        with pytest.raises(QueueFull):
            async with admission.unit():
                pass
        gate.set()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2]
        assert (admission.inflight, admission.queued) == (0, 0)

    _run(scenario)


def test_admission_passes_on_a_unit_handed_to_a_cancelled_waiter() -> None:
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=5)
        got: list[str] = []

        async def waiter(name: str) -> None:
            async with admission.unit():
                got.append(name)

        async with admission.unit():
            doomed = asyncio.create_task(waiter("doomed"))
            survivor = asyncio.create_task(waiter("survivor"))
            await asyncio.sleep(0)
            assert admission.queued == 2
        # Leaving the block handed the unit to `doomed` without yielding to the loop, so
        # `doomed` has not run yet: cancelling it now must pass the unit on, not lose it.
        doomed.cancel()
        await asyncio.gather(doomed, survivor, return_exceptions=True)
        assert got == ["survivor"]
        assert (admission.inflight, admission.queued) == (0, 0)

    _run(scenario)


# --- service routes and metrics --------------------------------------------------------------


def test_service_routes() -> None:
    async def scenario() -> None:
        async with _endpoint() as client:
            for path in ("/ping", "/health"):
                async with client.get(path) as resp:
                    assert resp.status == 200
            async with client.get("/version") as resp:
                assert resp.status == 200
                assert isinstance((await resp.json())["version"], str)

    _run(scenario)


def test_metrics_expose_harness_and_databricks_names() -> None:
    async def scenario() -> None:
        async with _endpoint(EndpointConfig(concurrency=6)) as client:
            await _post(client, {"inputs": [[1]]})
            await _post(client, {"inputs": [[1]]})
            await _post(client, {"nope": 1})
            text = await _metrics(client)
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
        assert _sample(text, "serving_provisioned_concurrency") == 6
        assert _sample(text, "provisioned_concurrent_requests_total") == 6
        assert _sample(text, "request_count_total") == 3
        assert _sample(text, "request_4xx_count_total") == 1
        assert _sample(text, "serving_requests_total", status="200") == 2
        assert _sample(text, "request_latency_ms_count") == 3
        assert _sample(text, "serving_queue_time_seconds_count") == 2

    _run(scenario)


# --- model and configuration -----------------------------------------------------------------


def test_model_is_seeded_and_checks_shapes() -> None:
    records = _rows(4)
    vectors = [[0.5] * 8] * 4
    assert LogisticModel(1).predict(records, vectors) == LogisticModel(1).predict(records, vectors)
    assert LogisticModel(1).predict(records, vectors) != LogisticModel(2).predict(records, vectors)
    with pytest.raises(ValueError, match="records=4 features=3"):
        LogisticModel(1).predict(records, vectors[:3])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("concurrency", 0),
        ("max_queue", -1),
        ("overflow_status", 500),
        ("upstream_timeout_s", 0.0),
        ("max_payload_bytes", 0),
        ("service_time_ms", -1.0),
    ],
)
def test_config_validation_names_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"expected .* but got {field}={value}"):
        EndpointConfig(**{field: value})


def test_queue_limit_defaults_to_ten_per_unit() -> None:
    assert EndpointConfig(concurrency=4).queue_limit == 40
    assert EndpointConfig(concurrency=4, max_queue=0).queue_limit == 0


def test_cli_flags_build_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = [
        "--port=0",
        "--name=churn",
        "--feature-store-url=http://127.0.0.1:9",
        "--concurrency=2",
        "--max-queue=3",
        "--overflow-status=503",
        "--retry-after=5",
        "--service-time-ms=1.5",
        "--per-record-ms=0.5",
        "--upstream-timeout=0.25",
        "--max-payload-bytes=1024",
    ]
    assert config_from_args(parser.parse_args(argv)) == EndpointConfig(
        port=0,
        name="churn",
        upstreams=(("feature-store", "http://127.0.0.1:9"),),
        concurrency=2,
        max_queue=3,
        overflow_status=503,
        retry_after_s=5,
        service_time_ms=1.5,
        per_record_ms=0.5,
        upstream_timeout_s=0.25,
        max_payload_bytes=1024,
    )
    assert config_from_args(parser.parse_args([])) == EndpointConfig()
