"""The shipped scenario gives the same verdicts on the process and docker backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run.runner import run_scenario
from harness.scenario import load_scenario
from harness.system.backends import resolve_backend
from harness.system.backends.docker import unavailable_reason
from harness.verdict.results import RunResult

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "suites/scenarios/feature_store_latency.yaml"


def test_auto_takes_docker_exactly_when_an_engine_answers() -> None:
    expected = "docker" if unavailable_reason() is None else "process"
    assert resolve_backend("auto") == expected


def test_shipped_scenario_has_the_same_verdicts_on_both_backends() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"docker backend unavailable: {reason}")
    scenario = load_scenario(SHIPPED)

    on_processes = run_scenario(scenario, backend="process")
    in_containers = run_scenario(scenario, backend="docker")

    def verdicts(result: RunResult) -> list[tuple[str, str, bool]]:
        return [(b.budget.label, b.budget.phase, b.passed) for b in result.budgets]

    assert in_containers.backend == "docker"
    assert verdicts(on_processes) == verdicts(in_containers)
    assert on_processes.passed
    assert in_containers.passed
