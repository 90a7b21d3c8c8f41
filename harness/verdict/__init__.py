"""Budgets judged against what each phase of a run measured, and the run's result."""

from harness.verdict.budgets import BudgetResult, evaluate
from harness.verdict.phases import PhaseStats, phase_stats
from harness.verdict.results import RunResult, judge

__all__ = ["BudgetResult", "PhaseStats", "RunResult", "evaluate", "judge", "phase_stats"]
