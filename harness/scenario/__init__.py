"""What a run is: scenario files read into validated value objects (the system under test,
load, faults, budgets), with errors that name file, line and field."""

from harness.scenario.budgets import Budget
from harness.scenario.clients import ClientSpec, with_client
from harness.scenario.parse import load_scenario, parse_scenario
from harness.scenario.spec import EndpointSpec, LoadSpec, Scenario
from harness.system.spec import Dependency, ExternalTarget, SystemSpec

__all__ = [
    "Budget",
    "ClientSpec",
    "Dependency",
    "EndpointSpec",
    "ExternalTarget",
    "LoadSpec",
    "Scenario",
    "SystemSpec",
    "load_scenario",
    "parse_scenario",
    "with_client",
]
