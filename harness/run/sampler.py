"""Scrapes the endpoint's /metrics during a run: queue depth and in-flight, per second."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from harness.loadgen.recorder import Recorder

__all__ = ["INFLIGHT", "QUEUE_DEPTH", "parse_gauges", "sample_metrics"]

QUEUE_DEPTH = "serving_queue_depth"
INFLIGHT = "serving_inflight_requests"


def parse_gauges(text: str, names: frozenset[str]) -> dict[str, float]:
    """Sum of each named gauge over its label sets, from Prometheus text exposition."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in names:
            found[family.name] = sum(sample.value for sample in family.samples)
    return found


async def sample_metrics(
    url: str, recorder: Recorder, *, t0: float, stop: asyncio.Event, interval_s: float = 0.25
) -> int:
    """Scrape until ``stop`` is set; returns how many scrapes failed (an unreachable endpoint
    is a finding for the results, not a reason to stop the run)."""
    failures = 0
    wanted = frozenset({QUEUE_DEPTH, INFLIGHT})
    timeout = aiohttp.ClientTimeout(total=max(interval_s * 4, 1.0))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            try:
                async with session.get(url) as response:
                    gauges = parse_gauges(await response.text(), wanted)
                recorder.gauge(
                    time.monotonic() - t0,
                    queue_depth=gauges.get(QUEUE_DEPTH),
                    inflight=gauges.get(INFLIGHT),
                )
            except (TimeoutError, aiohttp.ClientError, ValueError):
                failures += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    return failures
