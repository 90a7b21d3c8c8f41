"""Fault schedules drawn by Hypothesis, run with the plugin's fixtures: a resilience property
instead of one hand-picked fault.

Each example is a real run of the reference endpoint on the session's topology (reset before
it), with the drawn faults; a broken budget raises BudgetViolation and Hypothesis shrinks the
schedule to the mildest, shortest, earliest one that still breaks it, and keeps it in its
example database (.hypothesis/) so the next run tries it first. The settings come from the
``serving-chaos-ci`` profile (two examples, no deadline); ``pytest suites/
--hypothesis-profile serving-chaos-deep`` searches far longer.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from faults.palette import FaultChoice, Magnitude, Palette
from faults.schedule import ScheduledFault
from faults.strategies import CI_PROFILE, schedules
from harness.explore import with_schedule
from harness.plugin import ChaosRunner
from harness.scenario import LoadSpec, Scenario
from harness.scenario.budgets import Budget

# The reference endpoint as the session runs it: 4 units, lookups with a 2 s timeout.
# Every example is a run whose generator must keep its schedule (lag p99 <= 10 ms): beside
# another test on the same 2 cores an example can be invalid through no fault of its own.
pytestmark = pytest.mark.exclusive

STEADY = Scenario(
    name="feature-store-slowdowns",
    load=LoadSpec(rate=20, duration_s=2, timeout_s=5),
    budgets=(Budget.parse("error_rate < 0.01"), Budget.parse("p99_ms < 1000")),
)
# Feature-store slowdowns of 20 to 140 ms, one at a time, one second long.
SLOWDOWNS = Palette(
    choices=(FaultChoice("latency", ("feature-store",), Magnitude(20, 140, 20)),),
    run_s=2,
    min_window_s=1,
    max_window_s=1,
    max_faults=1,
)


@settings(settings.get_profile(CI_PROFILE))
@given(schedule=schedules(SLOWDOWNS))
def test_feature_store_slowdowns_stay_within_budget(
    chaos: ChaosRunner, schedule: tuple[ScheduledFault, ...]
) -> None:
    result = chaos.run(with_schedule(STEADY, schedule))
    assert result.phases["overall"].requests >= 20 * 2 - 1
