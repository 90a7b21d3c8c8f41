"""Phases of a run: baseline, during each fault, recovery, from the faults' actual apply and
revert times as they happen, and each phase's statistics for the budgets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.loadgen.histograms import Floats, Mask, Tally
from harness.loadgen.recorder import Recorder
from harness.scenario.budgets import percentile_of


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


def phase_stats(recorder: Recorder, run_s: float) -> dict[str, PhaseStats]:
    """Each phase's tally with where it lies in a run of ``run_s`` seconds."""
    clock = recorder.clock
    spans = clock.spans(run_s) if isinstance(clock, PhaseClock) else {"overall": (0.0, run_s)}
    return {name: PhaseStats(name, tally, *spans[name]) for name, tally in recorder.phases.items()}
