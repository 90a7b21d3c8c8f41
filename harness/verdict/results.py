"""What a run produced: phase statistics, budget verdicts, the timeline, and results.json."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from faults import FaultWindow
from harness.loadgen.histograms import Bucket
from harness.loadgen.recorder import timeline_row
from harness.scenario.budgets import (
    DROPPED,
    RECOVERY_TIME,
    RESOURCE_METRICS,
    Budget,
    dependency_of,
    is_run_metric,
)
from harness.verdict.budgets import BudgetResult, evaluate
from harness.verdict.phases import PhaseStats
from harness.verdict.recovery import judge_recovery

__all__ = [
    "DependencyCounts",
    "RunMeasures",
    "RunResult",
    "empty_series",
    "harness_version",
    "judge",
    "run_environment",
]


def harness_version() -> str:
    """The installed harness's version, "unknown" when run from a checkout never installed."""
    try:
        return metadata.version("serving-chaos")
    except metadata.PackageNotFoundError:
        return "unknown"


def run_environment(toxiproxy: str | None) -> dict[str, Any]:
    """What a run ran on, for comparing runs: harness, Python, platform and the Toxiproxy
    version (None when it did not say)."""
    return {
        "harness": harness_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "toxiproxy": toxiproxy,
    }


def empty_series() -> dict[str, Any]:
    """The per-second series of a run that charted nothing (the shape RunSeries.to_json gives
    in harness/run/series.py)."""
    return {
        "provisioned": [],
        "provisioned_target": [],
        "endpoint": {},
        "dependencies": {},
        "scrape_failures": {},
    }


def judge(
    budgets: tuple[Budget, ...],
    phases: dict[str, PhaseStats],
    dependencies: Mapping[str, Mapping[str, Any]] | None = None,
    measures: Mapping[str, float | None] | None = None,
    *,
    buckets: Sequence[Bucket] = (),
    faults: Sequence[FaultWindow] = (),
    resources: Mapping[str, Any] | None = None,
    dropped: int | None = None,
) -> list[BudgetResult]:
    """Each budget against its phase; ``dep.NAME.*`` against what NAME counted; a client's
    run-wide measures (``retry_amplification``, ``endpoint.*``, ...) against ``measures``;
    ``recovery_time_s`` against the timeline (``buckets``) after the fault ``faults`` say
    ended; ``cpu_pct``... against the ``resources`` report; ``dropped`` against the generator's
    count."""
    results = []
    requests = phases["overall"].requests if "overall" in phases else 0
    for budget in budgets:
        about = dependency_of(budget.metric)
        if budget.metric == RECOVERY_TIME:
            run_s = phases["overall"].end_s if "overall" in phases else 0.0
            baseline = phases.get("baseline")
            results.append(judge_recovery(budget, buckets, baseline, faults, run_s))
        elif budget.metric in RESOURCE_METRICS:
            results.append(_judge_resources(budget, resources))
        elif budget.metric == DROPPED:
            results.append(_judge_dropped(budget, dropped))
        elif is_run_metric(budget.metric):
            results.append(evaluate(budget, RunMeasures(measures or {}, requests)))
        elif about is None:
            results.append(evaluate(budget, phases.get(budget.phase)))
        else:
            seen = (dependencies or {}).get(about)
            results.append(evaluate(budget, DependencyCounts(seen, requests)))
    return results


def _judge_resources(budget: Budget, report: Mapping[str, Any] | None) -> BudgetResult:
    """Against a report in the shape ResourceSampler.report gives (see harness/run/resources)."""
    if report is None or not report.get("measured"):
        why = "no sampler ran" if report is None else report.get("reason", "")
        return BudgetResult(budget, None, False, f"{budget.metric} was not measured: {why}")
    phase = report.get("phases", {}).get(budget.phase) or {}
    observed = phase.get(budget.metric)
    if observed is None:
        return BudgetResult(
            budget, None, False, f"no resource sample fell inside phase {budget.phase}"
        )
    basis = report["cpu_basis"] if budget.metric.startswith("cpu") else report["memory_basis"]
    # The note stands for the observed value where a failure is explained: it carries both.
    return BudgetResult(budget, observed, budget.holds(observed), f"{observed:g}% of {basis}")


def _judge_dropped(budget: Budget, dropped: int | None) -> BudgetResult:
    if dropped is None:
        return BudgetResult(
            budget,
            None,
            False,
            "dropped was not measured: the generator counts drops when its load ends, and "
            "this run's load was cut short",
        )
    return BudgetResult(budget, float(dropped), budget.holds(float(dropped)))


