"""Counts of finished requests by status, exposed as the counters that are derived from them."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["RequestCounts"]

_NAMES = ("serving_requests", "request_count", "request_4xx_count", "request_5xx_count")


class RequestCounts(Collector):
    """One count per status, from which the scrape derives four counters.

    The harness's `serving_requests_total{status}` and the Databricks-named
    `request_count_total`, `request_4xx_count_total` and `request_5xx_count_total` all follow
    from the same counts. Keeping one plain dict entry per request, instead of updating up to
    three locked prometheus_client counters, matters on a cheap request; it is safe because only
    the event loop records and scrapes.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._by_status: dict[int, int] = {}
        registry.register(self)

    def add(self, status: int) -> None:
        by_status = self._by_status
        by_status[status] = by_status.get(status, 0) + 1

    def collect(self) -> Iterable[Metric]:
        by_status = sorted(self._by_status.items())
        requests = CounterMetricFamily(
            "serving_requests", "Invocation requests by status.", labels=("status",)
        )
        for status, count in by_status:
            requests.add_metric((str(status),), float(count))
        return [
            requests,
            _total("request_count", "Requests served.", by_status, 0, 1000),
            _total("request_4xx_count", "Requests answered 4xx.", by_status, 400, 500),
            _total("request_5xx_count", "Requests answered 5xx.", by_status, 500, 1000),
        ]

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(name, "") for name in _NAMES]


def _total(
    name: str, documentation: str, by_status: list[tuple[int, int]], low: int, high: int
) -> CounterMetricFamily:
    # 499 (client closed) counts as 4xx, as it did when each counter was updated on its own.
    total = sum(count for status, count in by_status if low <= status < high)
    return CounterMetricFamily(name, documentation, value=float(total))
