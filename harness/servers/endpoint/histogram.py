"""A histogram for series that only one event loop observes and scrapes."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["LoopHistogram"]

# prometheus_client's own `le` formatting, so bounds read exactly as its Histogram writes them;
# the name carries a type here because the library leaves that function unannotated.
_le: Callable[[float], str] = floatToGoString


class LoopHistogram(Collector):
    """Exposes the same `_bucket`, `_count` and `_sum` samples as prometheus_client's Histogram.

    prometheus_client guards every bucket and sum with a lock so threads may share them. The
    endpoint observes and renders on its event loop only, and there a lock per update is a
    measurable share of a cheap request, so this one keeps plain counts instead.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(float(bound) for bound in buckets)
        # One count per bound plus one for values above the last bound (+Inf).
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        # bisect_left puts a value equal to a bound into that bound's bucket, as `le` means.
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterable[Metric]:
        return [self._family()]

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self._name, self._documentation)]

    def _family(self) -> HistogramMetricFamily:
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip((*self._bounds, float("inf")), self._counts, strict=True):
            total += count
            buckets.append((_le(bound), float(total)))
        return HistogramMetricFamily(
            self._name, self._documentation, buckets=buckets, sum_value=self._sum
        )
