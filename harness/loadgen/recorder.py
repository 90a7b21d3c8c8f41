"""Everything a load measured, in bounded memory: counts and HDR histograms per second, and
per phase when a phase clock says which phases a moment belongs to. A request belongs to the
phases active at its *intended* start."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, overload

import numpy as np

from harness.loadgen.histograms import Bucket, Floats, Ints, Mask, Tally
from harness.loadgen.streams import StreamArrays, StreamTimes

__all__ = [
    "DENSE_SECONDS",
    "OverallOnly",
    "Phases",
    "Recorder",
    "Seconds",
    "Timeline",
    "timeline_row",
]

# Seconds of the timeline kept as live histograms; older ones are kept HDR-encoded (a few
# hundred bytes) and decoded only when read, so memory stays flat however long a run is.
DENSE_SECONDS = 32


class Phases(Protocol):
    """Which phases a moment belongs to; ``overall`` always, others as the caller defines."""

    def phase_names(self) -> list[str]: ...

    def phases_at(self, t: float) -> list[str]: ...

    def members(self, phase: str, t: Floats) -> Mask: ...

    def spans(self, run_s: float) -> dict[str, tuple[float, float]]:
        """Where each phase lies within a run of ``run_s`` seconds: (start, end)."""
        ...


class OverallOnly:
    """The phase clock of a plain load: every moment is in ``overall`` and nothing else."""

    def phase_names(self) -> list[str]:
        return ["overall"]

    def phases_at(self, t: float) -> list[str]:
        return ["overall"]

    def members(self, phase: str, t: Floats) -> Mask:
        return np.full(len(t), phase == "overall", dtype=np.bool_)

    def spans(self, run_s: float) -> dict[str, tuple[float, float]]:
        return {"overall": (0.0, run_s)}


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


class Recorder:
    """Collects request outcomes; every time is in seconds since load started.

    :meth:`offered_many`, :meth:`completed_many`, :meth:`streamed`, :meth:`streamed_many`,
    :meth:`gauge` and :meth:`snapshot` may be called from two threads (a load engine's and the
    runner's); the other one-request methods are for a single thread.
    """

    def __init__(self, clock: Phases | None = None, dense_seconds: int = DENSE_SECONDS) -> None:
        self.clock: Phases = clock or OverallOnly()
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
        self,
        intended: float,
        sent: float,
        done: float,
        *,
        status: int | None,
        failure: str | None,
        request_bytes: int | None = None,
        response_bytes: int | None = None,
    ) -> None:
        """One request: ``status`` when a response came back, else ``failure`` names why not;
        the sizes of its request and response bodies when the sender knows them. Phases get
        the sizes; seconds get the scheduling lag (``sent - intended``)."""
        latency, service = done - intended, done - sent
        bucket = self.bucket(intended)
        bucket.add(latency, service, status, failure)
        bucket.add_lag(sent - intended)
        phases = self.phases
        for phase in self.clock.phases_at(intended):
            phases[phase].add(latency, service, status, failure, request_bytes, response_bytes)

    def streamed(self, intended: float, times: StreamTimes, good: bool) -> None:
        """How a streamed answer's tokens arrived, beside its :meth:`completed` outcome;
        ``good`` when it met the run's objectives. Locked like the batch methods: the
        self-paced engines call it from their own thread."""
        with self._lock:
            self.bucket(intended).add_stream(times, good)
            phases = self.phases
            for phase in self.clock.phases_at(intended):
                phases[phase].add_stream(times, good)

    def streamed_many(self, intended: Floats, streams: StreamArrays, good: Mask) -> None:
        """:meth:`streamed` for arrays of streams (``intended`` one per stream): the same
        result as recording each in turn, without a Python call per stream."""
        seconds = np.maximum(intended.astype(np.int64), 0)
        with self._lock:
            for second in np.unique(seconds).tolist():
                mine = seconds == second
                self.bucket(second).add_streams(streams.pick(mine), good[mine])
            for name, tally in self.phases.items():
                mine = self.clock.members(name, intended)
                if mine.all():
                    tally.add_streams(streams, good)
                elif mine.any():
                    tally.add_streams(streams.pick(mine), good[mine])

    def completed_many(
        self,
        intended: Floats,
        sent: Floats,
        done: Floats,
        codes: Ints,
        failures: Sequence[str],
        request_bytes: Ints | None = None,
        response_bytes: Ints | None = None,
    ) -> None:
        """:meth:`completed` for arrays of requests; ``codes`` as in :meth:`Tally.add_many`, and
        a size of -1 for one the sender did not know."""
        # The same float arithmetic as completed(), so both record identical microseconds.
        latency = ((done - intended) * 1_000_000).astype(np.int64)
        service = ((done - sent) * 1_000_000).astype(np.int64)
        lag = ((sent - intended) * 1_000_000).astype(np.int64)
        seconds = np.maximum(intended.astype(np.int64), 0)
        sizes = _Sizes(request_bytes, response_bytes)
        with self._lock:
            self._add_many(intended, seconds, latency, service, lag, codes, failures, sizes)

    def _add_many(
        self,
        intended: Floats,
        seconds: Ints,
        latency: Ints,
        service: Ints,
        lag: Ints,
        codes: Ints,
        failures: Sequence[str],
        sizes: _Sizes,
    ) -> None:
        for second in np.unique(seconds).tolist():
            mine = seconds == second
            bucket = self.bucket(second)
            bucket.add_many(latency[mine], service[mine], codes[mine], failures)
            bucket.add_lags(lag[mine])
        for name, tally in self.phases.items():
            mine = self.clock.members(name, intended)
            if mine.all():
                tally.add_many(latency, service, codes, failures, *sizes)
            elif mine.any():
                picked = sizes.pick(mine)
                tally.add_many(latency[mine], service[mine], codes[mine], failures, *picked)

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

    def phase_snapshot(self, phase: str) -> Tally:
        """A copy of one phase's tally as it stands, safe to read while another thread records."""
        copy = Tally()
        with self._lock:
            copy.merge(self.phases[phase])
        return copy

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


class _Sizes(NamedTuple):
    """A batch's request and response body sizes (-1 where unknown), or None for no sizes."""

    request: Ints | None
    response: Ints | None

    def pick(self, mine: Mask) -> _Sizes:
        request, response = self
        return _Sizes(
            None if request is None else request[mine],
            None if response is None else response[mine],
        )


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
        # How late the generator sent this second's requests: its own delay, not the endpoint's.
        "lag_p99_ms": bucket.lag_ms(99),
        "queue_depth": bucket.queue_depth,
        "inflight": bucket.inflight,
        **_stream_row(bucket),
    }


def _stream_row(bucket: Bucket) -> dict[str, Any]:
    """A second's streamed answers (only in runs of streams): first token and gaps, tokens."""
    stream = bucket.stream
    if stream is None:
        return {}
    return {
        "ttft_p50_ms": stream.percentile_ms("ttft", 50),
        "ttft_p99_ms": stream.percentile_ms("ttft", 99),
        "itl_p99_ms": stream.percentile_ms("itl", 99),
        "tokens": stream.tokens,
        "good": stream.good,
    }


class Seconds(Sequence[Bucket]):
    """Every second of a timeline in order, each decoded only when read: what a run's result
    holds instead of every second's histograms at once, so memory stays flat however long."""

    def __init__(self, timeline: Mapping[int, Bucket]) -> None:
        self._timeline = timeline
        self._keys = list(timeline)

    @overload
    def __getitem__(self, index: int) -> Bucket: ...

    @overload
    def __getitem__(self, index: slice) -> list[Bucket]: ...

    def __getitem__(self, index: int | slice) -> Bucket | list[Bucket]:
        if isinstance(index, slice):
            return [self._timeline[key] for key in self._keys[index]]
        return self._timeline[self._keys[index]]

    def __len__(self) -> int:
        return len(self._keys)
