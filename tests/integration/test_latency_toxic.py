"""A latency toxic on the feature-store proxy, measured end to end through the real Toxiproxy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from faults import ScheduledFault, Toxic
from harness.run.runner import run_on
from harness.scenario import LoadSpec, Scenario
from harness.scenario.budgets import Budget
from harness.servers.stub.config import DEFAULT_NAME as FEATURE_STORE_PROXY
from harness.system.topology import Topology

pytestmark = pytest.mark.integration

LATENCY_MS = 120
STEADY = Scenario(name="steady", load=LoadSpec(rate=25, duration_s=2, timeout_s=5))


def _p50(topology: Topology) -> float:
    result = run_on(topology, STEADY)
    value = result.phases["overall"].value("p50_ms")
    assert value is not None
    assert result.phases["overall"].errors == 0
    return value


def test_latency_toxic_raises_p50_by_at_least_its_latency_and_removal_restores_it(
    chaos_proxies: Topology,
) -> None:
    toxiproxy = chaos_proxies.toxiproxy
    before = _p50(chaos_proxies)

    whole_run = ScheduledFault(
        "slow",
        Toxic("latency", FEATURE_STORE_PROXY, {"latency": LATENCY_MS}),
        start_s=0.0,
        duration_s=STEADY.load.duration_s,
    )
    slowed = run_on(chaos_proxies, replace(STEADY, faults=(whole_run,)))
    during = slowed.phases["during:slow"].value("p50_ms")
    assert during is not None
    # The toxic delays every answer of the stub by LATENCY_MS; the two medians come from
    # different runs, whose own spread on a busy machine is a few percent of that.
    assert during >= before + 0.95 * LATENCY_MS, (before, during)

    assert toxiproxy.toxics(FEATURE_STORE_PROXY) == []
    after = _p50(chaos_proxies)
    assert after < before + LATENCY_MS / 2, (before, after)


def test_verdict_flips_when_the_budget_is_set_below_the_injected_latency(
    chaos_proxies: Topology,
) -> None:
    fault = ScheduledFault(
        "slow", Toxic("latency", FEATURE_STORE_PROXY, {"latency": LATENCY_MS}), 1.0, 2.0
    )
    scenario = replace(STEADY, load=replace(STEADY.load, duration_s=4), faults=(fault,))
    generous = replace(scenario, budgets=(Budget.parse("p50_ms < 1000", phase="during:slow"),))
    strict = replace(
        scenario, budgets=(Budget.parse(f"p50_ms < {LATENCY_MS}", phase="during:slow"),)
    )

    passing = run_on(chaos_proxies, generous)
    failing = run_on(chaos_proxies, strict)

    assert passing.passed, passing.budgets
    assert not failing.passed
    (verdict,) = failing.budgets
    assert verdict.observed is not None
    assert verdict.observed >= LATENCY_MS
    assert chaos_proxies.toxiproxy.toxics(FEATURE_STORE_PROXY) == []
