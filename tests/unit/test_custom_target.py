"""A model server of the user's own is refused on a backend that cannot start it, before anything
starts. Running one is in the integration tier's test_custom_target."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.run.runner import run_scenario
from harness.scenario import parse_scenario


def test_a_target_command_cannot_run_on_docker() -> None:
    scenario = parse_scenario(
        "name: own-server\n"
        "target: {command: [my-server, --port, '{port}'], health_path: /healthz}\n"
        "load: {rate: 20, duration_s: 4}\n"
    )
    with pytest.raises(UsageError, match="runs as a process"):
        run_scenario(scenario, backend="docker")
