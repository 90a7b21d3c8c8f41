"""`serving-chaos explore` from its outcome to its files and exit code, with the search itself
replaced by a fake (the real one runs in tests/integration/test_explore.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import harness.explore
from faults import ScheduledFault, Surge, Toxic
from harness.explore import Example, Exploration, ExploreOptions, base_scenario, with_schedule
from harness.explore.search import FLAKY, FOUND, NONE_FOUND
from harness.loadgen.recorder import Recorder
from harness.run.phases import PhaseClock
from harness.scenario import load_scenario
from harness.scenario.budgets import Budget
from harness.verdict.phases import phase_stats
from harness.verdict.results import RunResult, judge
from tests.cli import Cli

SCENARIO = """\
name: tiny
endpoint: {concurrency: 3, max_queue: 2}
load: {rate: 20, duration_s: 6}
faults:
  - {name: own, type: latency, target: feature-store, start_s: 1, duration_s: 2,
     attributes: {latency: 5}}
budgets:
  - error_rate < 0.05
  - expect: p99_ms < 900
    phase: during:own
"""
PALETTE = """\
run_s: 2
window_s: [1, 1]
faults:
  - {kind: latency, targets: [feature-store], latency_ms: [10, 100]}
  - {kind: surge, factor: 4}
"""
MINIMAL = (
    ScheduledFault(
        "latency-feature-store", Toxic("latency", "feature-store", {"latency": 40}), 0, 1
    ),
    ScheduledFault("surge-endpoint", Surge("endpoint", 4.0), 0, 1),
)


def _result(error_rate: float) -> RunResult:
    """A real run's result: ten requests over two seconds, ``error_rate`` of them 429."""
    recorder = Recorder(PhaseClock([]))
    for index in range(10):
        t = 0.1 + index * 0.2
        recorder.offered(t)
        status = 429 if index < round(error_rate * 10) else 200
        recorder.completed(t, t, t + 0.01, status=status, failure=None)
    phases = phase_stats(recorder, 2.0)
    budgets = judge((Budget.parse("error_rate < 0.05"),), phases)
    return RunResult("tiny", "process", budgets, phases, recorder.seconds(), [], {}, "", 2.0)


def _fake(outcome: str) -> Callable[..., Exploration]:
    def explore(scenario: Any, palette: Any, options: ExploreOptions, **kwargs: Any) -> Exploration:
        assert options.max_examples == 7
        assert options.time_limit_s == 90
        base, dropped = base_scenario(scenario, palette.run_s)
        examples = tuple(Example(i + 1, (), "pass", 2.0) for i in range(6))
        for example in examples:
            kwargs["say"](example)
        found = outcome != NONE_FOUND
        return Exploration(
            outcome,
            examples=examples,
            skipped=0,
            elapsed_s=12.0,
            timed_out=False,
            minimal=MINIMAL if found else None,
            scenario=with_schedule(base, MINIMAL) if found else None,
            result=_result(0.2) if found else None,
            dropped_budgets=tuple(f"{b.label} [{b.phase}]" for b in dropped),
        )

    return explore


def _explore(tmp_path: Path, cli: Cli) -> Any:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    (tmp_path / "p.yaml").write_text(PALETTE)
    return cli(
        "explore",
        str(tmp_path / "s.yaml"),
        "--palette",
        str(tmp_path / "p.yaml"),
        "--report-dir",
        str(tmp_path / "out"),
        "--max-examples",
        "7",
        "--time-limit",
        "1.5m",
    )


def test_a_failure_found_writes_a_scenario_that_runs_it(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.explore, "explore", _fake(FOUND))
    result = _explore(tmp_path, cli)
    assert result.code == 1
    assert "FOUND: latency-feature-store 40ms 0-1s + surge-endpoint x4 0-1s" in result.out
    assert "(6 examples in 12s)" in result.out
    assert "p99_ms < 900 [during:own]" in result.err
    out = tmp_path / "out"
    minimal = load_scenario(out / "minimal.yaml")
    assert minimal.faults == MINIMAL
    assert [budget.expression for budget in minimal.budgets] == ["error_rate < 0.05"]
    assert (minimal.endpoint.concurrency, minimal.load.duration_s) == (3, 2.0)
    text = (out / "minimal.yaml").read_text()
    assert text.startswith("# Found by `serving-chaos explore")
    assert "error_rate < 0.05 [overall]: observed 0.2" in text
    assert json.loads((out / "results.json").read_text())["passed"] is False
    assert len((out / "explore.jsonl").read_text().splitlines()) == 6
    assert json.loads((out / "explore.json").read_text())["outcome"] == "found"


def test_a_flaky_failure_is_not_reported_as_found(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.explore, "explore", _fake(FLAKY))
    result = _explore(tmp_path, cli)
    assert result.code == 1
    assert "FLAKY: " in result.out
    assert "FOUND" not in result.out
    assert not (tmp_path / "out" / "minimal.yaml").exists()
    flaky = (tmp_path / "out" / "flaky.yaml").read_text()
    assert "FLAKY: it broke once and held on the rerun" in flaky


def test_nothing_found_exits_0_and_says_how_many_examples(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.explore, "explore", _fake(NONE_FOUND))
    result = _explore(tmp_path, cli)
    assert result.code == 0
    assert "no failure found in 6 examples in 12s" in result.out
    assert not (tmp_path / "out" / "minimal.yaml").exists()


def test_the_example_scenario_drops_budgets_on_its_own_faults() -> None:
    scenario = load_scenario(
        Path(__file__).parents[2] / "suites" / "scenarios" / "feature_store_latency.yaml"
    )
    base, dropped = base_scenario(scenario, 3)
    assert base.faults == ()
    assert base.load.duration_s == 3
    assert {b.phase for b in dropped} == {"during:feature-store-slow"}
    # Without faults, budgets on baseline and recovery have nothing to judge: left out.
    assert {b.phase for b in with_schedule(base, ()).budgets} == {"overall"}
    assert {b.phase for b in with_schedule(base, MINIMAL).budgets} == {
        "overall",
        "baseline",
        "recovery",
    }
