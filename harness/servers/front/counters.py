"""What the fault layer counts: plain integers bumped on the hot path, read as Prometheus
counters only when /metrics is scraped."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = ["MALFORMED", "METRICS_CONTENT_TYPE", "UPSTREAM_FAILED", "FrontCounters", "FrontMetrics"]

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
# The status label of a call answered by breaking its connection.
MALFORMED = "malformed"
# The status label of a call the upstream failed: unreachable, or gone before a full answer.
UPSTREAM_FAILED = 502


class FrontCounters:
    """Totals since start; they only ever grow. Bumped by the data plane, one attribute at a
    time, so counting costs an addition and no label lookup."""

    __slots__ = (
        "connections",
        "injected",
        "request_bytes",
        "response_bytes",
        "statuses",
        "upstream_connections",
    )

    def __init__(self) -> None:
        self.connections = 0
        self.upstream_connections = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.statuses: dict[int | str, int] = {}
        self.injected: dict[str, int] = {}

    def answered(self, status: int | str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def hit_by(self, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            self.injected[kind] = self.injected.get(kind, 0) + 1


class _Collector(Collector):
    def __init__(self, counters: FrontCounters) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        counters = self._counters
        requests = CounterMetricFamily(
            "front_requests",
            "Calls answered to clients, by the status they got (malformed: the connection was "
            "broken on purpose; 502: the upstream could not be reached or failed).",
            labels=("status",),
        )
        for status, count in sorted(counters.statuses.items(), key=lambda item: str(item[0])):
            requests.add_metric((str(status),), count)
        yield requests
        yield CounterMetricFamily(
            "front_connections",
            "Client TCP connections accepted.",
            value=counters.connections,
        )
        yield CounterMetricFamily(
            "front_upstream_connections",
            "Connections opened to the upstream.",
            value=counters.upstream_connections,
        )
        moved = CounterMetricFamily(
            "front_bytes",
            "Bytes received from clients (request) and sent to them (response).",
            labels=("direction",),
        )
        moved.add_metric(("request",), counters.request_bytes)
        moved.add_metric(("response",), counters.response_bytes)
        yield moved
        injected = CounterMetricFamily(
            "front_faults_injected",
            "Calls hit by an HTTP fault, by fault kind.",
            labels=("kind",),
        )
        for kind, count in sorted(counters.injected.items()):
            injected.add_metric((kind,), count)
        yield injected


class FrontMetrics:
    """The fault layer's counters in a registry of its own, so two layers never share one."""

    def __init__(self, counters: FrontCounters) -> None:
        self.counters = counters
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(counters))

    def render(self) -> bytes:
        return generate_latest(self.registry)
