"""Per-second HDR histograms and counts: everything a run measured, in bounded memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.budgets import percentile_of

# Microseconds, from 1 us to 10 min, 3 significant digits: about 40 KB per histogram.
_LOWEST_US = 1
_HIGHEST_US = 600_000_000
_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def _record(histogram: HdrHistogram, seconds: float) -> None:
    micros = min(max(int(seconds * 1_000_000), _LOWEST_US), _HIGHEST_US)
    histogram.record_value(micros)


def _ms(histogram: HdrHistogram, percentile: float) -> float:
    micros: int = histogram.get_value_at_percentile(percentile)
    return round(micros / 1000.0, 3)


@dataclass(slots=True)
class Bucket:
    """One second of a run, keyed by the *intended* start time of its requests."""

    second: int
    latency: HdrHistogram = field(default_factory=new_histogram)
    service: HdrHistogram = field(default_factory=new_histogram)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    offered: int = 0
    queue_depth: float | None = None
    inflight: float | None = None

    @property
    def completed(self) -> int:
        return sum(self.statuses.values()) + sum(self.failures.values())

    @property
    def errors(self) -> int:
        http_errors = sum(n for code, n in self.statuses.items() if code >= 400)
        return http_errors + sum(self.failures.values())


class Recorder:
    """Collects request outcomes into per-second buckets; times are seconds since load start."""

    def __init__(self) -> None:
        self.buckets: dict[int, Bucket] = {}

    def bucket(self, t: float) -> Bucket:
        second = max(int(t), 0)
        found = self.buckets.get(second)
        if found is None:
            found = self.buckets[second] = Bucket(second)
        return found

    def offered(self, intended: float) -> None:
        self.bucket(intended).offered += 1

    def completed(
        self, intended: float, sent: float, done: float, *, status: int | None, failure: str | None
    ) -> None:
        """One request: ``status`` when a response came back, else ``failure`` names why not."""
        bucket = self.bucket(intended)
        _record(bucket.latency, done - intended)
        _record(bucket.service, done - sent)
        if status is not None:
            bucket.statuses[status] += 1
        else:
            bucket.failures[failure or "error"] += 1

    def gauge(self, t: float, *, queue_depth: float | None, inflight: float | None) -> None:
        """Keep the highest sample per second: a budget on queue depth is about the worst moment."""
        bucket = self.bucket(t)
        if queue_depth is not None:
            bucket.queue_depth = max(queue_depth, bucket.queue_depth or 0.0)
        if inflight is not None:
            bucket.inflight = max(inflight, bucket.inflight or 0.0)

    def seconds(self) -> list[Bucket]:
        return [self.buckets[s] for s in sorted(self.buckets)]


@dataclass(slots=True)
class PhaseStats:
    """Buckets merged over one phase; answers any budget metric."""

    name: str
    seconds: int
    latency: HdrHistogram
    statuses: Counter[int]
    failures: Counter[str]
    max_queue_depth: float | None

    @classmethod
    def merge(cls, name: str, buckets: Iterable[Bucket]) -> PhaseStats:
        latency = new_histogram()
        statuses: Counter[int] = Counter()
        failures: Counter[str] = Counter()
        depths: list[float] = []
        count = 0
        for bucket in buckets:
            count += 1
            latency.add(bucket.latency)
            statuses.update(bucket.statuses)
            failures.update(bucket.failures)
            if bucket.queue_depth is not None:
                depths.append(bucket.queue_depth)
        return cls(name, count, latency, statuses, failures, max(depths) if depths else None)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.failures.values())

    @property
    def errors(self) -> int:
        return sum(n for c, n in self.statuses.items() if c >= 400) + sum(self.failures.values())

    def value(self, metric: str) -> float | None:
        percentile = percentile_of(metric)
        if percentile is not None:
            return _ms(self.latency, percentile) if self.requests else None
        requests = self.requests
        plain: dict[str, float | None] = {
            "requests": requests,
            "errors": self.errors,
            "error_rate": round(self.errors / requests, 6) if requests else None,
            "throughput_rps": round(requests / self.seconds, 2) if self.seconds else None,
            "max_ms": round(self.latency.get_max_value() / 1000.0, 3) if requests else None,
            "max_queue_depth": self.max_queue_depth,
            "timeouts": self.failures.get("timeout", 0),
        }
        return plain.get(metric)

    def errors_by_class(self) -> dict[str, int]:
        classes: Counter[str] = Counter()
        for code, n in self.statuses.items():
            if code >= 400:
                classes[str(code)] += n
        classes.update(self.failures)
        return dict(classes)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.value("error_rate") or 0.0,
            "p50_ms": self.value("p50_ms"),
            "p90_ms": self.value("p90_ms"),
            "p99_ms": self.value("p99_ms"),
            "max_ms": self.value("max_ms"),
            "throughput_rps": self.value("throughput_rps"),
            "max_queue_depth": self.max_queue_depth,
            "errors_by_class": self.errors_by_class(),
        }


def timeline_row(bucket: Bucket) -> dict[str, Any]:
    done = bucket.completed
    return {
        "t": bucket.second,
        "offered": bucket.offered,
        "completed": done,
        "errors": bucket.errors,
        "statuses": {str(code): n for code, n in sorted(bucket.statuses.items())},
        "failures": dict(bucket.failures),
        "p50_ms": _ms(bucket.latency, 50) if done else None,
        "p90_ms": _ms(bucket.latency, 90) if done else None,
        "p99_ms": _ms(bucket.latency, 99) if done else None,
        "max_ms": round(bucket.latency.get_max_value() / 1000.0, 3) if done else None,
        "service_p50_ms": _ms(bucket.service, 50) if done else None,
        "queue_depth": bucket.queue_depth,
        "inflight": bucket.inflight,
    }
