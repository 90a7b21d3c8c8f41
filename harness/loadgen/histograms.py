"""HDR histograms and the tallies built on them: what one second or one phase of load measured
(latency, service time, scheduling lag, body sizes, streamed tokens), mergeable across threads
and processes."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from harness.loadgen.streams import StreamArrays, StreamTimes

__all__ = [
    "DENSE_SECONDS",
    "DISTRIBUTION_PERCENTILES",
    "Bucket",
    "Floats",
    "Ints",
    "Mask",
    "StreamTally",
    "Tally",
    "new_histogram",
    "new_size_histogram",
    "new_timeline_histogram",
    "record_bytes",
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
# Body sizes in bytes, from 0 (an empty body) to 1 GiB, at 3 significant digits: exact below
# 2048 bytes, within 0.1 % above.
_HIGHEST_BYTES = 1 << 30
# Seconds of the timeline kept as live histograms; older ones are kept HDR-encoded (a few
# hundred bytes) and decoded only when read, so memory stays flat however long a run is.
DENSE_SECONDS = 32
# The points of a phase's latency curve: 0 is the fastest request, 100 the slowest.
DISTRIBUTION_PERCENTILES = (0, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def new_timeline_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _TIMELINE_DIGITS)


def new_size_histogram() -> HdrHistogram:
    return HdrHistogram(1, _HIGHEST_BYTES, _DIGITS)


def record_micros(histogram: HdrHistogram, micros: int) -> None:
    """``histogram.record_value`` without its per-call method lookups: this runs several times
    per request on the generator's hot path, where hdrh's version costs ~2 us."""
    value = _HIGHEST_US if micros > _HIGHEST_US else micros if micros > _LOWEST_US else _LOWEST_US
    _count(histogram, value)


def record_bytes(histogram: HdrHistogram, size: int) -> None:
    """:func:`record_micros` for a body size: 0 is a size like any other (an empty body)."""
    _count(histogram, _HIGHEST_BYTES if size > _HIGHEST_BYTES else size if size > 0 else 0)


def _count(histogram: HdrHistogram, value: int) -> None:
    # The same index arithmetic as hdrh, for lowest value 1 (unit magnitude 0); 0 is index 0.
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


def record_many(histogram: HdrHistogram, micros: Ints, *, sizes: bool = False) -> None:
    """:func:`record_micros` (or with ``sizes`` :func:`record_bytes`) for a whole array at once,
    with numpy: the same counts, total, min and max as recording each value in turn, at a small
    fraction of the per-value cost."""
    if not len(micros):
        return
    lowest, highest = (0, _HIGHEST_BYTES) if sizes else (_LOWEST_US, _HIGHEST_US)
    values = np.clip(micros, lowest, highest)
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


def _max(histogram: HdrHistogram) -> int:
    # hdrh's get_max_value() is the top of the max's bucket (up to 1 % high at 2 digits); the
    # raw attribute is exact as long as merges carry it along, which Tally does.
    return int(histogram.max_value) if histogram.total_count else 0


def _min(histogram: HdrHistogram) -> int | None:
    # Exact in the same way as the max: hdrh's own is the bottom of the min's bucket.
    return int(histogram.min_value) if histogram.total_count else None


def _ms(histogram: HdrHistogram, percentile: float) -> float:
    # A bucket's upper edge can lie above anything recorded; the exact max bounds it.
    micros = min(int(histogram.get_value_at_percentile(percentile)), _max(histogram))
    return round(micros / 1000.0, 3)


def _values_at(histogram: HdrHistogram, percentiles: Sequence[float]) -> list[int]:
    """What ``get_value_at_percentile`` answers for each percentile, in one numpy pass instead
    of a Python loop over every counter per percentile; bounded by the exact min and max, and
    percentile 0 is the exact min."""
    total = int(histogram.total_count)
    if not total:
        return [0] * len(percentiles)
    cumulative = np.cumsum(np.ctypeslib.as_array(histogram.counts))
    targets = [max(int(min(p, 100.0) * total / 100 + 0.5), 1) for p in percentiles]
    indexes = np.searchsorted(cumulative, targets, side="left").tolist()
    low, high = _min(histogram) or 0, _max(histogram)
    found = []
    for percentile, index in zip(percentiles, indexes, strict=True):
        top = histogram.get_highest_equivalent_value(histogram.get_value_from_index(index))
        found.append(low if percentile <= 0 else min(max(int(top), low), high))
    return found


def _add(into: HdrHistogram, other: HdrHistogram, exact_max: int, exact_min: int | None) -> None:
    """``into.add(other)`` keeping the exact extremes, which hdrh rounds to their buckets (and
    its min to 0 when ``other`` is empty); ``exact_min`` is None for an empty ``other``."""
    low, high = into.min_value, into.max_value
    into.add(other)
    into.max_value = max(high, exact_max)
    into.min_value = low if exact_min is None else min(low, exact_min)


def _record_size(histogram: HdrHistogram | None, size: int) -> HdrHistogram:
    # Size histograms are made on first use: a tally that never sees a size costs nothing.
    found = new_size_histogram() if histogram is None else histogram
    record_bytes(found, size)
    return found


def _record_sizes(histogram: HdrHistogram | None, sizes: Ints | None) -> HdrHistogram | None:
    """Record the known sizes (>= 0) of ``sizes``; -1 stands for a size nobody knows."""
    if sizes is None or not len(sizes):
        return histogram
    known = sizes >= 0
    if not known.all():
        sizes = sizes[known]
        if not len(sizes):
            return histogram
    found = new_size_histogram() if histogram is None else histogram
    record_many(found, sizes, sizes=True)
    return found


def _merge_sizes(
    into: HdrHistogram | None, other: HdrHistogram | None, exact_max: int | None = None
) -> HdrHistogram | None:
    if other is None or not other.total_count:
        return into
    found = new_size_histogram() if into is None else into
    _add(found, other, _max(other) if exact_max is None else exact_max, _min(other))
    return found


def _size_summary(histogram: HdrHistogram | None) -> dict[str, int] | None:
    if histogram is None or not histogram.total_count:
        return None
    p50, p99 = _values_at(histogram, (50, 99))
    return {"p50": p50, "p99": p99, "max": _max(histogram)}


# The histograms of a StreamTally, by the name its budgets and summary use.
STREAM_HISTOGRAMS = ("ttfb", "ttft", "itl", "tpot")


@dataclass(slots=True)
class StreamTally:
    """Streamed answers of a set of requests: time to first byte and to first token (both from
    intended start: a gap between them is a server that answers at once and makes its first
    token wait), every inter-token gap, time per output token, tokens, streams that ended
    properly, and those that met the run's objectives (goodput)."""

    ttfb: HdrHistogram = field(default_factory=new_histogram)
    ttft: HdrHistogram = field(default_factory=new_histogram)
    itl: HdrHistogram = field(default_factory=new_histogram)
    tpot: HdrHistogram = field(default_factory=new_histogram)
    streams: int = 0
    complete: int = 0
    tokens: int = 0
    good: int = 0
    malformed: int = 0

    def add(self, times: StreamTimes, good: bool) -> None:
        self.streams += 1
        self.complete += times.complete
        self.tokens += times.tokens
        self.good += good
        self.malformed += times.malformed
        if times.first_byte_s is not None:
            record_micros(self.ttfb, int(times.first_byte_s * 1_000_000))
        if times.first_token_s is not None:
            record_micros(self.ttft, int(times.first_token_s * 1_000_000))
        if times.gaps_s:
            gaps = (np.asarray(times.gaps_s) * 1_000_000).astype(np.int64)
            record_many(self.itl, gaps)
        if times.tpot_s is not None:
            record_micros(self.tpot, int(times.tpot_s * 1_000_000))

    def add_many(self, streams: StreamArrays, good: Mask) -> None:
        """:meth:`add` for arrays of streams, with the same result as adding each in turn."""
        self.streams += len(streams)
        self.complete += int(streams.complete.sum())
        self.tokens += int(streams.tokens.sum())
        self.good += int(good.sum())
        self.malformed += int(streams.malformed.sum())
        for histogram, seconds in (
            (self.ttfb, streams.first_byte_s),
            (self.ttft, streams.first_token_s),
            (self.tpot, streams.tpot_s),
            (self.itl, streams.gaps_s),
        ):
            known = seconds[~np.isnan(seconds)]
            record_many(histogram, (known * 1_000_000).astype(np.int64))

    def percentile_ms(self, which: str, percentile: float) -> float | None:
        """``which`` of ttfb, ttft, itl, tpot at ``percentile``; None when none was measured."""
        histogram: HdrHistogram = getattr(self, which)
        return _ms(histogram, percentile) if histogram.total_count else None

    def summary(self) -> dict[str, Any]:
        points = {
            which: {f"p{p}": self.percentile_ms(which, p) for p in (50, 90, 99)}
            for which in STREAM_HISTOGRAMS
        }
        return {
            "streams": self.streams,
            "complete": self.complete,
            "cut": self.streams - self.complete,
            "tokens": self.tokens,
            "good": self.good,
            "malformed_events": self.malformed,
            "ttfb_ms": points["ttfb"],
            "ttft_ms": points["ttft"],
            "itl_ms": points["itl"],
            "tpot_ms": points["tpot"],
        }

    def merge(self, other: StreamTally) -> None:
        for which in STREAM_HISTOGRAMS:
            mine, theirs = getattr(self, which), getattr(other, which)
            _add(mine, theirs, _max(theirs), _min(theirs))
        self.streams += other.streams
        self.complete += other.complete
        self.tokens += other.tokens
        self.good += other.good
        self.malformed += other.malformed

    def encode(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "streams": self.streams,
            "complete": self.complete,
            "tokens": self.tokens,
            "good": self.good,
            "malformed": self.malformed,
        }
        for which in STREAM_HISTOGRAMS:
            histogram = getattr(self, which)
            found[which] = histogram.encode()
            found[f"{which}_max_us"] = _max(histogram)
        return found

    @classmethod
    def decode(cls, encoded: dict[str, Any]) -> StreamTally:
        tally = cls(
            streams=encoded["streams"],
            complete=encoded["complete"],
            tokens=encoded["tokens"],
            good=encoded["good"],
            malformed=encoded.get("malformed", 0),
        )
        for which in STREAM_HISTOGRAMS:
            if which not in encoded:
                # Encoded before the tally kept it: left empty.
                continue
            decoded = HdrHistogram.decode(encoded[which])
            _add(getattr(tally, which), decoded, encoded[f"{which}_max_us"], _min(decoded))
        return tally


