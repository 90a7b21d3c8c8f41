"""A scenario's endpoint settings reach the endpoint process the topology starts."""

from __future__ import annotations

import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario

pytestmark = pytest.mark.integration


def test_a_full_queue_setting_shows_as_429s_in_the_results() -> None:
    scenario = parse_scenario(
        "name: tiny-endpoint\n"
        "endpoint: {concurrency: 1, max_queue: 0, service_time_ms: 100}\n"
        "load: {rate: 30, duration_s: 2, timeout_s: 5}\n"
        "budgets: ['error_rate < 0.01']\n"
    )
    result = run_scenario(scenario)

    overall = result.phases["overall"]
    assert overall.errors_by_class().get("429", 0) > overall.requests // 2
    assert not result.passed
    assert result.budgets[0].observed is not None
    assert result.budgets[0].observed > 0.5
