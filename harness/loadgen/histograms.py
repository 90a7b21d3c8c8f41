"""HDR latency histograms and the tallies built on them: what one second or one phase of load
measured, mergeable across threads and processes."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

__all__ = [
    "DENSE_SECONDS",
    "Bucket",
    "Floats",
    "Ints",
    "Mask",
    "Tally",
    "new_histogram",
    "new_timeline_histogram",
    "record_many",
    "record_micros",
]

# Microseconds, from 1 us to 10 min. Phases keep 3 significant digits (0.1 %). Seconds of the
# timeline keep 2 (1 %): a 3-digit histogram is ~170 KB of counters, and a long run holds one
# second per row, so the timeline would otherwise cost ~0.35 MB per second of load.
_LOWEST_US = 1
_HIGHEST_US = 600_000_000
_DIGITS = 3
_TIMELINE_DIGITS = 2
# Seconds of the timeline kept as live histograms; older ones are kept HDR-encoded (a few
# hundred bytes) and decoded only when read, so memory stays flat however long a run is.
DENSE_SECONDS = 32


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def new_timeline_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _TIMELINE_DIGITS)


def record_micros(histogram: HdrHistogram, micros: int) -> None:
    """``histogram.record_value`` without its per-call method lookups: this runs several times
    per request on the generator's hot path, where hdrh's version costs ~2 us."""
    value = _HIGHEST_US if micros > _HIGHEST_US else micros if micros > _LOWEST_US else _LOWEST_US
    # The same index arithmetic as hdrh, for lowest value 1 (unit magnitude 0).
    half_magnitude = histogram.sub_bucket_half_count_magnitude
    bucket = (value | histogram.sub_bucket_mask).bit_length() - half_magnitude - 1
    index = ((bucket + 1) << half_magnitude) + (value >> bucket) - histogram.sub_bucket_half_count
    histogram.counts[index] += 1
    histogram.total_count += 1
    if value < histogram.min_value:
        histogram.min_value = value
    if value > histogram.max_value:
        histogram.max_value = value


Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


def record_many(histogram: HdrHistogram, micros: Ints) -> None:
    """:func:`record_micros` for a whole array at once, with numpy: the same counts, total, min
    and max as recording each value in turn, at a small fraction of the per-value cost."""
    if not len(micros):
        return
    values = np.clip(micros, _LOWEST_US, _HIGHEST_US)
    half_magnitude = histogram.sub_bucket_half_count_magnitude
    # frexp's exponent is the bit length, exactly, for integers below 2**53.
    bits = np.frexp((values | histogram.sub_bucket_mask).astype(np.float64))[1]
    bucket = bits.astype(np.int64) - half_magnitude - 1
    index = ((bucket + 1) << half_magnitude) + (values >> bucket) - histogram.sub_bucket_half_count
    found = np.bincount(index)
    # hdrh keeps its counters in a ctypes array: numpy adds into that memory directly.
    counts = np.ctypeslib.as_array(histogram.counts)
    counts[: len(found)] += found.astype(counts.dtype)
    histogram.total_count += len(values)
    histogram.min_value = min(histogram.min_value, int(values.min()))
    histogram.max_value = max(histogram.max_value, int(values.max()))


def _max_us(histogram: HdrHistogram) -> int:
    # hdrh's get_max_value() is the top of the max's bucket (up to 1 % high at 2 digits); the
    # raw attribute is exact as long as merges carry it along, which Tally does.
    return int(histogram.max_value) if histogram.total_count else 0


def _ms(histogram: HdrHistogram, percentile: float) -> float:
    # A bucket's upper edge can lie above anything recorded; the exact max bounds it.
    micros = min(int(histogram.get_value_at_percentile(percentile)), _max_us(histogram))
    return round(micros / 1000.0, 3)


def _add(into: HdrHistogram, other: HdrHistogram, exact_max_us: int) -> None:
    before = into.max_value
    into.add(other)
    into.max_value = max(before, exact_max_us)


@dataclass(slots=True)
class Tally:
    """Outcomes of a set of requests: latency from intended start, service time, status codes,
    transport failures by kind, and the worst queue depth / in-flight sampled meanwhile."""

    latency: HdrHistogram = field(default_factory=new_histogram)
    service: HdrHistogram = field(default_factory=new_histogram)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    queue_depth: float | None = None
    inflight: float | None = None

    def add(
        self, latency_s: float, service_s: float, status: int | None, failure: str | None
    ) -> None:
        record_micros(self.latency, int(latency_s * 1_000_000))
        record_micros(self.service, int(service_s * 1_000_000))
        if status is not None:
            self.statuses[status] += 1
        else:
            self.failures[failure or "error"] += 1

    def add_many(
        self, latency_us: Ints, service_us: Ints, codes: Ints, failures: Sequence[str]
    ) -> None:
        """:meth:`add` for arrays: ``codes`` holds a status, or ``-1 - i`` for ``failures[i]``."""
        record_many(self.latency, latency_us)
        record_many(self.service, service_us)
        found, counts = np.unique(codes, return_counts=True)
        for code, count in zip(found.tolist(), counts.tolist(), strict=True):
            if code >= 0:
                self.statuses[code] += count
            else:
                self.failures[failures[-1 - code]] += count

    def sample(self, queue_depth: float | None, inflight: float | None) -> None:
        # Budgets on queue depth are about the worst moment, so keep the maximum.
        if queue_depth is not None:
            self.queue_depth = max(queue_depth, self.queue_depth or 0.0)
        if inflight is not None:
            self.inflight = max(inflight, self.inflight or 0.0)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.failures.values())

    @property
    def errors(self) -> int:
        return sum(n for c, n in self.statuses.items() if c >= 400) + sum(self.failures.values())

    def errors_by_class(self) -> dict[str, int]:
        classes: Counter[str] = Counter({str(c): n for c, n in self.statuses.items() if c >= 400})
        classes.update(self.failures)
        return dict(classes)

    def percentile_ms(self, percentile: float) -> float | None:
        return _ms(self.latency, percentile) if self.requests else None

    def max_ms(self) -> float | None:
        return round(_max_us(self.latency) / 1000.0, 3) if self.requests else None

    def service_ms(self, percentile: float) -> float | None:
        return _ms(self.service, percentile) if self.requests else None

    def service_max_ms(self) -> float | None:
        return round(_max_us(self.service) / 1000.0, 3) if self.requests else None

    def merge(self, other: Tally) -> None:
        """Add ``other``'s requests to this tally; HDR addition is exact, not an estimate."""
        _add(self.latency, other.latency, _max_us(other.latency))
        _add(self.service, other.service, _max_us(other.service))
        self.statuses.update(other.statuses)
        self.failures.update(other.failures)
        if other.queue_depth is not None or other.inflight is not None:
            self.sample(other.queue_depth, other.inflight)

    def encode(self) -> dict[str, Any]:
        """A plain, picklable and JSON-able form; histograms in HDR's compressed encoding."""
        return {
            "latency": self.latency.encode(),
            "service": self.service.encode(),
            # HDR's encoding keeps the max only to its bucket; the exact value travels beside it.
            "latency_max_us": _max_us(self.latency),
            "service_max_us": _max_us(self.service),
            "statuses": {str(code): n for code, n in self.statuses.items()},
            "failures": dict(self.failures),
            "queue_depth": self.queue_depth,
            "inflight": self.inflight,
        }

    def merge_encoded(self, encoded: dict[str, Any]) -> None:
        latency, service = (HdrHistogram.decode(encoded[k]) for k in ("latency", "service"))
        _add(self.latency, latency, encoded.get("latency_max_us", _max_us(latency)))
        _add(self.service, service, encoded.get("service_max_us", _max_us(service)))
        self.statuses.update({int(code): n for code, n in encoded["statuses"].items()})
        self.failures.update(encoded["failures"])
        self.sample(encoded["queue_depth"], encoded["inflight"])


@dataclass(slots=True)
class Bucket(Tally):
    """One second of the run, by intended start time, at the timeline's coarser precision."""

    latency: HdrHistogram = field(default_factory=new_timeline_histogram)
    service: HdrHistogram = field(default_factory=new_timeline_histogram)
    second: int = 0
    offered: int = 0

    def encode(self) -> dict[str, Any]:
        return {**Tally.encode(self), "second": self.second, "offered": self.offered}

    def reuse(self, second: int) -> None:
        """Empty this bucket for another second, keeping its histograms' memory."""
        for histogram in (self.latency, self.service):
            np.ctypeslib.as_array(histogram.counts)[:] = 0
            histogram.total_count, histogram.min_value, histogram.max_value = 0, sys.maxsize, 0
        self.statuses.clear()
        self.failures.clear()
        self.queue_depth = self.inflight = None
        self.second, self.offered = second, 0

    def merge_encoded(self, encoded: dict[str, Any]) -> None:
        Tally.merge_encoded(self, encoded)
        self.offered += encoded["offered"]

    @classmethod
    def decode(cls, encoded: dict[str, Any]) -> Bucket:
        bucket = cls(second=encoded["second"])
        bucket.merge_encoded(encoded)
        return bucket
