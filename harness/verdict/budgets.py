"""Budgets judged: each budget against the phase it names, observed value and verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from harness.scenario.budgets import RECOVERY_TIME, TOKEN_METRICS, Budget, size_metric_of

__all__ = ["BudgetResult", "Measured", "evaluate"]


@dataclass(frozen=True, slots=True)
class BudgetResult:
    budget: Budget
    observed: float | None
    passed: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        budget = self.budget
        found: dict[str, Any] = {
            "name": budget.label,
            "phase": budget.phase,
            "expression": budget.expression,
            "metric": budget.metric,
            "op": budget.op,
            "limit": budget.limit,
            "observed": self.observed,
            "passed": self.passed,
            "note": self.note,
        }
        # The optional keys only where they say something.
        if budget.metric == RECOVERY_TIME:
            found["tolerance"] = budget.tolerance
        if budget.abort_on_fail:
            found["abort_on_fail"] = True
            found["delay_abort_s"] = budget.delay_abort_s
        return found


class Measured(Protocol):
    """A phase's measurements, as budgets read them."""

    @property
    def requests(self) -> int: ...

    def value(self, metric: str) -> float | None: ...


def evaluate(budget: Budget, measured: Measured | None) -> BudgetResult:
    """Check one budget against its phase; a phase that saw no traffic cannot pass."""
    if measured is None or not measured.requests:
        return BudgetResult(budget, None, False, f"no requests completed in phase {budget.phase}")
    observed = measured.value(budget.metric)
    if observed is None:
        return BudgetResult(budget, None, False, _not_measured(budget))
    return BudgetResult(budget, observed, budget.holds(observed))


def _not_measured(budget: Budget) -> str:
    note = f"{budget.metric} was not measured"
    if budget.metric.removeprefix("client.") in TOKEN_METRICS:
        return (
            f"{note}: it needs streamed answers and the endpoint's count of generated tokens "
            "(serving_llm_generated_tokens or vllm:generation_tokens on its /metrics)"
        )
    size = size_metric_of(budget.metric.removeprefix("client."))
    if size is None:
        return note
    # The engines know every body they send and get; a client under test's calls do not say.
    return f"{note}: no {size[0]} body size was recorded in phase {budget.phase}"
