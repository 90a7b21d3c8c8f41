"""A feature-store outage, absorbed by the endpoint's cache and not without it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.run.runner import run_scenario
from harness.scenario import load_scenario

pytestmark = pytest.mark.integration

OUTAGE = Path(__file__).resolve().parents[2] / "suites/scenarios/feature_store_outage_cached.yaml"


def test_without_the_cache_the_outage_fails_every_request_in_its_window() -> None:
    scenario = load_scenario(OUTAGE)
    uncached = replace(scenario, endpoint=replace(scenario.endpoint, cache_ttl_s=0.0))

    result = run_scenario(uncached, backend="process")

    down = result.phases["during:store-down"]
    assert down.requests > 100
    assert down.errors >= down.requests - 2  # requests sent at the window's edges may pass
    assert result.buckets[0].errors == 0
    assert not result.passed
