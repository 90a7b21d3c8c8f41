"""Where a model server of the user's own runs, decided before anything starts. Running one is in
the integration tier's test_custom_target."""

from __future__ import annotations

from harness.scenario import parse_scenario
from harness.system.backends import backend_for


def test_a_target_command_runs_as_a_process_unless_docker_is_asked_for() -> None:
    scenario = parse_scenario(
        "name: own-server\n"
        "target: {command: [my-server, --port, '{port}'], health_path: /healthz}\n"
        "load: {rate: 20, duration_s: 4}\n"
    )
    assert backend_for(scenario.system, "auto") == "process"
    assert backend_for(scenario.system, "process") == "process"
    # On docker the stubs and proxies are containers; the command still runs as a process.
    assert backend_for(scenario.system, "docker") == "docker"