@dataclass(slots=True)
class Tally:
    """Outcomes of a set of requests: latency from intended start, service time, status codes,
    transport failures by kind, the worst queue depth / in-flight sampled meanwhile, and the
    request and response body sizes where the sender knew them."""

    latency: HdrHistogram = field(default_factory=new_histogram)
    service: HdrHistogram = field(default_factory=new_histogram)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    queue_depth: float | None = None
    inflight: float | None = None
    # Bytes of each request's and response's body; None until a size is first recorded.
    request_sizes: HdrHistogram | None = None
    response_sizes: HdrHistogram | None = None
    # Streamed answers' timings; None until a streamed answer is first recorded.
    stream: StreamTally | None = None

    def add(
        self,
        latency_s: float,
        service_s: float,
        status: int | None,
        failure: str | None,
        request_bytes: int | None = None,
        response_bytes: int | None = None,
    ) -> None:
        record_micros(self.latency, int(latency_s * 1_000_000))
        record_micros(self.service, int(service_s * 1_000_000))
        if status is not None:
            self.statuses[status] += 1
        else:
            self.failures[failure or "error"] += 1
        if request_bytes is not None:
            self.request_sizes = _record_size(self.request_sizes, request_bytes)
        if response_bytes is not None:
            self.response_sizes = _record_size(self.response_sizes, response_bytes)

    def add_many(
        self,
        latency_us: Ints,
        service_us: Ints,
        codes: Ints,
        failures: Sequence[str],
        request_bytes: Ints | None = None,
        response_bytes: Ints | None = None,
    ) -> None:
        """:meth:`add` for arrays: ``codes`` holds a status, or ``-1 - i`` for ``failures[i]``;
        a size of -1 is one nobody knows."""
        record_many(self.latency, latency_us)
        record_many(self.service, service_us)
        found, counts = np.unique(codes, return_counts=True)
        for code, count in zip(found.tolist(), counts.tolist(), strict=True):
            if code >= 0:
                self.statuses[code] += count
            else:
                self.failures[failures[-1 - code]] += count
        self.request_sizes = _record_sizes(self.request_sizes, request_bytes)
        self.response_sizes = _record_sizes(self.response_sizes, response_bytes)

    def add_stream(self, times: StreamTimes, good: bool) -> None:
        """A streamed answer's timings (its outcome is recorded by :meth:`add`)."""
        if self.stream is None:
            self.stream = StreamTally()
        self.stream.add(times, good)

    def add_streams(self, streams: StreamArrays, good: Mask) -> None:
        """:meth:`add_stream` for arrays of streams."""
        if self.stream is None:
            self.stream = StreamTally()
        self.stream.add_many(streams, good)

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
        return round(_max(self.latency) / 1000.0, 3) if self.requests else None

    def service_ms(self, percentile: float) -> float | None:
        return _ms(self.service, percentile) if self.requests else None

    def service_max_ms(self) -> float | None:
        return round(_max(self.service) / 1000.0, 3) if self.requests else None

    def distribution_ms(self) -> list[list[float]]:
        """``[percentile, latency ms]`` at each of :data:`DISTRIBUTION_PERCENTILES`, from the
        fastest request (0) to the slowest (100), rising; ``[]`` with no requests."""
        if not self.latency.total_count:
            return []
        found = _values_at(self.latency, DISTRIBUTION_PERCENTILES)
        return [
            [percentile, round(micros / 1000.0, 3)]
            for percentile, micros in zip(DISTRIBUTION_PERCENTILES, found, strict=True)
        ]

    def request_bytes(self) -> dict[str, int] | None:
        """Request body sizes: ``{"p50", "p99", "max"}`` bytes, or None when none was known."""
        return _size_summary(self.request_sizes)

    def response_bytes(self) -> dict[str, int] | None:
        """Response body sizes: ``{"p50", "p99", "max"}`` bytes, or None when none was known."""
        return _size_summary(self.response_sizes)

    def merge(self, other: Tally) -> None:
        """Add ``other``'s requests to this tally; HDR addition is exact, not an estimate."""
        _add(self.latency, other.latency, _max(other.latency), _min(other.latency))
        _add(self.service, other.service, _max(other.service), _min(other.service))
        self.statuses.update(other.statuses)
        self.failures.update(other.failures)
        if other.queue_depth is not None or other.inflight is not None:
            self.sample(other.queue_depth, other.inflight)
        self.request_sizes = _merge_sizes(self.request_sizes, other.request_sizes)
        self.response_sizes = _merge_sizes(self.response_sizes, other.response_sizes)
        if other.stream is not None:
            if self.stream is None:
                self.stream = StreamTally()
            self.stream.merge(other.stream)

    def encode(self) -> dict[str, Any]:
        """A plain, picklable and JSON-able form; histograms in HDR's compressed encoding."""
        return {
            "latency": self.latency.encode(),
            "service": self.service.encode(),
            # HDR's encoding keeps the extremes only to their buckets; the exact values travel
            # beside it.
            "latency_max_us": _max(self.latency),
            "latency_min_us": _min(self.latency),
            "service_max_us": _max(self.service),
            "statuses": {str(code): n for code, n in self.statuses.items()},
            "failures": dict(self.failures),
            "queue_depth": self.queue_depth,
            "inflight": self.inflight,
            **_encode_sizes("request_sizes", self.request_sizes),
            **_encode_sizes("response_sizes", self.response_sizes),
            "stream": None if self.stream is None else self.stream.encode(),
        }

    def merge_encoded(self, encoded: dict[str, Any]) -> None:
        latency, service = (HdrHistogram.decode(encoded[k]) for k in ("latency", "service"))
        _add(
            self.latency,
            latency,
            encoded.get("latency_max_us", _max(latency)),
            encoded.get("latency_min_us", _min(latency)),
        )
        _add(self.service, service, encoded.get("service_max_us", _max(service)), _min(service))
        self.statuses.update({int(code): n for code, n in encoded["statuses"].items()})
        self.failures.update(encoded["failures"])
        self.sample(encoded["queue_depth"], encoded["inflight"])
        for key in ("request_sizes", "response_sizes"):
            if encoded.get(key) is not None:
                merged = _merge_sizes(
                    getattr(self, key), HdrHistogram.decode(encoded[key]), encoded[f"{key}_max"]
                )
                setattr(self, key, merged)
        if encoded.get("stream") is not None:
            decoded = StreamTally.decode(encoded["stream"])
            if self.stream is None:
                self.stream = decoded
            else:
                self.stream.merge(decoded)


