"""Arrival schedules: pure value objects that say *when* each request should start.

Every shape yields intended send offsets in seconds from the start of the run, in order, bounded
by its duration (and so in count). A rate shape is turned into offsets by integrating its rate:
request ``k`` starts where the expected number of arrivals so far reaches ``k``, so a ramp or a
sine keeps its exact area instead of drifting the way ``t += 1 / rate(t)`` would.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from harness.errors import UsageError

__all__ = [
    "Constant",
    "Poisson",
    "Ramp",
    "Rates",
    "Replay",
    "Shape",
    "Sine",
    "Spike",
    "Step",
    "peak_rate",
    "take_share",
]

# Integration step for rate shapes: fine enough that no shape here changes noticeably within it.
_STEP_S = 0.001


class Shape(Protocol):
    """What the engine needs from an arrival schedule."""

    @property
    def label(self) -> str: ...

    @property
    def duration_s(self) -> float: ...

    def offsets(self) -> Iterator[float]: ...

    def rate_at(self, t: float) -> float: ...


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok or math.isinf(value) or math.isnan(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"expected {name} {bound} but got {name}={value!r}")


def _integrate(shape: Shape) -> Iterator[float]:
    """Offsets where the running integral of ``shape.rate_at`` crosses each whole number."""
    total, k = 0.0, 0
    end = shape.duration_s
    # Slice times come from integer counts, so a rate change at a whole second lands on a
    # slice boundary instead of drifting across it.
    for i in range(math.ceil(end / _STEP_S - 1e-9)):
        t = i * _STEP_S
        h = min(_STEP_S, end - t)
        rate = shape.rate_at(t + h / 2)
        gained = rate * h
        # Every whole arrival inside this slice, placed linearly within it.
        while rate > 0 and k < total + gained - 1e-6:
            yield t + max(k - total, 0.0) / rate
            k += 1
        total += gained


@dataclass(frozen=True, slots=True)
class Constant:
    rate: float
    duration_s: float

    def __post_init__(self) -> None:
        _positive("rate", self.rate)
        _positive("duration", self.duration_s)

    @property
    def label(self) -> str:
        return f"constant {self.rate:g}/s"

    def rate_at(self, t: float) -> float:
        return self.rate if 0 <= t < self.duration_s else 0.0

    def offsets(self) -> Iterator[float]:
        # Exact multiples rather than an integral: the common case stays free of rounding.
        count = max(math.floor(self.rate * self.duration_s + 1e-9), 1)
        interval = 1.0 / self.rate
        return (i * interval for i in range(count))


@dataclass(frozen=True, slots=True)
class Ramp:
    """Linear from ``start_rate`` to ``end_rate`` over the whole duration."""

    start_rate: float
    end_rate: float
    duration_s: float

    def __post_init__(self) -> None:
        _positive("start rate", self.start_rate, allow_zero=True)
        _positive("end rate", self.end_rate, allow_zero=True)
        _positive("duration", self.duration_s)
        if self.start_rate == self.end_rate == 0:
            raise UsageError("expected a ramp with some rate but got start=0 and end=0")

    @property
    def label(self) -> str:
        return f"ramp {self.start_rate:g}->{self.end_rate:g}/s"

    def rate_at(self, t: float) -> float:
        if not 0 <= t < self.duration_s:
            return 0.0
        return self.start_rate + (self.end_rate - self.start_rate) * t / self.duration_s

    def offsets(self) -> Iterator[float]:
        return _integrate(self)


@dataclass(frozen=True, slots=True)
class Step:
    """Starts at ``start_rate`` and adds ``step_rate`` every ``every_s`` seconds."""

    start_rate: float
    step_rate: float
    every_s: float
    duration_s: float

    def __post_init__(self) -> None:
        _positive("start rate", self.start_rate)
        _positive("step every", self.every_s)
        _positive("duration", self.duration_s)
        if not math.isfinite(self.step_rate):
            raise UsageError(f"expected a finite step rate but got step={self.step_rate!r}")

    @property
    def label(self) -> str:
        return f"step {self.start_rate:g}/s {self.step_rate:+g}/s every {self.every_s:g}s"

    def rate_at(self, t: float) -> float:
        if not 0 <= t < self.duration_s:
            return 0.0
        return max(self.start_rate + self.step_rate * math.floor(t / self.every_s), 0.0)

    def offsets(self) -> Iterator[float]:
        return _integrate(self)


@dataclass(frozen=True, slots=True)
class Spike:
    """A surge: ``baseline`` until ``at_s``, up to ``factor`` x baseline within ``rise_s``,
    held for ``hold_s``, then straight back to baseline for the rest of the run."""

    baseline: float
    factor: float
    at_s: float
    rise_s: float
    hold_s: float
    duration_s: float

    def __post_init__(self) -> None:
        _positive("rate", self.baseline)
        _positive("spike factor", self.factor)
        _positive("spike at", self.at_s, allow_zero=True)
        _positive("spike rise", self.rise_s, allow_zero=True)
        _positive("spike hold", self.hold_s, allow_zero=True)
        _positive("duration", self.duration_s)

    @property
    def label(self) -> str:
        return (
            f"spike {self.baseline:g}/s x{self.factor:g} at {self.at_s:g}s "
            f"(rise {self.rise_s:g}s, hold {self.hold_s:g}s)"
        )

    def rate_at(self, t: float) -> float:
        if not 0 <= t < self.duration_s:
            return 0.0
        peak = self.baseline * self.factor
        since = t - self.at_s
        if since < 0 or since >= self.rise_s + self.hold_s:
            return self.baseline
        if since < self.rise_s:
            return self.baseline + (peak - self.baseline) * since / self.rise_s
        return peak

    def offsets(self) -> Iterator[float]:
        return _integrate(self)


@dataclass(frozen=True, slots=True)
class Sine:
    """Diurnal-style wave: ``rate`` +/- ``amplitude`` with the given period, never below 0."""

    rate: float
    amplitude: float
    period_s: float
    duration_s: float

    def __post_init__(self) -> None:
        _positive("rate", self.rate)
        _positive("sine amplitude", self.amplitude, allow_zero=True)
        _positive("sine period", self.period_s)
        _positive("duration", self.duration_s)

    @property
    def label(self) -> str:
        return f"sine {self.rate:g}+/-{self.amplitude:g}/s period {self.period_s:g}s"

    def rate_at(self, t: float) -> float:
        if not 0 <= t < self.duration_s:
            return 0.0
        wave = self.rate + self.amplitude * math.sin(2 * math.pi * t / self.period_s)
        return max(wave, 0.0)

    def offsets(self) -> Iterator[float]:
        return _integrate(self)


@dataclass(frozen=True, slots=True)
class Poisson:
    """Independent arrivals at mean ``rate``; the seed makes a run repeatable."""

    rate: float
    duration_s: float
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("rate", self.rate)
        _positive("duration", self.duration_s)

    @property
    def label(self) -> str:
        return f"poisson {self.rate:g}/s seed {self.seed}"

    def rate_at(self, t: float) -> float:
        return self.rate if 0 <= t < self.duration_s else 0.0

    def offsets(self) -> Iterator[float]:
        draw = random.Random(self.seed).expovariate
        t = draw(self.rate)
        while t < self.duration_s:
            yield t
            t += draw(self.rate)


@dataclass(frozen=True, slots=True)
class Replay:
    """Recorded request start times (seconds from the first one), replayed as they were."""

    times: tuple[float, ...]
    source: str = "trace"

    def __post_init__(self) -> None:
        if not self.times:
            raise UsageError(f"expected at least one request time but {self.source} has none")
        if any(b < a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise UsageError(f"expected request times in order but {self.source} is not sorted")

    @property
    def label(self) -> str:
        return f"trace {self.source} ({len(self.times)} requests)"

    @property
    def duration_s(self) -> float:
        # The last request needs a moment of its own, or its second would look empty.
        return self.times[-1] + 1e-3

    def rate_at(self, t: float) -> float:
        second = math.floor(t)
        return float(bisect_left(self.times, second + 1) - bisect_left(self.times, second))

    def offsets(self) -> Iterator[float]:
        return iter(self.times)


@dataclass(frozen=True, slots=True)
class Rates:
    """Replay of a per-second rate series: ``rates[i]`` requests/s during second ``i``."""

    rates: tuple[float, ...]
    source: str = "trace"

    def __post_init__(self) -> None:
        if not self.rates or not any(r > 0 for r in self.rates):
            raise UsageError(f"expected some positive rates but {self.source} has none")
        for i, rate in enumerate(self.rates):
            if rate < 0 or not math.isfinite(rate):
                raise UsageError(f"expected rates >= 0 but {self.source} second {i} is {rate!r}")

    @property
    def label(self) -> str:
        return f"trace {self.source} ({len(self.rates)} s of rates)"

    @property
    def duration_s(self) -> float:
        return float(len(self.rates))

    def rate_at(self, t: float) -> float:
        second = math.floor(t)
        return self.rates[second] if 0 <= second < len(self.rates) else 0.0

    def offsets(self) -> Iterator[float]:
        return _integrate(self)


def take_share(offsets: Iterator[float], worker: int, workers: int) -> Iterator[tuple[int, float]]:
    """Worker ``worker`` of ``workers`` takes every ``workers``-th request (index, offset).

    Interleaving keeps every worker's share of a ramp or a spike the same shape as the whole,
    so no worker gets all the peak.
    """
    for index, offset in enumerate(offsets):
        if index % workers == worker:
            yield index, offset


def peak_rate(shape: Shape) -> float:
    """The highest rate the shape asks for, sampled every 100 ms (enough to size buffers)."""
    steps = max(int(shape.duration_s * 10), 1)
    return max(shape.rate_at(i * shape.duration_s / steps) for i in range(steps))
