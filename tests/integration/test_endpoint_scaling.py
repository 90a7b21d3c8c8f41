"""Reference endpoint over HTTP: the autoscaler in real time (to zero and back through a cold
start), and dynamic batching of concurrent requests."""

from __future__ import annotations

import asyncio

import pytest

from harness.servers.endpoint import EndpointConfig
from tests.serving import ServeEndpoint, metrics, post, sample, wait_for_metric
from tests.waiting import run_async

pytestmark = pytest.mark.integration


def test_real_time_scale_to_zero_then_cold_start(serve_endpoint: ServeEndpoint) -> None:
    config = EndpointConfig(
        concurrency=1,
        min_concurrency=0,
        max_concurrency=2,
        scale_stable_window_s=0.1,
        scale_panic_window_s=0.05,
        scale_reaction_delay_s=0,
        scale_to_zero_idle_s=0.3,
        cold_start_s=0.2,
    )

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            # Cold at boot, then up, then idle long enough to go to zero.
            await wait_for_metric(client, "serving_provisioned_concurrency", 1)
            await wait_for_metric(client, "serving_provisioned_concurrency", 0)
            async with client.get("/health") as resp:
                assert resp.status == 503
                assert (await resp.json())["status"] == "scaled to zero"
            loop = asyncio.get_running_loop()
            sent = loop.time()
            status, _ = await post(client, {"inputs": [[1]]})
            waited = loop.time() - sent
            text = await metrics(client)
        assert status == 200
        assert waited >= 0.2
        assert sample(text, "serving_scale_events_total", direction="down") >= 1
        assert sample(text, "serving_scale_events_total", direction="up") >= 1

    run_async(scenario)


@pytest.mark.parametrize(("batch", "calls", "mean"), [(1, 4, 1.0), (4, 1, 4.0)])
def test_dynamic_batching_feeds_the_model_in_batches(
    batch: int, calls: int, mean: float, serve_endpoint: ServeEndpoint
) -> None:
    config = EndpointConfig(
        concurrency=4, service_time_ms=50, max_batch_size=batch, max_batch_delay_ms=200
    )

    async def scenario() -> None:
        async with serve_endpoint(config) as client:
            results = await asyncio.gather(*(post(client, {"inputs": [[i]]}) for i in range(4)))
            text = await metrics(client)
        assert [len(body["predictions"]) for _, body in results] == [1, 1, 1, 1]
        assert sample(text, "serving_model_batch_size_count") == calls
        assert sample(text, "serving_model_batch_size_sum") / calls == mean

    run_async(scenario)


def test_batch_predictions_match_unbatched_ones(serve_endpoint: ServeEndpoint) -> None:
    async def predictions(batch: int) -> list[list[float]]:
        config = EndpointConfig(max_batch_size=batch, max_batch_delay_ms=50, seed=7)
        async with serve_endpoint(config) as client:
            results = await asyncio.gather(*(post(client, {"inputs": [[i]]}) for i in range(3)))
        return [body["predictions"] for _, body in results]

    async def scenario() -> None:
        assert await predictions(3) == await predictions(1)

    run_async(scenario)
