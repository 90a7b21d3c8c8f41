"""The plugin's typed budget error and its session topology, through pytester."""

from __future__ import annotations

import pytest

# A generator up to 100 ms late (p99) does not invalidate these runs on a busy machine.
SCENARIO = """\
name: plugin-session
load: {rate: 20, duration_s: 1.5, timeout_s: 5, max_lag_ms: 100}
faults:
  - {name: slow, type: latency, target: feature-store, start_s: 0.25, duration_s: 1,
     attributes: {latency: 60}}
budgets:
  - error_rate < 0.01
  - expect: p50_ms < %s
    phase: during:slow
"""


def test_a_violated_budget_raises_a_typed_error_with_the_budget_phase_and_observed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", strict=SCENARIO % 5)
    pytester.makepyfile(
        test_caught="""
import pytest
from harness import BudgetViolation

def test_caught(chaos):
    with pytest.raises(BudgetViolation) as caught:
        chaos.run("strict.yaml")
    assert caught.value.budget.expression == "p50_ms < 5"
    assert caught.value.phase == "during:slow"
    assert caught.value.observed >= 60
    assert not caught.value.result.passed

def test_uncaught(chaos):
    chaos.run("strict.yaml")
"""
    )
    result = pytester.runpytest_subprocess("--chaos-backend", "process")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    # The failure reads as the verdict table, not as a traceback into the harness.
    assert "plugin-session [process]: FAIL" in text
    assert "p50_ms < 5 [during:slow]: expected p50_ms < 5, observed" in text
    assert "harness/plugin.py" not in text


def test_runs_against_the_default_system_share_the_session_topology(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", loose=SCENARIO % 1000)
    pytester.makepyfile(
        test_shared="""
import harness.run.runner as runner

def _no_new_topology(*args, **kwargs):
    raise AssertionError("chaos.run started a topology of its own")

def test_twice_on_one_topology(chaos, chaos_topology, monkeypatch):
    monkeypatch.setattr(runner, "run_scenario", _no_new_topology)
    pids = dict(chaos_topology.pids)
    # A fault left behind by anyone before the run is cleared before it.
    chaos_topology.add_toxic(
        "endpoint", name="leftover", type="latency", attributes={"latency": 2000}
    )
    first = chaos.run("loose.yaml")
    second = chaos.run("loose.yaml")
    assert first.passed and second.passed
    assert first.phases["overall"].value("p99_ms") < 1000
    assert chaos_topology.pids == pids
"""
    )
    result = pytester.runpytest_subprocess("--chaos-backend", "process")
    result.assert_outcomes(passed=1)
