"""Budgets judged while a run goes on: an abort_on_fail budget that breaks stops the run at
once, fails it as aborted and leaves nothing behind; the endpoint's CPU is measured for real."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario
from tests.cli import StartCli
from tests.procs import children_of, exists
from tests.waiting import eventually

pytestmark = pytest.mark.integration

DELAY_ABORT_S = 1.0
ABORTING = f"""\
name: abort-early
load: {{rate: 20, duration_s: 20, timeout_s: 2}}
faults:
  - {{name: broken, type: abort, target: endpoint, start_s: 2, duration_s: 16,
     attributes: {{status: 503}}}}
budgets:
  - {{expect: error_rate < 0.05, abort_on_fail: true, delay_abort_s: {DELAY_ABORT_S:g}}}
  - p99_ms < 1000
"""
# Stopping takes the load's cancellation and the fault's revert through the HTTP fault layer.
STOP_SLACK_S = 1.0


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.add(child)
            todo.append(child)
    return found


def test_a_budget_with_abort_on_fail_stops_the_run_soon_after_it_breaks(
    tmp_path: Path, start_cli: StartCli
) -> None:
    scenario = tmp_path / "abort.yaml"
    scenario.write_text(ABORTING)
    report = tmp_path / "out"
    run = start_cli("run", str(scenario), "--backend", "process", "--report-dir", str(report))
    started: set[int] = set()

    def ended() -> bool:
        # Every service the run starts is its descendant: note each, to check none outlives it.
        started.update(_descendants(run.proc.pid))
        return run.proc.poll() is not None

    eventually(ended, 60, what="the run to end", poll_s=0.05)
    out, err = run.stdout(), run.stderr()
    assert run.proc.returncode == 1, out + err
    results = json.loads((report / "results.json").read_text())
    aborted, (window,) = results["aborted"], results["faults"]
    assert aborted["budget"] == "error_rate < 0.05", aborted
    assert aborted["observed"] >= 0.05
    # The budget cannot break before the fault starts, so an abort within delay_abort_s + 1 s
    # of the fault's start is within that of the break: well before the load's 20 s.
    assert window["actual_start_s"] < aborted["at_s"], aborted
    assert aborted["at_s"] <= window["actual_start_s"] + DELAY_ABORT_S + 1.0, aborted
    assert results["duration_s"] <= aborted["at_s"] + STOP_SLACK_S, results["duration_s"]
    # The fault was reverted as the run stopped, not at its planned end (18 s).
    assert window["actual_end_s"] is not None
    assert window["actual_end_s"] <= aborted["at_s"] + STOP_SLACK_S
    assert results["passed"] is False
    assert results["budgets"][0]["passed"] is False
    assert results["summary"]["requests"] > 0
    assert "FAIL (aborted at t=" in out
    assert "error_rate < 0.05 [overall] broke" in out
    assert "aborted at t=" in (report / "report.html").read_text()
    assert started, "no service of the run was ever seen"
    eventually(lambda: not any(exists(pid) for pid in started), 10, what="no service left running")


def test_the_reference_endpoints_cpu_and_memory_are_measured_on_the_process_backend() -> None:
    scenario = parse_scenario(
        "name: cpu\nload: {rate: 50, duration_s: 3, timeout_s: 2}\n"
        "budgets:\n  - cpu_pct > 0\n  - cpu_pct_mean > 0\n  - memory_pct > 0\n"
    )

    result = run_scenario(scenario, backend="process")

    resources = result.resources
    assert resources is not None
    assert resources["measured"], resources
    assert resources["cpu_basis"] == f"{os.cpu_count()} cores of the machine (os.cpu_count)"
    overall = resources["phases"]["overall"]
    assert overall["cpu_pct"] > 0, resources
    assert overall["samples"] >= 3
    assert all(budget.passed for budget in result.budgets), result.budgets
    assert result.aborted is None
