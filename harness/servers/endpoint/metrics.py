"""Prometheus series of the endpoint: the harness's own names plus the ones Databricks exports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from harness.servers.endpoint.admission import Admission
from harness.servers.endpoint.autoscaler import Autoscaler
from harness.servers.endpoint.histogram import LoopHistogram
from harness.servers.endpoint.llm_scheduler import SequenceScheduler
from harness.servers.endpoint.request_counts import RequestCounts

__all__ = ["CLIENT_CLOSED", "METRICS_CONTENT_TYPE", "EndpointMetrics", "Invocation", "LlmSeries"]

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
# A disconnected client gets no response; nginx's 499 names that outcome in the status counts.
CLIENT_CLOSED = 499

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_MILLIS = tuple(s * 1000.0 for s in _SECONDS)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(slots=True)
class Invocation:
    """One invocation being served: when it started (``time.perf_counter``) and the status it
    will be counted with."""

    started: float
    status: int = 500


class EndpointMetrics:
    """All series of one app, in a registry of its own so two apps in a process never mix."""

    def __init__(self, admission: Admission) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = RequestCounts(r)
        self.latency = LoopHistogram(
            "serving_request_latency_seconds",
            "Invocation latency, queueing included.",
            buckets=_SECONDS,
            registry=r,
        )
        self.queue_time = LoopHistogram(
            "serving_queue_time_seconds",
            "Time an admitted request waited for a unit.",
            buckets=_SECONDS,
            registry=r,
        )
        self.upstream_calls = Counter(
            "serving_upstream_calls",
            "Calls to external APIs by target and outcome.",
            ("target", "outcome"),
            registry=r,
        )
        self.upstream_errors = Counter(
            "serving_upstream_errors", "Failed external calls by target.", ("target",), registry=r
        )
        self.upstream_retries = Counter(
            "serving_upstream_retries",
            "Retries of external calls by target.",
            ("target",),
            registry=r,
        )
        self.upstream_retries_throttled = Counter(
            "serving_upstream_retries_throttled",
            "Retries the retry budget refused, by target.",
            ("target",),
            registry=r,
        )
        self.cache_hits = Counter(
            "serving_cache_hits", "Lookups answered from the cache.", ("target",), registry=r
        )
        self.cache_misses = Counter(
            "serving_cache_misses", "Lookups that needed an upstream call.", ("target",), registry=r
        )
        self.cache_shared = Counter(
            "serving_cache_shared",
            "Misses that joined an upstream call already in flight (single-flight).",
            ("target",),
            registry=r,
        )
        self.batch_size = LoopHistogram(
            "serving_model_batch_size", "Records per model call.", buckets=_BATCH, registry=r
        )
        self.rejected = Counter(
            "serving_rejected_requests",
            "Requests turned away before scoring, by reason.",
            ("reason",),
            registry=r,
        )
        self.scale_events = Counter(
            "serving_scale_events", "Scaling decisions by direction.", ("direction",), registry=r
        )
        self.latency_ms = LoopHistogram(
            "request_latency_ms", "Invocation latency in ms.", buckets=_MILLIS, registry=r
        )
        # Resolving a label set costs a lock and a dict lookup in prometheus_client; the few
        # reasons a run sees are resolved once each.
        self._by_reason: dict[str, Counter] = {}
        # Gauges read the admission state at scrape time, so they can never drift from it.
        Gauge("serving_queue_depth", "Requests waiting for a unit.", registry=r).set_function(
            lambda: admission.queued
        )
        Gauge("serving_inflight_requests", "Requests holding a unit.", registry=r).set_function(
            lambda: admission.inflight
        )

    def watch(self, scaler: Autoscaler) -> None:
        """Expose the scaler's state; read at scrape time like the admission gauges."""
        r = self.registry
        for name in ("serving_provisioned_concurrency", "provisioned_concurrent_requests_total"):
            Gauge(name, "Units ready to serve.", registry=r).set_function(lambda: scaler.ready)
        Gauge(
            "serving_provisioned_concurrency_target",
            "Units the scaler wants, those still provisioning included.",
            registry=r,
        ).set_function(lambda: scaler.target)
        Gauge(
            "serving_scaler_panic", "1 while the scaler is in panic mode.", registry=r
        ).set_function(lambda: int(scaler.panicking))

    def watch_llm(self, scheduler: SequenceScheduler) -> LlmSeries:
        """Add the LLM mode's series; only an app with the mode on has them."""
        return LlmSeries(self.registry, scheduler)

    def cache_event(self, target: str, event: str) -> None:
        counter = {"hit": self.cache_hits, "miss": self.cache_misses}.get(event, self.cache_shared)
        counter.labels(target=target).inc()

    def reject(self, reason: str) -> None:
        """Count one request turned away before scoring."""
        counter = self._by_reason.get(reason)
        if counter is None:
            counter = self._by_reason[reason] = self.rejected.labels(reason=reason)
        counter.inc()

    def observe(self, status: int, seconds: float) -> None:
        """Record one finished invocation."""
        self.requests.add(status)
        self.latency.observe(seconds)
        self.latency_ms.observe(seconds * 1000.0)

    @contextmanager
    def invocation(self) -> Iterator[Invocation]:
        """Time one invocation and record it when it ends, with the status its handler set:
        500 unless set (a handler that raised), CLIENT_CLOSED when the client went away and
        the handler was cancelled."""
        call = Invocation(time.perf_counter())
        try:
            yield call
        except asyncio.CancelledError:
            call.status = CLIENT_CLOSED
            raise
        finally:
            self.observe(call.status, time.perf_counter() - call.started)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LlmSeries(Collector):
    """Sequences running and waiting, time to first token and tokens generated.

    The token count is a plain int the scrape reads, like RequestCounts: it moves once per
    generated token, and only the event loop updates and scrapes it.
    """

    def __init__(self, registry: CollectorRegistry, scheduler: SequenceScheduler) -> None:
        self.tokens = 0
        self.ttft = LoopHistogram(
            "serving_llm_time_to_first_token_seconds",
            "Time from a generation request's arrival to its first token, waiting included.",
            buckets=_SECONDS,
            registry=registry,
        )
        for name, documentation, read in (
            ("serving_llm_running_sequences", "Sequences generating.", lambda: scheduler.running),
            (
                "serving_llm_waiting_sequences",
                "Requests waiting for a sequence.",
                lambda: scheduler.waiting,
            ),
            (
                "serving_llm_kv_cache_used_tokens",
                "KV-cache tokens reserved by running sequences.",
                lambda: scheduler.kv_used,
            ),
        ):
            Gauge(name, documentation, registry=registry).set_function(read)
        registry.register(self)

    def collect(self) -> Iterable[Metric]:
        return [
            CounterMetricFamily(
                "serving_llm_generated_tokens", "Tokens generated.", value=float(self.tokens)
            )
        ]

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily("serving_llm_generated_tokens", "")]
