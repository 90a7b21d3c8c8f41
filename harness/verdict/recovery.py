"""``recovery_time_s``: how long after a fault window ended the timeline was back to baseline.

A whole second of the timeline is *within* the baseline when its p99 is at most the baseline
phase's p99 x (1 + tolerance) and its error rate at most the baseline's error rate plus one
percentage point. The seconds that *follow* a window are those at least half of which lies
after the window's actual end, up to the last whole second of the run; other faults still on
count against them. The recovery time is the end of the last following second that is outside,
minus the window's end (0 when none is). A run whose last following second is still outside
never recovered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from faults import FaultWindow
from harness.loadgen.histograms import Bucket
from harness.scenario.budgets import Budget
from harness.verdict.budgets import BudgetResult
from harness.verdict.phases import PhaseStats

__all__ = ["ERROR_SLACK", "Baseline", "judge_recovery", "recovery_from"]

# How much worse than the baseline's error rate a recovered second may be: one point.
ERROR_SLACK = 0.01


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a second must be back within: a p99 and an error rate."""

    p99_ms: float
    error_rate: float

    def holds(self, bucket: Bucket) -> bool | None:
        """Whether one second is within; None for a second in which nothing was asked."""
        if not bucket.requests:
            # Offered requests that never completed (all dropped) are the worst kind of second.
            return None if not bucket.offered else False
        p99 = bucket.percentile_ms(99)
        return (
            bucket.errors / bucket.requests <= self.error_rate + 1e-12
            and p99 is not None
            and p99 <= self.p99_ms + 1e-9
        )

    def describe(self) -> str:
        return f"p99 <= {self.p99_ms:.1f} ms and error rate <= {self.error_rate:.2%}"


def recovery_from(
    end_s: float, buckets: Sequence[Bucket], baseline: Baseline, run_s: float
) -> tuple[float | None, str]:
    """Seconds from ``end_s`` until every following whole second is within ``baseline``, and
    a note saying how it was found; None when the run ended still outside."""
    judged = [
        (bucket.second, within)
        for bucket in buckets
        if bucket.second + 0.5 >= end_s and bucket.second + 1 <= run_s + 1e-9
        for within in (baseline.holds(bucket),)
        if within is not None
    ]
    if not judged:
        return None, f"no whole second of the timeline after the window's end at {end_s:.3f}s"
    last, last_within = judged[-1]
    if not last_within:
        return None, f"never recovered (still outside after {last + 1 - end_s:.1f}s)"
    outside = [second for second, within in judged if not within]
    back_at = outside[-1] + 1 if outside else end_s
    seconds = round(max(back_at - end_s, 0.0), 3)
    return seconds, f"{seconds:g}s: back within {baseline.describe()} from t={back_at:g}s"


def judge_recovery(
    budget: Budget,
    buckets: Sequence[Bucket],
    baseline: PhaseStats | None,
    faults: Sequence[FaultWindow],
    run_s: float,
) -> BudgetResult:
    """``recovery_time_s`` after the window its phase names: ``during:NAME`` after NAME's end,
    ``overall`` and ``recovery`` after the last fault's end."""
    end_s, why = _window_end(budget.phase, faults)
    if end_s is None:
        return BudgetResult(budget, None, False, why)
    if baseline is None or not baseline.requests:
        return BudgetResult(
            budget,
            None,
            False,
            "no baseline to recover to: no requests completed before the first fault",
        )
    p99, error_rate = baseline.value("p99_ms"), baseline.value("error_rate")
    if p99 is None or error_rate is None:
        return BudgetResult(budget, None, False, "the baseline's p99 was not measured")
    bound = Baseline(p99 * (1 + budget.tolerance), error_rate + ERROR_SLACK)
    seconds, note = recovery_from(end_s, buckets, bound, run_s)
    if seconds is None:
        return BudgetResult(budget, None, False, note)
    return BudgetResult(budget, seconds, budget.holds(seconds), note)


def _window_end(phase: str, faults: Sequence[FaultWindow]) -> tuple[float | None, str]:
    if phase.startswith("during:"):
        name = phase.removeprefix("during:")
        found = [window for window in faults if window.name == name]
        if not found:
            return None, f"fault {name} never ran"
        end = found[0].actual_end_s
        return end, "" if end is not None else f"fault {name} never ended"
    ends = [window.actual_end_s for window in faults]
    if not ends:
        return None, "no fault window ran"
    if any(end is None for end in ends):
        return None, "a fault never ended"
    return max(end for end in ends if end is not None), ""
