"""Every shipped scenario, as a test: `pytest suites/` fails when a budget is violated."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.plugin import ChaosRunner

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_holds_its_budgets(chaos: ChaosRunner, scenario: Path) -> None:
    result = chaos.run(scenario)
    assert result.phases["overall"].requests > 0
