"""A scenario's arrival shape drives the run's schedule."""

from __future__ import annotations

import pytest

from harness.run.runner import run_on
from harness.scenario import parse_scenario
from harness.system import Topology

pytestmark = pytest.mark.integration


def test_a_ramp_offers_its_integral_and_climbs_second_by_second(chaos_proxies: Topology) -> None:
    scenario = parse_scenario(
        "name: ramp\nload: {rate: 10, duration_s: 4, arrivals: {shape: ramp, to: 50}}\n"
    )
    result = run_on(chaos_proxies, scenario)

    offered = [bucket.offered for bucket in result.buckets]
    assert sum(offered) == 120  # (10 + 50) / 2 * 4
    assert offered[:4] == sorted(offered[:4])
    assert offered[3] > 2 * offered[0]
    assert result.load_shape == "open-loop ramp 10->50/s"
    assert result.phases["overall"].errors == 0
