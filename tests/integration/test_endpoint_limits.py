"""Reference endpoint over HTTP: queue timeout, request deadline, bearer auth, readiness, QPS
limit, and disconnects while waiting on each of them."""

from __future__ import annotations

import asyncio

import pytest

from harness.servers.endpoint import EndpointConfig
from tests.serving import INVOKE, ServeEndpoint, metrics, post, sample, wait_for_metric
from tests.waiting import eventually_async, run_async

pytestmark = pytest.mark.integration

ONE = {"inputs": [[1]]}


def test_queue_timeout_turns_a_waiting_request_into_503(serve_endpoint: ServeEndpoint) -> None:
    config = EndpointConfig(concurrency=1, service_time_ms=10_000, queue_timeout_s=0.05)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            running = asyncio.create_task(post(client, ONE))
            await wait_for_metric(client, "serving_inflight_requests", 1)
            async with client.post(INVOKE, json=ONE) as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "1"
                body = await resp.json()
            assert body["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert "queue_timeout_s=0.05" in body["message"]
            text = await metrics(client)
            assert sample(text, "serving_queue_depth") == 0
            assert sample(text, "serving_rejected_requests_total", reason="queue_timeout") == 1
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    run_async(scenario)


def test_request_deadline_gives_504_and_frees_the_unit(serve_endpoint: ServeEndpoint) -> None:
    config = EndpointConfig(concurrency=1, service_time_ms=10_000, request_timeout_s=0.05)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            status, body = await post(client, ONE)
            assert status == 504
            assert body["error_code"] == "DEADLINE_EXCEEDED"
            text = await metrics(client)
        assert sample(text, "serving_inflight_requests") == 0
        assert sample(text, "serving_requests_total", status="504") == 1

    run_async(scenario)


def test_deadline_covers_time_in_the_queue(serve_endpoint: ServeEndpoint) -> None:
    config = EndpointConfig(concurrency=1, service_time_ms=10_000, request_timeout_s=0.1)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            first = asyncio.create_task(post(client, ONE))
            await wait_for_metric(client, "serving_inflight_requests", 1)
            second = asyncio.create_task(post(client, ONE))
            statuses = [status for status, _ in await asyncio.gather(first, second)]
            text = await metrics(client)
        assert statuses == [504, 504]
        assert sample(text, "serving_queue_depth") == 0
        assert sample(text, "serving_inflight_requests") == 0

    run_async(scenario)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Basic c2VjcmV0", 401),
        ("Bearer wrong", 403),
        ("Bearer s3cret", 200),
        ("bearer s3cret", 200),
    ],
)
def test_bearer_token_auth(header: str | None, status: int, serve_endpoint: ServeEndpoint) -> None:
    async def scenario() -> None:
        async with serve_endpoint(EndpointConfig(auth_token="s3cret")) as client:
            headers = {} if header is None else {"Authorization": header}
            async with client.post(INVOKE, json=ONE, headers=headers) as resp:
                assert resp.status == status
                body = await resp.json()
            async with client.get("/health") as health:
                assert health.status == 200
        if status == 401:
            assert body["error_code"] == "UNAUTHENTICATED"
        elif status == 403:
            assert body["error_code"] == "PERMISSION_DENIED"
        else:
            assert len(body["predictions"]) == 1

    run_async(scenario)


def test_health_is_503_during_cold_start_while_ping_stays_up(serve_endpoint: ServeEndpoint) -> None:
    config = EndpointConfig(cold_start_s=0.3)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            async with client.get("/health") as resp:
                assert resp.status == 503
                assert (await resp.json())["status"] == "cold"
            async with client.get("/ping") as resp:
                assert resp.status == 200
            # A request during the cold start waits in the queue instead of failing.
            status, _ = await post(client, ONE)
            assert status == 200
            async with client.get("/health") as resp:
                assert resp.status == 200

    run_async(scenario)


def test_qps_limit_rejects_at_once_with_retry_after(serve_endpoint: ServeEndpoint) -> None:
    config = EndpointConfig(max_qps=5, concurrency=5, service_time_ms=10_000)

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            # The first five are admitted (and held by the service time); the sixth is not.
            held = [asyncio.create_task(post(client, ONE)) for _ in range(5)]
            await wait_for_metric(client, "serving_inflight_requests", 5)
            async with client.post(INVOKE, json=ONE) as resp:
                assert resp.status == 429
                assert int(resp.headers["Retry-After"]) >= 1
                assert (await resp.json())["error_code"] == "REQUEST_LIMIT_EXCEEDED"
            assert loop.time() - started < 0.9
            text = await metrics(client)
            assert sample(text, "serving_rejected_requests_total", reason="qps_limit") == 1
            for task in held:
                task.cancel()
            await asyncio.gather(*held, return_exceptions=True)

    run_async(scenario)


# --- disconnects on the new paths ------------------------------------------------------------

HELD = {"inputs": [{"entity_id": "a"}]}


@pytest.mark.parametrize(
    "config",
    [
        # Waiting out a queue timeout and a deadline.
        EndpointConfig(concurrency=1, service_time_ms=10_000, queue_timeout_s=20),
        EndpointConfig(concurrency=1, service_time_ms=10_000, request_timeout_s=20),
        # Gathered into a dynamic batch that never fills.
        EndpointConfig(concurrency=1, max_batch_size=8, max_batch_delay_ms=20_000),
        # Queued behind a cold start.
        EndpointConfig(concurrency=1, cold_start_s=20),
        # Waiting between retries of an unreachable enrichment API.
        EndpointConfig(
            concurrency=1,
            upstreams=(("enrichment", "http://127.0.0.1:1"),),
            upstream_backoff_base_s=20,
            upstream_backoff_cap_s=20,
            retry_budget_tokens=0,
        ),
        # Sharing a single-flight call to the same unreachable API.
        EndpointConfig(
            concurrency=2,
            upstreams=(("enrichment", "http://127.0.0.1:1"),),
            cache_ttl_s=60,
            upstream_backoff_base_s=20,
            upstream_backoff_cap_s=20,
        ),
    ],
    ids=["queue-timeout", "deadline", "batch", "cold-start", "retry-backoff", "single-flight"],
)
def test_disconnect_on_new_paths_frees_slot_and_queue_place(
    config: EndpointConfig, serve_endpoint: ServeEndpoint
) -> None:
    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            held = [asyncio.create_task(post(client, HELD)) for _ in range(2)]

            async def both_held() -> bool:
                text = await metrics(client)
                waiting = sample(text, "serving_queue_depth")
                return sample(text, "serving_inflight_requests") + waiting == 2

            await eventually_async(both_held, 3.0, what="both requests in flight or queued")
            for task in held:
                task.cancel()
            await asyncio.gather(*held, return_exceptions=True)
            await wait_for_metric(client, "serving_queue_depth", 0)
            await wait_for_metric(client, "serving_inflight_requests", 0)
            text = await metrics(client)
        assert sample(text, "serving_requests_total", status="499") == 2

    run_async(scenario)
