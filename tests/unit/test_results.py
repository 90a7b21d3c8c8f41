"""Results: phases from the faults' actual times, the verdict, first bad second, results.json."""

from __future__ import annotations

import pytest

from faults import FaultWindow
from harness.loadgen.recorder import Recorder
from harness.run.phases import PhaseClock
from harness.scenario.budgets import Budget
from harness.verdict.phases import PhaseStats, phase_stats
from harness.verdict.results import RunResult, judge

WINDOW = FaultWindow(
    name="slow",
    target="feature-store",
    description="latency(latency=150) on feature-store downstream",
    planned_start_s=4.0,
    planned_end_s=8.0,
    actual_start_s=4.003,
    actual_end_s=8.004,
)


def _record(
    latency_ms: list[float],
    *,
    windows: tuple[FaultWindow, ...] = (WINDOW,),
    errors_at: frozenset[int] = frozenset(),
) -> Recorder:
    """One request per second, at its middle; status 200 + second tags it (or 503 if an error)."""
    clock = PhaseClock([w.name for w in windows])
    for window in windows:
        clock.started(window.name, window.actual_start_s)
        if window.actual_end_s is not None:
            clock.ended(window.name, window.actual_end_s)
    recorder = Recorder(clock)
    for second, ms in enumerate(latency_ms):
        t = second + 0.5
        recorder.offered(t)
        status = 503 if second in errors_at else 200 + second
        recorder.completed(t, t, t + ms / 1000, status=status, failure=None)
    return recorder


def _seconds_of(stats: PhaseStats) -> list[int]:
    return sorted(code - 200 for code in stats.tally.statuses)


def _result(
    recorder: Recorder,
    budgets: tuple[Budget, ...],
    *,
    windows: tuple[FaultWindow, ...] = (WINDOW,),
    valid: bool = True,
) -> RunResult:
    phases = phase_stats(recorder, 12.0)
    return RunResult(
        scenario="feature-store-latency",
        backend="process",
        budgets=judge(budgets, phases),
        phases=phases,
        buckets=recorder.seconds(),
        faults=list(windows),
        generator={"dropped": 0},
        started_at="2024-01-01T00:00:00+00:00",
        duration_s=12.0,
        valid=valid,
        notes=[] if valid else ["generator dropped 3 scheduled requests"],
    )


def test_without_faults_only_overall() -> None:
    phases = phase_stats(_record([10.0] * 3, windows=()), 3.0)

    assert list(phases) == ["overall"]
    assert _seconds_of(phases["overall"]) == [0, 1, 2]


def test_one_window_splits_twelve_seconds_into_phases() -> None:
    phases = phase_stats(_record([10.0] * 12), 12.0)

    assert list(phases) == ["overall", "baseline", "during:slow", "recovery"]
    assert _seconds_of(phases["overall"]) == list(range(12))
    assert _seconds_of(phases["baseline"]) == [0, 1, 2, 3]
    assert _seconds_of(phases["during:slow"]) == [4, 5, 6, 7]
    assert _seconds_of(phases["recovery"]) == [8, 9, 10, 11]
    assert phases["during:slow"].start_s == 4.003
    assert phases["during:slow"].end_s == 8.004
    assert phases["recovery"].seconds == pytest.approx(3.996)


def test_phase_edges_are_exact_not_rounded_to_seconds() -> None:
    recorder = _record([])
    for intended in (4.002, 4.003, 8.003, 8.004):
        recorder.completed(intended, intended, intended + 0.01, status=200, failure=None)

    phases = phase_stats(recorder, 12.0)

    assert [phases[p].requests for p in ("baseline", "during:slow", "recovery")] == [1, 2, 1]
    assert recorder.buckets[4].requests == 2


def test_passed_when_every_budget_holds_and_run_valid() -> None:
    budgets = (Budget.parse("p99_ms < 500"), Budget.parse("error_rate < 0.01", phase="baseline"))

    result = _result(_record([10.0] * 12), budgets)

    assert [r.passed for r in result.budgets] == [True, True]
    assert result.passed
    assert result.failed_budgets == []


def test_not_passed_when_a_budget_fails() -> None:
    budgets = (Budget.parse("p99_ms < 500"), Budget.parse("p99_ms < 100", phase="during:slow"))
    latencies = [10.0] * 4 + [200.0] * 4 + [10.0] * 4

    result = _result(_record(latencies), budgets)

    assert not result.passed
    assert [r.budget for r in result.failed_budgets] == [budgets[1]]


