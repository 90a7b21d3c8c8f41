"""An incident's signature: what the source shows per second, and where it broke its baseline.

Per replayed second: the request rate (weighted requests in that second), the error rate by
status class (shares of the requests with a known status: ``2xx``, ``4xx`` without 429,
``429``, ``5xx``), and latency p50/p99 when the source has latencies.

Baseline: the median, over the first ``BASELINE_SHARE`` of the seconds (at least one), of the
error rate (429 plus 5xx) and of p99. A second is anomalous when its error rate exceeds the
baseline by more than ``ERROR_MARGIN`` (5 percentage points) or its p99 exceeds both
``LATENCY_FACTOR`` (3) times the baseline p99 and the baseline p99 plus ``LATENCY_FLOOR_MS``
(50 ms, so that a fast endpoint's millisecond jitter is not an incident). Consecutive
anomalous seconds form a candidate fault window. The same rule judges a replay
(:mod:`harness.incident.reproduce`).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from harness.incident.sources import Observation

__all__ = [
    "BASELINE_SHARE",
    "ERROR_MARGIN",
    "LATENCY_FACTOR",
    "LATENCY_FLOOR_MS",
    "Baseline",
    "CandidateWindow",
    "Second",
    "anomaly",
    "baseline",
    "candidate_windows",
    "per_second",
    "weighted_quantile",
]

BASELINE_SHARE = 0.25
ERROR_MARGIN = 0.05
LATENCY_FACTOR = 3.0
LATENCY_FLOOR_MS = 50.0
CLASSES = ("2xx", "4xx", "429", "5xx")


@dataclass(frozen=True, slots=True)
class Second:
    """One replayed second of the source."""

    second: int
    rate: float
    error_rates: dict[str, float]
    p50_ms: float | None
    p99_ms: float | None

    @property
    def failing(self) -> float:
        """Share of requests that failed the way an incident does: throttled or 5xx."""
        return self.error_rates.get("429", 0.0) + self.error_rates.get("5xx", 0.0)


@dataclass(frozen=True, slots=True)
class Baseline:
    error_rate: float
    p99_ms: float | None
    seconds: int


@dataclass(frozen=True, slots=True)
class CandidateWindow:
    """Seconds ``[start_s, end_s)`` of the replay where the source broke its baseline."""

    start_s: int
    end_s: int
    peak_error_rate: float
    peak_p99_ms: float | None
    reasons: tuple[str, ...]


def _status_class(status: int) -> str | None:
    if status == 429:
        return "429"
    if 200 <= status < 300:
        return "2xx"
    if 400 <= status < 500:
        return "4xx"
    if 500 <= status < 600:
        return "5xx"
    return None


def weighted_quantile(pairs: Sequence[tuple[float, float]], q: float) -> float:
    """The smallest value whose cumulative weight reaches ``q`` of the total."""
    ordered = sorted(pairs)
    total = sum(weight for _, weight in ordered)
    reached = 0.0
    for value, weight in ordered:
        reached += weight
        if reached >= q * total - 1e-9:
            return value
    return ordered[-1][0]


def _second(index: int, group: Sequence[Observation]) -> Second:
    rate = sum(o.weight for o in group)
    by_class: dict[str, float] = dict.fromkeys(CLASSES, 0.0)
    known = 0.0
    for o in group:
        name = _status_class(o.status) if o.status is not None else None
        if name is not None:
            by_class[name] += o.weight
            known += o.weight
    latencies = [(o.latency_ms, o.weight) for o in group if o.latency_ms is not None]
    return Second(
        index,
        rate,
        {name: (count / known if known else 0.0) for name, count in by_class.items()}
        if known
        else {},
        weighted_quantile(latencies, 0.5) if latencies else None,
        weighted_quantile(latencies, 0.99) if latencies else None,
    )


def per_second(observations: Sequence[Observation]) -> tuple[Second, ...]:
    """Seconds ``0 .. last`` of compressed observations (times relative to the start)."""
    groups: dict[int, list[Observation]] = defaultdict(list)
    for o in observations:
        groups[math.floor(o.time_s)].append(o)
    last = max(groups) if groups else -1
    return tuple(_second(i, groups.get(i, [])) for i in range(last + 1))


def baseline(seconds: Sequence[Second]) -> Baseline:
    """Medians over the first BASELINE_SHARE of the seconds that had requests."""
    busy = [s for s in seconds if s.rate > 0]
    head = busy[: max(1, math.floor(len(busy) * BASELINE_SHARE))]
    p99s = [s.p99_ms for s in head if s.p99_ms is not None]
    return Baseline(
        statistics.median(s.failing for s in head) if head else 0.0,
        statistics.median(p99s) if p99s else None,
        len(head),
    )


def anomaly(second: Second, base: Baseline) -> tuple[str, ...]:
    """Why ``second`` broke the baseline (``errors``, ``latency``), or nothing if it did not."""
    reasons: list[str] = []
    if second.rate > 0 and second.failing > base.error_rate + ERROR_MARGIN:
        reasons.append("errors")
    if (
        base.p99_ms is not None
        and second.p99_ms is not None
        and second.p99_ms > max(LATENCY_FACTOR * base.p99_ms, base.p99_ms + LATENCY_FLOOR_MS)
    ):
        reasons.append("latency")
    return tuple(reasons)


def candidate_windows(seconds: Sequence[Second], base: Baseline) -> tuple[CandidateWindow, ...]:
    """Runs of consecutive seconds that broke the baseline, as candidate fault windows."""
    windows: list[CandidateWindow] = []
    run: list[tuple[Second, tuple[str, ...]]] = []
    for second in (*seconds, None):
        reasons = anomaly(second, base) if second is not None else ()
        if second is not None and reasons:
            run.append((second, reasons))
            continue
        if run:
            p99s = [s.p99_ms for s, _ in run if s.p99_ms is not None]
            found = {r for _, rs in run for r in rs}
            windows.append(
                CandidateWindow(
                    run[0][0].second,
                    run[-1][0].second + 1,
                    max(s.failing for s, _ in run),
                    max(p99s) if p99s else None,
                    tuple(r for r in ("errors", "latency") if r in found),
                )
            )
            run = []
    return tuple(windows)