@dataclass(frozen=True, slots=True)
class RunMeasures:
    """A client under test's run-wide measures in the shape budgets read."""

    measures: Mapping[str, float | None]
    requests: int

    def value(self, metric: str) -> float | None:
        # A status the endpoint never answered was answered zero times, once it was measured.
        counted = self.measures.get("endpoint.requests") is not None
        default = 0.0 if counted and metric.startswith("endpoint.status_") else None
        return self.measures.get(metric, default)


@dataclass(frozen=True, slots=True)
class DependencyCounts:
    """A dependency's counts in the shape budgets read: ``dep.NAME.calls``,
    ``dep.NAME.calls_per_request`` and ``dep.NAME.status_NNN``."""

    seen: Mapping[str, Any] | None
    requests: int

    def value(self, metric: str) -> float | None:
        if self.seen is None or self.seen.get("calls") is None:
            return None
        field = metric.rsplit(".", 1)[1]
        if field.startswith("status_"):
            return float(self.seen.get("statuses", {}).get(field[7:], 0))
        found = self.seen.get(field)
        return None if found is None else float(found)


@dataclass(frozen=True, slots=True)
class RunResult:
    scenario: str
    backend: str
    budgets: list[BudgetResult]
    phases: dict[str, PhaseStats]
    buckets: Sequence[Bucket]
    faults: list[FaultWindow]
    generator: dict[str, Any]
    started_at: str
    duration_s: float
    load_shape: str = "open-loop constant"
    valid: bool = True
    notes: list[str] = field(default_factory=list)
    # Services of the system under test that died with no fault to explain it: name -> second.
    deaths: dict[str, float] = field(default_factory=dict)
    # Per dependency: calls, calls per endpoint request, statuses, faults injected.
    dependencies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The HTTP fault layer's counts of the client's hop, when the run had one.
    endpoint_hop: dict[str, Any] | None = None
    # The client under test: its callable, calls, failures by class and run-wide measures.
    client: dict[str, Any] | None = None
    # An imported incident's replay against its source: the "reproduced" verdict and per second.
    incident: dict[str, Any] | None = None
    # The endpoint service's CPU and memory: what they are a percent of, and per phase.
    resources: dict[str, Any] | None = None
    # A budget with abort_on_fail that broke mid-run: {"budget", "phase", "observed", "at_s"}.
    aborted: dict[str, Any] | None = None
    # Per-second series for the charts: provisioned units, endpoint counters, dependency calls.
    series: dict[str, Any] = field(default_factory=empty_series)
    # Harness, Python, platform and Toxiproxy versions the run ran on.
    environment: dict[str, Any] = field(default_factory=lambda: run_environment(None))

    @property
    def passed(self) -> bool:
        # An aborted run fails even if the judging of what it measured passed every budget.
        return self.valid and self.aborted is None and all(result.passed for result in self.budgets)

    @property
    def failed_budgets(self) -> list[BudgetResult]:
        return [result for result in self.budgets if not result.passed]

    def first_bad_second(self, result: BudgetResult) -> int | None:
        """The first second whose own measurement breaks a per-request budget: where it broke."""
        budget = result.budget
        if budget.metric not in {"error_rate", "availability"} and not budget.metric.endswith(
            "_ms"
        ):
            return None
        phase = self.phases.get(budget.phase)
        if phase is None:
            return None
        # Seconds wholly inside the phase carry only its requests; edge seconds are judged only
        # when the phase is too short to hold a whole one.
        inside = [
            b for b in self.buckets if phase.start_s <= b.second < b.second + 1 <= phase.end_s
        ]
        overlapping = [
            b for b in self.buckets if phase.start_s < b.second + 1 and b.second < phase.end_s
        ]
        for bucket in inside or overlapping:
            second = PhaseStats(f"t={bucket.second}", bucket, bucket.second, bucket.second + 1)
            value = second.value(budget.metric)
            if value is not None and not budget.holds(value):
                return bucket.second
        return None

    def to_json(self) -> dict[str, Any]:
        overall = self.phases["overall"]
        return {
            "scenario": self.scenario,
            "backend": self.backend,
            "load_shape": self.load_shape,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "passed": self.passed,
            "valid": self.valid,
            "notes": self.notes,
            "deaths": self.deaths,
            "dependencies": self.dependencies,
            "endpoint_hop": self.endpoint_hop,
            "client": self.client,
            "incident": self.incident,
            "resources": self.resources,
            "aborted": self.aborted,
            "budgets": [result.to_json() for result in self.budgets],
            "summary": overall.summary(),
            "phases": {name: stats.summary() for name, stats in self.phases.items()},
            "timeline": [timeline_row(bucket) for bucket in self.buckets],
            "faults": [window.to_json() for window in self.faults],
            "generator": self.generator,
            "series": self.series,
            "environment": self.environment,
        }
