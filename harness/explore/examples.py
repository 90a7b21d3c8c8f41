"""One example of an exploration: the scenario with a generated schedule in place of its own
faults, what its run said, and how it reads in a log line."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from faults import HttpError, ScheduledFault, Surge, Toxic
from faults.http import Abort, RateLimit
from harness.scenario.budgets import RECOVERY_TIME, Budget
from harness.scenario.spec import Scenario
from harness.verdict.results import RunResult

__all__ = [
    "FAIL",
    "FLAKY_VERDICT",
    "INVALID",
    "NOT_JUDGED",
    "PASS",
    "Example",
    "base_scenario",
    "describe_fault",
    "describe_schedule",
    "judge",
    "schedule_entry",
    "with_schedule",
]

PASS, FAIL, INVALID, NOT_JUDGED = "pass", "FAIL", "invalid", "not judged"
# A schedule that broke a budget once and held when run again.
FLAKY_VERDICT = "flaky"
# Budgets that only mean something when a schedule has faults.
_NEEDS_FAULTS = frozenset({"baseline", "recovery"})


@dataclass(frozen=True, slots=True)
class Example:
    """One schedule tried: its verdict (pass, FAIL, invalid, not judged), the budgets it broke
    with what was observed, and how long its run took."""

    index: int
    schedule: tuple[ScheduledFault, ...]
    verdict: str
    duration_s: float
    broken: tuple[str, ...] = ()
    stage: str = "search"

    def to_json(self) -> dict[str, Any]:
        return {
            "example": self.index,
            "stage": self.stage,
            "schedule": [schedule_entry(fault) for fault in self.schedule],
            "summary": describe_schedule(self.schedule),
            "verdict": self.verdict,
            "broken": list(self.broken),
            "duration_s": round(self.duration_s, 3),
        }

    def line(self) -> str:
        broken = f"  ({'; '.join(self.broken)})" if self.broken else ""
        return (
            f"example {self.index:>3} {f'[{self.stage}]':<8} {self.verdict:<10} "
            f"{self.duration_s:5.1f}s  "
            f"{describe_schedule(self.schedule)}{broken}"
        )


def base_scenario(scenario: Scenario, run_s: float) -> tuple[Scenario, tuple[Budget, ...]]:
    """The scenario every example starts from: its system, load (lasting ``run_s``) and
    budgets, without its own faults. Budgets on its faults' windows (``during:NAME``) name
    faults the examples do not have: they are dropped and returned."""
    dropped = tuple(b for b in scenario.budgets if b.phase.startswith("during:"))
    kept = tuple(b for b in scenario.budgets if b not in dropped)
    load = replace(scenario.load, duration_s=run_s)
    return replace(scenario, faults=(), budgets=kept, load=load), dropped


def with_schedule(base: Scenario, schedule: tuple[ScheduledFault, ...]) -> Scenario:
    """``base`` with ``schedule`` as its faults; without faults, the budgets that need one
    (baseline, recovery, recovery_time_s) are left out, as a scenario file would have to."""
    budgets = base.budgets
    if not schedule:
        budgets = tuple(
            b for b in budgets if b.phase not in _NEEDS_FAULTS and b.metric != RECOVERY_TIME
        )
    return replace(base, faults=schedule, budgets=budgets)


def judge(result: RunResult) -> tuple[str, tuple[str, ...]]:
    """An example's verdict: FAIL when a budget broke on something measured (or an
    abort_on_fail budget stopped the run); invalid when the run measured itself (the
    generator fell behind); not judged when the only budgets that broke had nothing to judge
    (a phase the schedule left empty); else pass."""
    if not result.valid:
        return INVALID, tuple(result.notes)
    measured = [b for b in result.failed_budgets if b.observed is not None]
    broken = tuple(
        f"{b.budget.label} [{b.budget.phase}]: observed {b.observed:.4g}" for b in measured
    )
    if result.aborted is not None:
        return FAIL, broken or (f"aborted: {result.aborted.get('budget')}",)
    if measured:
        return FAIL, broken
    if result.failed_budgets:
        return NOT_JUDGED, tuple(b.note for b in result.failed_budgets)
    return PASS, ()


def describe_fault(scheduled: ScheduledFault) -> str:
    """``latency-feature-store 45ms 0.5-1.5s``: name, magnitude and window."""
    fault = scheduled.fault
    magnitude = ""
    if isinstance(fault, Toxic) and fault.type == "latency":
        magnitude = f" {fault.attributes.get('latency', 0)}ms"
    elif isinstance(fault, Surge):
        magnitude = f" x{fault.factor:g}"
    elif isinstance(fault, HttpError) and len(fault.faults) == 1:
        spec = fault.faults[0]
        if isinstance(spec, Abort):
            magnitude = f" {spec.percentage:g}% {spec.status}"
        elif isinstance(spec, RateLimit):
            magnitude = f" {spec.rps:g} rps"
    return f"{scheduled.name}{magnitude} {scheduled.start_s:g}-{scheduled.end_s:g}s"


def describe_schedule(schedule: tuple[ScheduledFault, ...]) -> str:
    return " + ".join(describe_fault(f) for f in schedule) if schedule else "no faults"


def schedule_entry(scheduled: ScheduledFault) -> dict[str, Any]:
    return {
        "name": scheduled.name,
        "fault": scheduled.fault.describe(),
        "start_s": scheduled.start_s,
        "duration_s": scheduled.duration_s,
    }
