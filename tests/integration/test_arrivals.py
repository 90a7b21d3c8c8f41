"""A scenario's arrival shape drives the run's schedule."""

from __future__ import annotations

import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario

pytestmark = pytest.mark.integration


def test_a_ramp_offers_its_integral_and_climbs_second_by_second() -> None:
    scenario = parse_scenario(
        "name: ramp\nload: {rate: 10, duration_s: 4, arrivals: {shape: ramp, to: 50}}\n"
    )
    result = run_scenario(scenario, backend="process")

    offered = [bucket.offered for bucket in result.buckets]
    assert sum(offered) == 120  # (10 + 50) / 2 * 4
    assert offered[:4] == sorted(offered[:4])
    assert offered[3] > 2 * offered[0]
    assert result.load_shape == "open-loop ramp 10->50/s"
    assert result.phases["overall"].errors == 0
