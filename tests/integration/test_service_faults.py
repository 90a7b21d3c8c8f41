"""Service and HTTP faults on the process backend: a freeze, a crash, a 503 burst from a stub."""

from __future__ import annotations

import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario

pytestmark = pytest.mark.integration

LOAD = "load: {rate: 20, duration_s: %s, timeout_s: 5}\n"


def test_pausing_the_endpoint_shows_the_freeze_as_latency_not_errors() -> None:
    scenario = parse_scenario(
        "name: freeze\n" + LOAD % 4 + "faults:\n"
        "  - {name: frozen, type: pause, target: endpoint, start_s: 1, duration_s: 1.2}\n"
    )
    result = run_scenario(scenario, backend="process")

    frozen = result.phases["during:frozen"]
    assert frozen.value("max_ms") is not None
    assert frozen.value("max_ms") >= 900  # type: ignore[operator]
    assert result.phases["overall"].errors == 0
    # Requests sent just before the freeze wait it out too, so only the median stays fast.
    assert (result.phases["baseline"].value("p50_ms") or 0) < 200


def test_a_503_burst_from_the_feature_store_fails_requests_only_while_it_lasts() -> None:
    scenario = parse_scenario(
        "name: burst\nendpoint: {upstream_max_attempts: 1}\n" + LOAD % 4 + "faults:\n"
        "  - {name: burst, type: http_error, target: feature-store, start_s: 1, duration_s: 1.5,\n"
        "     attributes: {status: 503, rate: 1.0}}\n"
        "budgets:\n  - {expect: error_rate == 0, phase: recovery}\n"
    )
    result = run_scenario(scenario, backend="process")

    burst = result.phases["during:burst"]
    assert burst.requests > 0
    # A request sent in the window's last milliseconds can reach the stub after it healed.
    assert burst.errors >= burst.requests - 2
    assert burst.errors > 20
    assert set(burst.errors_by_class()) == {"502"}
    # Likewise a request sent just before the window can meet the fault: judge the first second.
    assert result.buckets[0].errors == 0
    assert result.passed, result.budgets


def test_crashing_the_endpoint_gives_errors_then_recovery_after_restart() -> None:
    scenario = parse_scenario(
        "name: crash\n" + LOAD % 7 + "faults:\n"
        "  - {name: crashed, type: crash, target: endpoint, start_s: 1, duration_s: 1}\n"
    )
    result = run_scenario(scenario, backend="process")

    assert result.phases["during:crashed"].errors > 0
    # A request in flight at the kill fails too, so look at the first second, not the phase.
    assert result.buckets[0].errors == 0
    last = result.buckets[-1]
    assert last.requests > 0
    assert last.errors == 0
