"""Prometheus series of the stub, in a registry owned by one app so apps never share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["METRICS_CONTENT_TYPE", "StubMetrics"]

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class StubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "stub_requests",
            "Requests served by the stub, by route and status.",
            ("path", "status"),
            registry=self.registry,
        )
        self.injected_faults = Counter(
            "stub_injected_faults",
            "Requests answered with an injected fault status.",
            ("status",),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