def test_not_passed_when_run_invalid() -> None:
    result = _result(_record([10.0] * 12), (Budget.parse("p99_ms < 500"),), valid=False)

    assert result.budgets[0].passed
    assert not result.passed


def test_budget_on_phase_that_does_not_exist_fails() -> None:
    budget = Budget.parse("p99_ms < 500", phase="recovery")

    result = _result(_record([10.0] * 3, windows=()), (budget,), windows=())

    assert result.budgets[0].note == "no requests completed in phase recovery"
    assert not result.passed


def test_to_json_has_the_documented_shape() -> None:
    budgets = (Budget.parse("p99_ms < 500", name="tail"), Budget.parse("p50_ms < 5"))
    recorder = _record([10.0] * 12, errors_at=frozenset({5}))
    recorder.gauge(3.5, queue_depth=4, inflight=1)

    data = _result(recorder, budgets).to_json()

    assert data["passed"] is False
    assert data["budgets"] == [
        {
            "name": "tail",
            "phase": "overall",
            "expression": "p99_ms < 500",
            "metric": "p99_ms",
            "op": "<",
            "limit": 500.0,
            "observed": pytest.approx(10.0, rel=1e-3),
            "passed": True,
            "note": "",
        },
        {
            "name": "p50_ms < 5",
            "phase": "overall",
            "expression": "p50_ms < 5",
            "metric": "p50_ms",
            "op": "<",
            "limit": 5.0,
            "observed": pytest.approx(10.0, rel=1e-3),
            "passed": False,
            "note": "",
        },
    ]
    summary = data["summary"]
    assert {
        "requests",
        "errors",
        "error_rate",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "throughput_rps",
        "max_queue_depth",
    } <= set(summary)
    assert summary["requests"] == 12
    assert summary["errors"] == 1
    assert summary["error_rate"] == round(1 / 12, 6)
    assert summary["p99_ms"] == pytest.approx(10.0, rel=1e-3)
    assert summary["throughput_rps"] == 1.0
    assert summary["max_queue_depth"] == 4
    assert [row["t"] for row in data["timeline"]] == list(range(12))
    assert data["timeline"][5]["errors"] == 1
    assert data["timeline"][3]["queue_depth"] == 4
    assert data["faults"] == [WINDOW.to_json()]
    assert data["faults"][0]["actual_start_s"] == 4.003
    assert set(data["phases"]) == {"overall", "baseline", "during:slow", "recovery"}
    assert data["phases"]["during:slow"]["requests"] == 4


def test_first_bad_second_finds_first_second_breaking_p99() -> None:
    latencies = [10.0] * 5 + [600.0, 10.0, 900.0] + [10.0] * 4
    result = _result(_record(latencies), (Budget.parse("p99_ms < 500"),))

    assert not result.passed
    assert result.first_bad_second(result.budgets[0]) == 5


def test_first_bad_second_for_error_rate_and_none_when_all_hold() -> None:
    budgets = (Budget.parse("error_rate < 0.5"), Budget.parse("p99_ms < 500"))
    result = _result(_record([10.0] * 12, errors_at=frozenset({3, 4})), budgets)

    assert result.first_bad_second(result.budgets[0]) == 3
    assert result.first_bad_second(result.budgets[1]) is None


def test_first_bad_second_is_none_for_whole_phase_metrics() -> None:
    result = _result(_record([10.0] * 12), (Budget.parse("throughput_rps > 100"),))

    assert not result.budgets[0].passed
    assert result.first_bad_second(result.budgets[0]) is None


def test_first_bad_second_looks_only_inside_the_budget_phase() -> None:
    latencies = [10.0] * 4 + [200.0] * 4 + [10.0, 10.0, 150.0, 10.0]
    budget = Budget.parse("p99_ms < 100", phase="recovery")

    result = _result(_record(latencies), (budget,))

    assert not result.budgets[0].passed
    assert result.first_bad_second(result.budgets[0]) == 10


def test_first_bad_second_ignores_requests_of_another_phase_in_an_edge_second() -> None:
    recorder = _record([10.0] * 4 + [200.0] * 4 + [10.0, 10.0, 150.0, 10.0])
    recorder.completed(8.001, 8.001, 8.2, status=200, failure=None)
    budget = Budget.parse("p99_ms < 100", phase="recovery")

    result = _result(recorder, (budget,))

    assert result.phases["during:slow"].requests == 5
    assert result.first_bad_second(result.budgets[0]) == 10
