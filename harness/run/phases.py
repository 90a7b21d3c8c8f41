"""Phases of a run: baseline, during each fault, recovery, from the faults' actual apply and
revert times as they happen."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.loadgen.histograms import Floats, Mask

__all__ = ["PhaseClock"]


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
