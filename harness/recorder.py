"""Everything a run measured, in bounded memory: HDR histograms and counts per second and per
phase. A request belongs to the phases active at its *intended* start, taken from the faults'
actual apply and revert times, so phase budgets are exact rather than rounded to seconds."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from harness.budgets import percentile_of

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


class Timeline(Mapping[int, Bucket]):
    """Second -> bucket, read-only: recent seconds are live, older ones decoded on each read."""

    def __init__(self, dense: dict[int, Bucket], frozen: dict[int, dict[str, Any]]) -> None:
        self._dense = dense
        self._frozen = frozen

    def __getitem__(self, second: int) -> Bucket:
        found = self._dense.get(second)
        if found is not None:
            return found
        return Bucket.decode(self._frozen[second])

    def __iter__(self) -> Iterator[int]:
        return iter(sorted({*self._dense, *self._frozen}))

    def __len__(self) -> int:
        return len(self._dense) + len(self._frozen)


class PhaseClock:
    """Which phases a moment belongs to, from the faults' actual times as they happen.

    Asked about time ``t`` at or after ``t`` (a request completes after its intended start),
    it already knows every apply and revert that happened before ``t``, so the answer is exact.
    """

    def __init__(self, fault_names: Sequence[str] = ()) -> None:
        self._names = tuple(fault_names)
        self.starts: dict[str, float] = {}
        self.ends: dict[str, float] = {}

    # Replaced rather than updated in place: a load engine's thread may be reading them.
    def started(self, name: str, t: float) -> None:
        self.starts = {**self.starts, name: t}

    def ended(self, name: str, t: float) -> None:
        self.ends = {**self.ends, name: t}

    def phase_names(self) -> list[str]:
        if not self._names:
            return ["overall"]
        return ["overall", "baseline", *(f"during:{n}" for n in self._names), "recovery"]

    def phases_at(self, t: float) -> list[str]:
        phases = ["overall"]
        if not self._names:
            return phases
        if not self.starts or t < min(self.starts.values()):
            phases.append("baseline")
        for name, start in self.starts.items():
            end = self.ends.get(name)
            if start <= t and (end is None or t < end):
                phases.append(f"during:{name}")
        if len(self.ends) == len(self._names) and t >= max(self.ends.values()):
            phases.append("recovery")
        return phases

    def members(self, phase: str, t: Floats) -> Mask:
        """:meth:`phases_at` turned around: which of the times ``t`` belong to ``phase``."""
        starts, ends = self.starts, self.ends
        if phase == "overall" or (phase == "baseline" and not starts):
            return np.ones(len(t), dtype=np.bool_)
        if phase == "baseline":
            return t < min(starts.values())
        if phase == "recovery":
            if self._names and len(ends) == len(self._names):
                return t >= max(ends.values())
            return np.zeros(len(t), dtype=np.bool_)
        start = starts.get(phase.removeprefix("during:"))
        if start is None:
            return np.zeros(len(t), dtype=np.bool_)
        inside: Mask = t >= start
        end = ends.get(phase.removeprefix("during:"))
        return inside if end is None else inside & (t < end)

    def spans(self, run_s: float) -> dict[str, tuple[float, float]]:
        """Where each phase lies within a run of ``run_s`` seconds: (start, end)."""
        spans = {"overall": (0.0, run_s)}
        if self._names:
            first = min(self.starts.values(), default=run_s)
            last = max(self.ends.values(), default=run_s)
            spans["baseline"] = (0.0, first)
            for name in self._names:
                start = self.starts.get(name, run_s)
                spans[f"during:{name}"] = (start, max(self.ends.get(name, run_s), start))
            spans["recovery"] = (min(last, run_s), run_s)
        return spans


class Recorder:
    """Collects request outcomes; every time is in seconds since load started.

    :meth:`offered_many`, :meth:`completed_many`, :meth:`gauge` and :meth:`snapshot` may be
    called from two threads (a load engine's and the runner's); the one-request methods are for
    a single thread.
    """

    def __init__(self, clock: PhaseClock | None = None, dense_seconds: int = DENSE_SECONDS) -> None:
        self.clock = clock or PhaseClock()
        self.phases: dict[str, Tally] = {name: Tally() for name in self.clock.phase_names()}
        self._dense: dict[int, Bucket] = {}
        self._frozen: dict[int, dict[str, Any]] = {}
        self._spare: list[Bucket] = []
        self._lock = threading.Lock()
        self._dense_limit = max(dense_seconds, 1)
        self.buckets: Mapping[int, Bucket] = Timeline(self._dense, self._frozen)

    def bucket(self, t: float) -> Bucket:
        second = max(int(t), 0)
        found = self._dense.get(second)
        if found is None:
            if self._spare:
                found = self._spare.pop()
                found.reuse(second)
            else:
                found = Bucket(second=second)
            frozen = self._frozen.pop(second, None)
            if frozen:
                found.merge_encoded(frozen)
            self._dense[second] = found
            self._freeze_oldest()
        return found

    def _freeze_oldest(self) -> None:
        # First in, first frozen: a run creates seconds in order, so that is the oldest second.
        # A late answer for a frozen second thaws it, which costs time but never correctness.
        # The frozen bucket is kept for the next second: hdrh's histograms hold a reference
        # cycle, so dropping them would leave garbage that only a full collection frees.
        while len(self._dense) > self._dense_limit:
            second = next(iter(self._dense))
            oldest = self._dense.pop(second)
            self._frozen[second] = oldest.encode()
            self._spare.append(oldest)

    def offered(self, intended: float) -> None:
        self.bucket(intended).offered += 1

    def completed(
        self, intended: float, sent: float, done: float, *, status: int | None, failure: str | None
    ) -> None:
        """One request: ``status`` when a response came back, else ``failure`` names why not."""
        latency, service = done - intended, done - sent
        self.bucket(intended).add(latency, service, status, failure)
        phases = self.phases
        for phase in self.clock.phases_at(intended):
            phases[phase].add(latency, service, status, failure)

    def completed_many(
        self, intended: Floats, sent: Floats, done: Floats, codes: Ints, failures: Sequence[str]
    ) -> None:
        """:meth:`completed` for arrays of requests; ``codes`` as in :meth:`Tally.add_many`."""
        # The same float arithmetic as completed(), so both record identical microseconds.
        latency = ((done - intended) * 1_000_000).astype(np.int64)
        service = ((done - sent) * 1_000_000).astype(np.int64)
        seconds = np.maximum(intended.astype(np.int64), 0)
        with self._lock:
            self._add_many(intended, seconds, latency, service, codes, failures)

    def _add_many(
        self,
        intended: Floats,
        seconds: Ints,
        latency: Ints,
        service: Ints,
        codes: Ints,
        failures: Sequence[str],
    ) -> None:
        for second in np.unique(seconds).tolist():
            mine = seconds == second
            self.bucket(second).add_many(latency[mine], service[mine], codes[mine], failures)
        for name, tally in self.phases.items():
            mine = self.clock.members(name, intended)
            if mine.all():
                tally.add_many(latency, service, codes, failures)
            elif mine.any():
                tally.add_many(latency[mine], service[mine], codes[mine], failures)

    def offered_many(self, intended: Floats) -> None:
        seconds = np.maximum(intended.astype(np.int64), 0)
        found, counts = np.unique(seconds, return_counts=True)
        with self._lock:
            for second, count in zip(found.tolist(), counts.tolist(), strict=True):
                self.bucket(second).offered += count

    def gauge(self, t: float, *, queue_depth: float | None, inflight: float | None) -> None:
        with self._lock:
            self.bucket(t).sample(queue_depth, inflight)
            for phase in self.clock.phases_at(t):
                self.phases[phase].sample(queue_depth, inflight)

    def snapshot(self, second: int) -> Bucket | None:
        """A copy of one second as it stands, safe to read while another thread records."""
        with self._lock:
            found = self.buckets.get(second)
            return None if found is None else Bucket.decode(found.encode())

    def seconds(self) -> list[Bucket]:
        return list(self.each_second())

    def each_second(self) -> Iterator[Bucket]:
        """Every second in order, old ones decoded one at a time: for long runs, where
        :meth:`seconds` would hold every second's histograms at once."""
        for second in self.buckets:
            yield self.buckets[second]

    def encode(self) -> dict[str, Any]:
        """Everything recorded, for another process to merge with :meth:`merge_encoded`."""
        dense, frozen = self._dense, self._frozen
        return {
            "buckets": [dense[s].encode() if s in dense else frozen[s] for s in self.buckets],
            "phases": {name: tally.encode() for name, tally in self.phases.items()},
        }

    def merge_encoded(self, encoded: dict[str, Any]) -> None:
        """Fold in another recorder's :meth:`encode`; phases must be named alike on both."""
        for bucket in encoded["buckets"]:
            self.bucket(bucket["second"]).merge_encoded(bucket)
        for name, tally in encoded["phases"].items():
            self.phases.setdefault(name, Tally()).merge_encoded(tally)

    def phase_stats(self, run_s: float) -> dict[str, PhaseStats]:
        spans = self.clock.spans(run_s)
        return {name: PhaseStats(name, tally, *spans[name]) for name, tally in self.phases.items()}


