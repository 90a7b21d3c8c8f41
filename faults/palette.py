"""A fault palette: the faults an exploration may draw, on which targets, how strong, how long.

A palette bounds a search. Every magnitude is a range read from its mild end, so that a search
that shrinks toward the first level of a range shrinks toward a milder fault: the lowest
latency, the smallest share of aborted calls, the highest rate limit, the smallest surge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from faults.container import Crash, Pause, Stop
from faults.http import Abort, HttpError, RateLimit
from faults.network import ProxyDown, Toxic
from faults.schedule import Fault
from faults.traffic import Surge

__all__ = [
    "MAGNITUDE_KEYS",
    "PALETTE_KINDS",
    "FaultChoice",
    "Magnitude",
    "Palette",
    "default_step",
    "mild_high",
]

# The fault kinds a palette may name, and the key of the range each one draws its magnitude
# from (None: a fault with no magnitude, such as a crash).
MAGNITUDE_KEYS: dict[str, str | None] = {
    "latency": "latency_ms",
    "abort": "percentage",
    "rate_limit": "rps",
    "surge": "factor",
    "crash": None,
    "stop": None,
    "pause": None,
    "down": None,
}
PALETTE_KINDS = tuple(MAGNITUDE_KEYS)
# Ranges whose mild end is their high end: a higher rate limit lets more calls through.
_MILD_HIGH = frozenset({"rate_limit"})
# The default step between two levels of each range: whole milliseconds, whole percent and
# calls per second, half a surge factor, so a shrunk fault reads as a round number.
DEFAULT_STEPS: dict[str, float] = {"latency": 5.0, "abort": 5.0, "rate_limit": 1.0, "surge": 0.5}


@dataclass(frozen=True, slots=True)
class Magnitude:
    """A range ``low``..``high`` cut into levels ``step`` apart; level 0 is the mild end
    (``low``, or ``high`` when ``mild_high``) and the last level the other end."""

    low: float
    high: float
    step: float
    mild_high: bool = False

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"expected a finite number but got {name}={value!r}")
        if self.low > self.high:
            raise ValueError(f"expected low <= high but got low={self.low!r}, high={self.high!r}")
        if self.step <= 0:
            raise ValueError(f"expected step > 0 but got step={self.step!r}")

    @property
    def levels(self) -> int:
        """The last level's index: the range holds ``levels + 1`` values."""
        whole = math.floor((self.high - self.low) / self.step + 1e-9)
        reaches_end = math.isclose(self.low + whole * self.step, self.high)
        return whole if reaches_end else whole + 1

    def at(self, level: int) -> float:
        """The value of ``level`` (clamped to the range), from the mild end."""
        if not 0 <= level <= self.levels:
            raise ValueError(f"expected level in 0..{self.levels} but got level={level!r}")
        distance = level * self.step
        value = self.high - distance if self.mild_high else self.low + distance
        value = min(max(value, self.low), self.high)
        return round(value, 6)


@dataclass(frozen=True, slots=True)
class FaultChoice:
    """One kind of fault a palette may draw, the targets it may aim at, and how strong.

    ``status`` is an abort's answer, ``burst`` a rate limit's bucket, ``rise_s`` a surge's
    climb; each is fixed, only ``magnitude`` varies."""

    kind: str
    targets: tuple[str, ...]
    magnitude: Magnitude | None = None
    status: int = 503
    burst: int = 1
    rise_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in MAGNITUDE_KEYS:
            raise ValueError(
                f"expected kind among {list(PALETTE_KINDS)} but got kind={self.kind!r}"
            )
        if not self.targets:
            raise ValueError(f"expected at least one target for a {self.kind} fault")
        needs = MAGNITUDE_KEYS[self.kind] is not None
        if needs != (self.magnitude is not None):
            wanted = "a magnitude" if needs else "no magnitude"
            raise ValueError(f"expected {wanted} for a {self.kind} fault")

    @property
    def levels(self) -> int:
        return 0 if self.magnitude is None else self.magnitude.levels

    def value(self, level: int) -> float | None:
        return None if self.magnitude is None else self.magnitude.at(level)

    def build(self, target: str, level: int) -> Fault:
        """The fault of this kind on ``target`` at magnitude ``level``."""
        value = self.value(level)
        if self.kind == "latency":
            return Toxic("latency", target, {"latency": int(value or 0), "jitter": 0})
        if self.kind == "abort":
            return HttpError(target, (Abort(status=self.status, percentage=float(value or 0)),))
        if self.kind == "rate_limit":
            return HttpError(target, (RateLimit(rps=float(value or 1), burst=self.burst),))
        if self.kind == "surge":
            return Surge(target, factor=float(value or 1), rise_s=self.rise_s)
        if self.kind == "crash":
            return Crash(target)
        if self.kind == "stop":
            return Stop(target)
        if self.kind == "pause":
            return Pause(target)
        return ProxyDown(target)


