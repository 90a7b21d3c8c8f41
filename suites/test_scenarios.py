"""Every shipped scenario, as a test: `pytest suites/` fails when a budget is violated.

The LLM streaming scenarios are run by test_llm_streams.py instead, once each, where what they
show (a budget broken in one phase only, duplicated tokens) is checked besides their budgets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.plugin import ChaosRunner
from suites.test_llm_streams import SHOWN_HERE

SCENARIOS = sorted(
    path
    for path in (Path(__file__).parent / "scenarios").glob("*.yaml")
    if path.stem not in SHOWN_HERE
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_holds_its_budgets(chaos: ChaosRunner, scenario: Path) -> None:
    result = chaos.run(scenario)
    assert result.phases["overall"].requests > 0
