"""Service faults a backend cannot apply are refused before anything starts. The faults applied
to running services are in the integration tier's test_service_faults."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.run.runner import run_scenario
from harness.scenario import parse_scenario


def test_limit_faults_are_refused_on_the_process_backend_before_anything_starts() -> None:
    scenario = parse_scenario(
        "name: squeeze\nload: {rate: 20, duration_s: 2, timeout_s: 5}\nfaults:\n"
        "  - {name: cpu, type: limit, target: endpoint, start_s: 0, duration_s: 1,\n"
        "     attributes: {cpus: 0.5}}\n"
    )
    with pytest.raises(UsageError, match="need the docker backend"):
        run_scenario(scenario, backend="process")
