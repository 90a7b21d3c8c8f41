"""A sink that hands outcomes to a recorder a few thousand at a time.

Recording one request into its second's and its phases' HDR histograms costs a few microseconds
of Python; at tens of thousands of requests per second that is a good part of a core taken from
sending. Buffered here as plain numbers, they are recorded with numpy in one go
(:meth:`Recorder.completed_many`), with the same result as recording each in turn.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from harness.loadgen.histograms import Floats, Ints
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats

__all__ = ["BATCH", "Batch", "Recording"]


class Recording(Protocol):
    """Where a batch goes: a :class:`Recorder`, or a Ray shard's shipment to its driver."""

    def offered_many(self, intended: Floats) -> None: ...

    def completed_many(
        self,
        intended: Floats,
        sent: Floats,
        done: Floats,
        codes: Ints,
        failures: Sequence[str],
        request_bytes: Ints | None = None,
        response_bytes: Ints | None = None,
    ) -> None: ...


# Requests buffered before they are recorded: large enough that numpy's per-call cost vanishes,
# small enough (a few hundred KB) to be nothing next to the histograms.
BATCH = 4096


class Batch:
    """A :class:`~harness.loadgen.engine.Sink` in front of ``recorder``; :meth:`flush` before
    reading the recorder."""

    def __init__(self, recorder: Recording, size: int = BATCH) -> None:
        _warm_up()
        self.recorder = recorder
        self._size = size
        self._offered = array("d")
        self._intended, self._sent, self._done = array("d"), array("d"), array("d")
        # A status code, or -1 - i for the i-th failure name.
        self._codes = array("q")
        self._failures: dict[str, int] = {}
        # Body sizes in bytes, -1 where the engine did not know one.
        self._request_bytes, self._response_bytes = array("q"), array("q")

    def offered(self, intended: float) -> None:
        self._offered.append(intended)
        if len(self._offered) >= self._size:
            self._flush_offered()

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
        self._intended.append(intended)
        self._sent.append(sent)
        self._done.append(done)
        self._request_bytes.append(-1 if request_bytes is None else request_bytes)
        self._response_bytes.append(-1 if response_bytes is None else response_bytes)
        if status is None:
            name = failure or "error"
            code = self._failures.get(name)
            if code is None:
                code = self._failures[name] = -1 - len(self._failures)
            status = code
        self._codes.append(status)
        if len(self._codes) >= self._size:
            self._flush_completed()

    def flush(self) -> None:
        self._flush_offered()
        self._flush_completed()

    def _flush_offered(self) -> None:
        if self._offered:
            self.recorder.offered_many(_take(self._offered, np.float64))

    def _flush_completed(self) -> None:
        if not self._codes:
            return
        self.recorder.completed_many(
            _take(self._intended, np.float64),
            _take(self._sent, np.float64),
            _take(self._done, np.float64),
            _take(self._codes, np.int64),
            list(self._failures),
            _take(self._request_bytes, np.int64),
            _take(self._response_bytes, np.int64),
        )


@functools.cache
def _warm_up() -> None:
    """numpy sets up parts of what a flush uses on first use, which takes milliseconds: done
    once per process before any request, on throwaway data, so that the first flush of a run
    does not hold up sending."""
    times = np.array([0.5, 1.5])
    recorder = Recorder()
    recorder.offered_many(times)
    sizes = np.array([10, -1])
    codes = np.array([200, -1])
    recorder.completed_many(times, times, times + 0.001, codes, ["timeout"], sizes, sizes)
    GeneratorStats().record_lags(times)


def _take(buffer: array, dtype: type[np.generic]) -> np.ndarray:  # type: ignore[type-arg]
    """A copy of ``buffer`` as a numpy array; the buffer is emptied."""
    found = np.frombuffer(buffer, dtype=dtype).copy()
    del buffer[:]
    return found
