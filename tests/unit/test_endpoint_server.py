"""Serving-process settings and the hot path's cheaper parts behave like what they replace."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from harness.servers.endpoint import Admission
from harness.servers.endpoint.histogram import LoopHistogram
from harness.servers.endpoint.request_counts import RequestCounts
from harness.servers.endpoint.responses import predictions_response
from harness.servers.serve import new_event_loop

_BUCKETS = (0.001, 0.01, 0.1, 1.0, 10.0)


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop not installed")
def test_uvloop_is_used_only_when_asked_for() -> None:
    chosen, plain = new_event_loop(True), new_event_loop(False)
    try:
        assert type(chosen).__module__.startswith("uvloop")
        assert not type(plain).__module__.startswith("uvloop")
    finally:
        chosen.close()
        plain.close()


def test_loop_histogram_exposes_what_prometheus_histogram_does() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("h", "doc", buckets=_BUCKETS, registry=theirs)
    fast = LoopHistogram("h", "doc", buckets=_BUCKETS, registry=ours)
    # Values on the bounds show that both count a value equal to a bound as within it.
    for value in (0.0, 0.001, 0.005, 0.1, 0.25, 10.0, 99.0, 1e9):
        reference.observe(value)
        fast.observe(value)
    expected = [
        line for line in generate_latest(theirs).decode().splitlines() if "_created" not in line
    ]
    assert generate_latest(ours).decode().splitlines() == expected


def test_request_counts_expose_what_prometheus_counters_did() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    by_status = Counter("serving_requests", "Invocation requests by status.", ("status",))
    count = Counter("request_count", "Requests served.")
    count_4xx = Counter("request_4xx_count", "Requests answered 4xx.")
    count_5xx = Counter("request_5xx_count", "Requests answered 5xx.")
    for counter in (by_status, count, count_4xx, count_5xx):
        theirs.register(counter)
    fast = RequestCounts(ours)
    # Edges of each class, a client that went away (499) and repeats of one status.
    for status in (200, 200, 399, 400, 404, 429, 499, 499, 500, 503, 504):
        by_status.labels(status=str(status)).inc()
        count.inc()
        if 400 <= status < 500:
            count_4xx.inc()
        elif status >= 500:
            count_5xx.inc()
        fast.add(status)
    expected = [
        line for line in generate_latest(theirs).decode().splitlines() if "_created" not in line
    ]
    assert generate_latest(ours).decode().splitlines() == expected


@pytest.mark.parametrize(
    "predictions",
    [
        [],
        [0.5],
        [0.7310585786300049, 1e-05, 0.0, 1.0, 5e-324, 0.1 + 0.2, 0.9999999999999999],
        # Not a model's output, but the fallback must still answer as json_response did.
        [float("nan"), 0.5],
        [float("inf"), float("-inf")],
    ],
)
def test_predictions_response_sends_what_json_response_did(predictions: list[float]) -> None:
    fast = predictions_response(predictions)
    reference = web.json_response({"predictions": predictions})
    assert fast.body == reference.body
    assert (fast.status, fast.content_type, fast.charset) == (
        reference.status,
        reference.content_type,
        reference.charset,
    )


def test_a_free_slot_is_not_taken_past_a_waiting_caller() -> None:
    async def scenario() -> None:
        admission = Admission(1, 4)
        assert admission.try_enter()
        waiting = asyncio.ensure_future(admission.enter())
        await asyncio.sleep(0)
        assert admission.queued == 1
        admission.concurrency = 2
        # A slot is free, but the queued caller was first.
        assert not admission.try_enter()
        admission.leave()
        await waiting
        assert (admission.inflight, admission.queued) == (1, 0)
        admission.leave()

    asyncio.run(scenario())