@dataclass(frozen=True, slots=True)
class PhaseStats:
    """One phase's tally and length; answers every budget metric."""

    name: str
    tally: Tally
    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s

    @property
    def requests(self) -> int:
        return self.tally.requests

    @property
    def errors(self) -> int:
        return self.tally.errors

    def errors_by_class(self) -> dict[str, int]:
        return self.tally.errors_by_class()

    def value(self, metric: str) -> float | None:
        percentile = percentile_of(metric)
        if percentile is not None:
            return self.tally.percentile_ms(percentile)
        requests = self.tally.requests
        plain: dict[str, float | None] = {
            "requests": requests,
            "errors": self.tally.errors,
            "error_rate": round(self.tally.errors / requests, 6) if requests else None,
            "throughput_rps": round(requests / self.seconds, 2) if self.seconds > 0 else None,
            "max_ms": self.tally.max_ms(),
            "max_queue_depth": self.tally.queue_depth,
            "timeouts": self.tally.failures.get("timeout", 0),
        }
        return plain.get(metric)

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
            "max_queue_depth": self.tally.queue_depth,
            "seconds": round(self.seconds, 3),
            "errors_by_class": self.errors_by_class(),
        }


def timeline_row(bucket: Bucket) -> dict[str, Any]:
    return {
        "t": bucket.second,
        "offered": bucket.offered,
        "completed": bucket.requests,
        "errors": bucket.errors,
        "statuses": {str(code): n for code, n in sorted(bucket.statuses.items())},
        "failures": dict(bucket.failures),
        "p50_ms": bucket.percentile_ms(50),
        "p90_ms": bucket.percentile_ms(90),
        "p99_ms": bucket.percentile_ms(99),
        "max_ms": bucket.max_ms(),
        "service_p50_ms": bucket.service_ms(50),
        "queue_depth": bucket.queue_depth,
        "inflight": bucket.inflight,
    }
