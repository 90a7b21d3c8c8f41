"""Scrapes /metrics during a run: the endpoint's queue depth and in-flight into the recorder's
seconds, its provisioned units and counters into the run's series, and each dependency's calls
by status once a second. A scrape that gets no answer is counted, never a reason to stop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from harness.loadgen.recorder import Recorder
from harness.run.hops import parse_counts
from harness.run.series import RunSeries

__all__ = [
    "ENDPOINT_COUNTERS",
    "INFLIGHT",
    "LLM_GAUGES",
    "LLM_WAITING",
    "PROVISIONED",
    "PROVISIONED_TARGET",
    "QUEUE_DEPTH",
    "EndpointReading",
    "chart_reading",
    "parse_gauges",
    "queue_depth",
    "read_endpoint",
    "sample_dependencies",
    "sample_metrics",
]

QUEUE_DEPTH = "serving_queue_depth"
# The LLM mode's requests waiting for a sequence (or for room in the KV cache): queued too.
LLM_WAITING = "serving_llm_waiting_sequences"
INFLIGHT = "serving_inflight_requests"
PROVISIONED = "serving_provisioned_concurrency"
PROVISIONED_TARGET = "serving_provisioned_concurrency_target"
# The reference endpoint's counters a run charts: series key -> metric name (without _total).
ENDPOINT_COUNTERS = {
    "upstream_retries": "serving_upstream_retries",
    "cache_hits": "serving_cache_hits",
    "cache_misses": "serving_cache_misses",
    "rejected": "serving_rejected_requests",
    "generated_tokens": "serving_llm_generated_tokens",
}
# The LLM mode's gauges a run charts: series key -> metric name.
LLM_GAUGES = {
    "running_sequences": "serving_llm_running_sequences",
    "waiting_sequences": LLM_WAITING,
    "kv_cache_used_tokens": "serving_llm_kv_cache_used_tokens",
}
_GAUGES = frozenset({QUEUE_DEPTH, INFLIGHT, PROVISIONED, PROVISIONED_TARGET, *LLM_GAUGES.values()})
# A stub paused by a fault must not hold up the next second's scrape.
_DEPENDENCY_TIMEOUT_S = 0.8
_ENDPOINT = "endpoint"


def parse_gauges(text: str, names: frozenset[str]) -> dict[str, float]:
    """Sum of each named gauge over its label sets, from Prometheus text exposition."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in names:
            found[family.name] = sum(sample.value for sample in family.samples)
    return found


@dataclass(frozen=True, slots=True)
class EndpointReading:
    """One scrape of the endpoint: the gauges it exposes by name, and the charted counters it
    exposes by series key, each summed over its label sets."""

    gauges: dict[str, float]
    counters: dict[str, float]


def read_endpoint(text: str) -> EndpointReading:
    """The gauges and charted counters in ``text``; a counter whose family is declared but has
    no sample yet (no label set used) reads 0, one not declared at all is absent."""
    keys: dict[str, str] = {}
    for series_key, name in ENDPOINT_COUNTERS.items():
        keys[name] = keys[f"{name}_total"] = series_key
    gauges: dict[str, float] = {}
    counters: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in _GAUGES:
            gauges[family.name] = sum(sample.value for sample in family.samples)
            continue
        key = keys.get(family.name)
        if key is not None:
            total = f"{ENDPOINT_COUNTERS[key]}_total"
            # A counter's family may also carry _created timestamps: only _total counts.
            counters[key] = sum(s.value for s in family.samples if s.name == total)
    return EndpointReading(gauges, counters)


def queue_depth(reading: EndpointReading) -> float | None:
    """Requests waiting at the endpoint: for a scoring unit, and in the LLM mode for a
    sequence; None when it exposes neither."""
    waiting = [
        reading.gauges[name] for name in (QUEUE_DEPTH, LLM_WAITING) if name in reading.gauges
    ]
    return sum(waiting) if waiting else None


def chart_reading(reading: EndpointReading, t: float, interval_s: float, series: RunSeries) -> None:
    """One scrape into the run's series: provisioned units, the LLM mode's gauges, and each
    charted counter's increase since the scrape ``interval_s`` before."""
    gauges = reading.gauges
    if PROVISIONED in gauges:
        series.provisioned.observe(t, gauges[PROVISIONED])
    if PROVISIONED_TARGET in gauges:
        series.provisioned_target.observe(t, gauges[PROVISIONED_TARGET])
    for key, name in LLM_GAUGES.items():
        if name in gauges:
            series.llm_gauge(key, t, gauges[name])
    # A reading counts what happened since the one before: dated in the middle of that span.
    for key, value in reading.counters.items():
        series.counter(key, t - interval_s / 2, value)


async def sample_metrics(
    url: str,
    recorder: Recorder,
    *,
    t0: float,
    stop: asyncio.Event,
    interval_s: float = 0.25,
    series: RunSeries | None = None,
) -> int:
    """Scrape until ``stop`` is set; returns how many scrapes failed (an unreachable endpoint
    is a finding for the results, not a reason to stop the run), also counted in ``series``
    under "endpoint"."""
    failures = 0
    timeout = aiohttp.ClientTimeout(total=max(interval_s * 4, 1.0))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            try:
                async with session.get(url) as response:
                    reading = read_endpoint(await response.text())
                t = time.monotonic() - t0
                recorder.gauge(
                    t, queue_depth=queue_depth(reading), inflight=reading.gauges.get(INFLIGHT)
                )
                if series is not None:
                    chart_reading(reading, t, interval_s, series)
            except (TimeoutError, aiohttp.ClientError, ValueError):
                failures += 1
                if series is not None:
                    series.failed(_ENDPOINT)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    return failures


async def sample_dependencies(
    urls: Mapping[str, str],
    series: RunSeries,
    *,
    t0: float,
    stop: asyncio.Event,
    interval_s: float = 1.0,
) -> None:
    """Each dependency's calls by status (``urls``: name -> its /metrics) at every whole
    ``interval_s`` of the run and once more when ``stop`` is set, so the last second is counted
    too. A reading at the end of a second is dated in it: its increase is that second's calls."""
    timeout = aiohttp.ClientTimeout(total=min(_DEPENDENCY_TIMEOUT_S, interval_s))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tick = 1
        while True:
            due = t0 + tick * interval_s - time.monotonic()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(due, 0.0))
            last = stop.is_set()
            await asyncio.gather(
                *(
                    _read_dependency(session, name, url, series, t0, interval_s)
                    for name, url in urls.items()
                )
            )
            if last:
                return
            # A slow scrape skips the ticks it overran rather than bunching up behind them.
            tick = int((time.monotonic() - t0) / interval_s) + 1


async def _read_dependency(
    session: aiohttp.ClientSession,
    name: str,
    url: str,
    series: RunSeries,
    t0: float,
    interval_s: float,
) -> None:
    try:
        async with session.get(url) as response:
            response.raise_for_status()
            counts = parse_counts(await response.text())
    except (TimeoutError, aiohttp.ClientError, ValueError):
        series.failed(name)
        return
    series.calls(name, time.monotonic() - t0 - interval_s / 2, counts.statuses)