def _encode_sizes(key: str, histogram: HdrHistogram | None) -> dict[str, Any]:
    if histogram is None or not histogram.total_count:
        return {key: None}
    return {key: histogram.encode(), f"{key}_max": _max(histogram)}


@dataclass(slots=True)
class Bucket(Tally):
    """One second of the run, by intended start time, at the timeline's coarser precision; also
    how late the generator sent that second's requests (``lag``: sent - intended start)."""

    latency: HdrHistogram = field(default_factory=new_timeline_histogram)
    service: HdrHistogram = field(default_factory=new_timeline_histogram)
    second: int = 0
    offered: int = 0
    lag: HdrHistogram = field(default_factory=new_timeline_histogram)

    def add_lag(self, lag_s: float) -> None:
        record_micros(self.lag, int(lag_s * 1_000_000))

    def add_lags(self, lag_us: Ints) -> None:
        record_many(self.lag, lag_us)

    def lag_ms(self, percentile: float) -> float | None:
        """The scheduling lag at ``percentile``; None when no request of this second was sent."""
        if not self.lag.total_count:
            return None
        return round(_values_at(self.lag, (percentile,))[0] / 1000.0, 3)

    def merge(self, other: Tally) -> None:
        Tally.merge(self, other)
        if isinstance(other, Bucket):
            _add(self.lag, other.lag, _max(other.lag), _min(other.lag))
            self.offered += other.offered

    def encode(self) -> dict[str, Any]:
        return {
            **Tally.encode(self),
            "second": self.second,
            "offered": self.offered,
            "lag": self.lag.encode(),
            "lag_max_us": _max(self.lag),
        }

    def reuse(self, second: int) -> None:
        """Empty this bucket for another second, keeping its histograms' memory."""
        for histogram in (self.latency, self.service, self.lag):
            np.ctypeslib.as_array(histogram.counts)[:] = 0
            histogram.total_count, histogram.min_value, histogram.max_value = 0, sys.maxsize, 0
        self.statuses.clear()
        self.failures.clear()
        self.queue_depth = self.inflight = None
        self.request_sizes = self.response_sizes = None
        self.stream = None
        self.second, self.offered = second, 0

    def merge_encoded(self, encoded: dict[str, Any]) -> None:
        Tally.merge_encoded(self, encoded)
        self.offered += encoded["offered"]
        lag = HdrHistogram.decode(encoded["lag"])
        _add(self.lag, lag, encoded["lag_max_us"], _min(lag))

    @classmethod
    def decode(cls, encoded: dict[str, Any]) -> Bucket:
        bucket = cls(second=encoded["second"])
        bucket.merge_encoded(encoded)
        return bucket
