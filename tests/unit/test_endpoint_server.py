"""Serving-process settings and the hot path's cheaper parts behave like what they replace."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from harness.endpoint import Admission
from harness.endpoint.histogram import LoopHistogram
from harness.server import new_event_loop

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
