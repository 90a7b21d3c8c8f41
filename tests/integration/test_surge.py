"""A traffic surge absorbed with autoscaling and not without it: what the scaler is worth."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.run.runner import run_scenario
from harness.scenario import load_scenario

pytestmark = pytest.mark.integration

SURGE = Path(__file__).resolve().parents[2] / "suites/scenarios/traffic_surge_autoscaling.yaml"


def test_without_autoscaling_the_same_surge_overflows_the_queue_into_429s() -> None:
    scenario = load_scenario(SURGE)
    fixed = replace(scenario, endpoint=replace(scenario.endpoint, max_concurrency=2))

    result = run_scenario(fixed, backend="process")

    surge = result.phases["during:surge"]
    assert surge.errors_by_class().get("429", 0) > 0
    assert result.phases["baseline"].errors == 0
    assert not result.passed
    offered = sum(bucket.offered for bucket in result.buckets)
    assert offered == int(result.generator["scheduled"])
    assert offered > 30 * 14  # the surge really added requests to the schedule
