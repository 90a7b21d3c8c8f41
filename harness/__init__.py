"""serving-chaos: resilience runs for model-serving endpoints behind the real Toxiproxy.

Errors import eagerly; the engine (aiohttp, the load generator) loads on first use, so the
pytest plugin costs nothing until a fixture asks for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness.errors import (
    BudgetViolation,
    ChaosError,
    HarnessServiceLost,
    ProvisioningError,
    ScenarioError,
    TopologyError,
    UsageError,
)

if TYPE_CHECKING:
    from harness.run.runner import run_on, run_scenario
    from harness.scenario import EndpointSpec, LoadSpec, Scenario, load_scenario, parse_scenario
    from harness.scenario.budgets import Budget
    from harness.verdict.results import RunResult

_LAZY = {
    "Budget": "harness.scenario.budgets",
    "RunResult": "harness.verdict.results",
    "run_on": "harness.run.runner",
    "run_scenario": "harness.run.runner",
    "EndpointSpec": "harness.scenario",
    "LoadSpec": "harness.scenario",
    "Scenario": "harness.scenario",
    "load_scenario": "harness.scenario",
    "parse_scenario": "harness.scenario",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Budget",
    "BudgetViolation",
    "ChaosError",
    "EndpointSpec",
    "HarnessServiceLost",
    "LoadSpec",
    "ProvisioningError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "TopologyError",
    "UsageError",
    "load_scenario",
    "parse_scenario",
    "run_on",
    "run_scenario",
]