@dataclass(frozen=True, slots=True)
class Palette:
    """What an exploration may draw: ``choices`` (in the order a shrink prefers them), each run
    ``run_s`` seconds long, windows of ``min_window_s``..``max_window_s`` starting on a grid of
    ``step_s`` from ``first_start_s``, and at most ``max_faults`` faults in one schedule (at
    most one per kind and target, so at most one surge).

    No fault starts before ``first_start_s``, so every run's baseline phase measures the
    system before any fault: a fault at 0 would leave it a request or two, already slowed."""

    choices: tuple[FaultChoice, ...]
    run_s: float
    max_window_s: float
    min_window_s: float = 1.0
    step_s: float = 0.5
    max_faults: int = 2
    name: str = ""
    first_start_s: float = 0.5

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError("expected at least one fault kind in a palette")
        if not (math.isfinite(self.step_s) and self.step_s > 0):
            raise ValueError(f"expected step_s > 0 but got step_s={self.step_s!r}")
        if not (math.isfinite(self.run_s) and self.run_s >= self.step_s):
            raise ValueError(f"expected run_s >= step_s but got run_s={self.run_s!r}")
        if not self.step_s <= self.min_window_s <= self.max_window_s:
            raise ValueError(
                f"expected step_s <= min_window_s <= max_window_s but got "
                f"min_window_s={self.min_window_s!r}, max_window_s={self.max_window_s!r}"
            )
        if self.max_window_s > self.run_s:
            raise ValueError(
                f"expected a window no longer than the run (run_s={self.run_s:g}) but got "
                f"max_window_s={self.max_window_s!r}"
            )
        if not 0 <= self.first_start_s <= self.run_s - self.min_window_s:
            raise ValueError(
                f"expected 0 <= first_start_s <= run_s - min_window_s "
                f"({self.run_s - self.min_window_s:g}) but got first_start_s={self.first_start_s!r}"
            )
        if self.window_steps[0] > self.run_steps:
            raise ValueError(
                f"expected room for a window of min_window_s={self.min_window_s:g} on the grid "
                f"after first_start_s={self.first_start_s:g} in run_s={self.run_s:g}"
            )
        if isinstance(self.max_faults, bool) or self.max_faults < 1:
            raise ValueError(f"expected max_faults >= 1 but got max_faults={self.max_faults!r}")

    @property
    def run_steps(self) -> int:
        """Steps from ``first_start_s`` to the end of the run."""
        return math.floor((self.run_s - self.first_start_s) / self.step_s + 1e-9)

    @property
    def window_steps(self) -> tuple[int, int]:
        """The shortest and longest window, in steps."""
        shortest = math.ceil(self.min_window_s / self.step_s - 1e-9)
        longest = math.floor(self.max_window_s / self.step_s + 1e-9)
        return shortest, min(longest, self.run_steps)

    @property
    def options(self) -> tuple[tuple[FaultChoice, str], ...]:
        """Every (choice, target) pair, in the palette's order."""
        return tuple((choice, target) for choice in self.choices for target in choice.targets)


def default_step(kind: str) -> float:
    """The step between levels of ``kind``'s range when a palette names none."""
    return DEFAULT_STEPS.get(kind, 1.0)


def mild_high(kind: str) -> bool:
    """Whether ``kind``'s mild end is the high end of its range."""
    return kind in _MILD_HIGH
