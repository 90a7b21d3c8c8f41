"""The newer budget kinds, judged on constructed runs: recovery_time_s, availability, cpu and
memory percent, dropped; abort_on_fail, tolerance and delay_abort_s as a scenario states them."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import pytest

from faults import FaultWindow
from harness.errors import ScenarioError
from harness.loadgen.recorder import Recorder
from harness.report import render_text
from harness.run.phases import PhaseClock
from harness.run.resources import (
    Capacity,
    ResourceSampler,
    TreeReading,
    capacity_of,
    machine_capacity,
    read_tree,
    usage_by_phase,
)
from harness.scenario import parse_scenario
from harness.scenario.budgets import Budget, judged_mid_run
from harness.system.backends.base import RunningService
from harness.system.backends.remote import RemoteService
from harness.verdict.budgets import BudgetResult
from harness.verdict.phases import phase_stats
from harness.verdict.results import RunResult, judge
from tests.cli import Cli

BASELINE_MS = 10.0
RUN_S = 20.0


def _window(name: str, start: float, end: float | None) -> FaultWindow:
    return FaultWindow(name, "feature-store", "latency", start, end or RUN_S, start, end)


def _timeline(
    windows: Sequence[FaultWindow],
    *,
    slow: Mapping[int, float] = {},
    errors: Mapping[int, int] = {},
    per_second: int = 10,
) -> Recorder:
    """``per_second`` requests in each second of a 20 s run, at BASELINE_MS unless ``slow``
    says otherwise; ``errors[s]`` of second s's requests answered 503."""
    clock = PhaseClock([window.name for window in windows])
    for window in windows:
        clock.started(window.name, window.actual_start_s)
        if window.actual_end_s is not None:
            clock.ended(window.name, window.actual_end_s)
    recorder = Recorder(clock)
    for second in range(int(RUN_S)):
        for index in range(per_second):
            t = second + (index + 0.5) / per_second
            recorder.offered(t)
            status = 503 if index < errors.get(second, 0) else 200
            done = t + slow.get(second, BASELINE_MS) / 1000
            recorder.completed(t, t, done, status=status, failure=None)
    return recorder


def _judge(
    expression: str,
    recorder: Recorder,
    windows: Sequence[FaultWindow],
    *,
    phase: str = "overall",
    tolerance: float = 0.2,
) -> BudgetResult:
    budget = Budget.parse(expression, phase=phase, tolerance=tolerance)
    phases = phase_stats(recorder, RUN_S)
    (result,) = judge((budget,), phases, buckets=recorder.seconds(), faults=windows)
    return result


SLOW = (_window("slow", 4.0, 10.0),)
# Seconds 10, 11 and 12, right after the window, still ten times slower than the baseline.
LATE = {second: 10 * BASELINE_MS for second in range(4, 13)}


def test_recovery_time_is_from_the_window_end_to_the_end_of_the_last_second_outside() -> None:
    recorder = _timeline(SLOW, slow=LATE)

    held = _judge("recovery_time_s < 5", recorder, SLOW)
    broke = _judge("recovery_time_s <= 2.5", recorder, SLOW)

    assert (held.observed, held.passed) == (3.0, True)
    assert (broke.observed, broke.passed) == (3.0, False)
    assert "from t=13s" in broke.note


def test_recovery_counts_errors_above_the_baseline_rate_plus_one_point() -> None:
    # One error in ten (10 %) in second 14 is outside; the slow seconds end at 12.
    recorder = _timeline(SLOW, slow=LATE, errors={14: 1})

    assert _judge("recovery_time_s < 5", recorder, SLOW).observed == 5.0


def test_a_clean_end_recovers_at_once_and_a_window_still_bad_at_the_end_never_does() -> None:
    clean = _timeline(SLOW, slow={s: 100.0 for s in range(4, 10)})
    stuck = _timeline(SLOW, slow={s: 100.0 for s in range(4, 20)})

    at_once = _judge("recovery_time_s < 1", clean, SLOW)
    never = _judge("recovery_time_s < 1000", stuck, SLOW)

    assert (at_once.observed, at_once.passed) == (0.0, True)
    assert (never.observed, never.passed) == (None, False)
    assert never.note == "never recovered (still outside after 10.0s)"


def test_a_second_mostly_after_the_end_follows_the_window() -> None:
    # The window ends 4 ms into second 10, which is bad: it counts, from the actual end.
    late_end = (_window("slow", 4.0, 10.004),)
    recorder = _timeline(late_end, slow={s: 100.0 for s in range(4, 11)})

    assert _judge("recovery_time_s < 5", recorder, late_end).observed == 0.996


def test_tolerance_is_how_far_above_the_baseline_p99_a_second_may_be() -> None:
    # Seconds 10 and 11 are 15 % slower than the baseline: inside 20 %, outside 10 %.
    recorder = _timeline(SLOW, slow={10: BASELINE_MS * 1.15, 11: BASELINE_MS * 1.15})

    default = _judge("recovery_time_s < 1", recorder, SLOW)
    strict = _judge("recovery_time_s < 1", recorder, SLOW, tolerance=0.1)

    assert (default.observed, default.passed) == (0.0, True)
    assert (strict.observed, strict.passed) == (2.0, False)


def test_during_a_fault_measures_from_its_end_and_overall_from_the_last_fault() -> None:
    two = (_window("first", 2.0, 4.0), _window("second", 6.0, 8.0))
    # The second fault's seconds are outside too: they follow the first window's end.
    recorder = _timeline(two, slow={2: 100.0, 3: 100.0, 6: 100.0, 7: 100.0})

    after_first = _judge("recovery_time_s < 1", recorder, two, phase="during:first")
    after_last = _judge("recovery_time_s < 1", recorder, two, phase="overall")
    recovery = _judge("recovery_time_s < 1", recorder, two, phase="recovery")

    assert (after_first.observed, after_first.passed) == (4.0, False)
    assert (after_last.observed, after_last.passed) == (0.0, True)
    assert recovery.observed == 0.0


def test_recovery_without_a_baseline_or_a_window_cannot_pass() -> None:
    from_start = (_window("slow", 0.0, 10.0),)
    no_baseline = _judge("recovery_time_s < 5", _timeline(from_start), from_start)
    never_ran = _judge("recovery_time_s < 5", _timeline(SLOW), ())

    assert (no_baseline.observed, no_baseline.passed) == (None, False)
    assert "no baseline" in no_baseline.note
    assert (never_ran.observed, never_ran.passed) == (None, False)
    assert never_ran.note == "no fault window ran"


def test_availability_is_the_share_of_requests_that_succeeded() -> None:
    # Three errors in each of 4 baseline seconds: 12 of 40 in the baseline, 12 of 200 overall.
    recorder = _timeline(SLOW, errors={0: 3, 1: 3, 2: 3, 3: 3})

    overall = _judge("availability >= 0.94", recorder, SLOW)
    baseline = _judge("availability >= 0.94", recorder, SLOW, phase="baseline")
    during = _judge("availability == 1", recorder, SLOW, phase="during:slow")

    assert (overall.observed, overall.passed) == (0.94, True)
    assert (baseline.observed, baseline.passed) == (0.7, False)
    assert (during.observed, during.passed) == (1.0, True)


def test_availability_breaks_at_the_first_bad_second() -> None:
    recorder = _timeline(SLOW, errors={6: 5})
    phases = phase_stats(recorder, RUN_S)
    budgets = judge((Budget.parse("availability > 0.99", phase="during:slow"),), phases)
    result = RunResult("s", "process", budgets, phases, recorder.seconds(), list(SLOW), {}, "", 20)

    assert result.first_bad_second(result.budgets[0]) == 6


GIB = 1 << 30
CAPACITY = Capacity(2.0, "2 cores of the machine", 16 * GIB, "the machine's MemTotal")


def _sampled(readings: Sequence[tuple[float, TreeReading]]) -> ResourceSampler:
    sampler = ResourceSampler(None, "endpoint", capacity=CAPACITY)
    for at_s, reading in readings:
        sampler.record(at_s, reading)
    return sampler


# CPU seconds used by then and resident bytes at 0, 1, 2 and 3 s; the endpoint restarts
# (a new pid, its CPU time from zero) at 3 s.
READINGS = [
    (0.0, TreeReading(100, 10.0, 1 * GIB, 2)),
    (1.0, TreeReading(100, 11.0, 2 * GIB, 2)),
    (2.0, TreeReading(100, 11.5, 4 * GIB, 3)),
    (3.0, TreeReading(200, 0.2, 1 * GIB, 1)),
]


def test_cpu_is_cpu_seconds_over_wall_seconds_as_a_percent_of_the_cores() -> None:
    samples = _sampled(READINGS).samples

    # 1 CPU second in 1 s of 2 cores is 50 %; 0.5 s is 25 %; after a restart, unknown.
    assert [s.cpu_pct for s in samples] == [None, 50.0, 25.0, None]
    assert [s.memory_pct for s in samples] == [6.25, 12.5, 25.0, 6.25]
    assert [s.middle_s for s in samples] == [0.0, 0.5, 1.5, 3.0]


def test_usage_per_phase_is_the_worst_and_the_mean_of_the_samples_inside_it() -> None:
    samples = _sampled(READINGS).samples
    spans = {"overall": (0.0, 4.0), "baseline": (0.0, 1.0), "during:x": (1.0, 4.0)}

    usage = usage_by_phase(samples, spans)

    assert usage["overall"] == {
        "cpu_pct": 50.0,
        "cpu_pct_mean": 37.5,
        "memory_pct": 25.0,
        "memory_pct_mean": 12.5,
        "samples": 4,
    }
    assert (usage["baseline"]["cpu_pct"], usage["baseline"]["memory_pct"]) == (50.0, 12.5)
    assert (usage["during:x"]["cpu_pct_mean"], usage["during:x"]["samples"]) == (25.0, 2)


@pytest.mark.parametrize(
    ("expression", "phase", "observed", "passed"),
    [
        pytest.param("cpu_pct < 50", "overall", 50.0, False, id="cpu-max-fails"),
        pytest.param("cpu_pct_mean < 40", "overall", 37.5, True, id="cpu-mean-passes"),
        pytest.param("memory_pct <= 25", "overall", 25.0, True, id="memory-max-passes"),
        pytest.param("memory_pct_mean < 10", "overall", 12.5, False, id="memory-mean-fails"),
        pytest.param("cpu_pct < 30", "during:x", 25.0, True, id="per-phase"),
    ],
)
def test_resource_budgets_judge_the_sampler_report(
    expression: str, phase: str, observed: float, passed: bool
) -> None:
    report = _sampled(READINGS).report({"overall": (0.0, 4.0), "during:x": (1.0, 4.0)})

    (result,) = judge((Budget.parse(expression, phase=phase),), {}, resources=report)

    assert (result.observed, result.passed) == (observed, passed)
    assert result.note.endswith("of 2 cores of the machine" if "cpu" in expression else "MemTotal")


def test_a_target_without_a_process_leaves_resources_not_measured() -> None:
    sampler = ResourceSampler(RemoteService("endpoint", "http://127.0.0.1:9"), "endpoint")

    async def sample() -> None:
        stop = asyncio.Event()
        await asyncio.wait_for(sampler.run(t0=0.0, stop=stop), 5)

    asyncio.run(sample())
    (result,) = judge((Budget.parse("cpu_pct < 90"),), {}, resources=sampler.report({}))

    assert (result.observed, result.passed) == (None, False)
    assert "cpu_pct was not measured" in result.note
    assert "no process the harness can see" in result.note


class _Container:
    """What capacity_of reads of a docker container: its HostConfig."""

    def __init__(self, host: dict[str, int]) -> None:
        self.attrs = {"HostConfig": host}


@pytest.mark.parametrize(
    ("host", "cores", "memory"),
    [
        pytest.param({"CpuQuota": 150_000, "CpuPeriod": 100_000}, 1.5, None, id="quota"),
        pytest.param({"NanoCpus": 2_000_000_000, "Memory": 512 << 20}, 2.0, 512 << 20, id="nano"),
        pytest.param({"CpuQuota": 0, "Memory": 0}, None, None, id="no-limits"),
    ],
)
def test_percentages_are_of_the_containers_limits_when_it_has_some(
    host: dict[str, int], cores: float | None, memory: int | None
) -> None:
    machine = machine_capacity()

    found = capacity_of(cast(RunningService, _Container(host)))

    assert found.cpu_cores == (cores or machine.cpu_cores)
    assert found.memory_bytes == (memory or machine.memory_bytes)
    assert ("container's CPU limit" in found.cpu_basis) is (cores is not None)
    assert ("container's memory limit" in found.memory_basis) is (memory is not None)


def test_a_process_is_measured_against_the_machine() -> None:
    machine = machine_capacity()

    assert capacity_of(RemoteService("endpoint", "http://127.0.0.1:9")) == machine
    assert machine.cpu_cores == os.cpu_count()
    assert machine.cpu_basis == f"{os.cpu_count()} cores of the machine (os.cpu_count)"


def test_a_phase_without_a_sample_cannot_pass() -> None:
    report = _sampled(READINGS).report({"overall": (0.0, 4.0), "during:x": (3.5, 3.9)})

    (result,) = judge((Budget.parse("cpu_pct < 90", phase="during:x"),), {}, resources=report)

    assert (result.observed, result.passed) == (None, False)
    assert result.note == "no resource sample fell inside phase during:x"


def test_the_process_tree_of_this_test_is_read_from_proc() -> None:
    reading = read_tree(os.getpid())

    assert reading is not None
    assert reading.pid == os.getpid()
    assert reading.cpu_s > 0
    assert reading.rss_bytes > 1 << 20


def test_a_gone_process_reads_as_none() -> None:
    # Beyond the default pid_max, so never a live process.
    assert read_tree(1 << 23) is None


@pytest.mark.parametrize(
    ("expression", "dropped", "observed", "passed"),
    [
        pytest.param("dropped == 0", 0, 0.0, True, id="none-dropped"),
        pytest.param("dropped == 0", 3, 3.0, False, id="some-dropped"),
        pytest.param("dropped < 5", 3, 3.0, True, id="within"),
    ],
)
def test_dropped_is_the_generators_count(
    expression: str, dropped: int, observed: float, passed: bool
) -> None:
    (result,) = judge((Budget.parse(expression),), {}, dropped=dropped)

    assert (result.observed, result.passed) == (observed, passed)


def test_dropped_without_a_count_cannot_pass() -> None:
    (result,) = judge((Budget.parse("dropped == 0"),), {})

    assert (result.observed, result.passed) == (None, False)
    assert result.note.startswith("dropped was not measured")


def test_an_aborted_run_fails_and_says_so() -> None:
    recorder = _timeline(SLOW)
    phases = phase_stats(recorder, RUN_S)
    budget = Budget.parse("error_rate < 0.05", abort_on_fail=True, delay_abort_s=1)
    aborted = {
        "budget": budget.label,
        "expression": budget.expression,
        "phase": "overall",
        "observed": 0.31,
        "at_s": 3.0,
        "delay_abort_s": 1.0,
    }
    base = RunResult(
        "s", "process", judge((budget,), phases), phases, recorder.seconds(), [], {}, "", 20
    )
    result = dataclasses.replace(base, aborted=aborted)

    assert base.passed
    assert not result.passed
    assert result.to_json()["aborted"] == aborted
    assert result.to_json()["budgets"][0]["abort_on_fail"] is True
    assert "FAIL (aborted at t=3.0s)" in render_text(result)
    assert "aborted at t=3.0s: error_rate < 0.05 [overall] broke with 0.31" in render_text(result)


FAULT = """\
faults:
  - {name: slow, type: latency, target: feature-store, start_s: 2, duration_s: 3,
     attributes: {latency: 100}}
"""
LOAD = "name: kinds\nload: {rate: 10, duration_s: 8}\n"


def test_the_new_keys_parse_into_a_frozen_hashable_budget() -> None:
    scenario = parse_scenario(
        LOAD + FAULT + "budgets:\n"
        "  - {expect: recovery_time_s < 2, phase: during:slow, tolerance: 0.5}\n"
        "  - {expect: error_rate < 0.05, abort_on_fail: true, delay_abort_s: 1.5}\n"
        "  - cpu_pct_mean < 80\n"
        "  - availability >= 0.999\n"
        "  - dropped == 0\n"
    )

    recovery, aborting, cpu, availability, dropped = scenario.budgets
    assert recovery == Budget("recovery_time_s", "<", 2.0, "during:slow", tolerance=0.5)
    assert aborting == Budget("error_rate", "<", 0.05, abort_on_fail=True, delay_abort_s=1.5)
    assert (cpu.metric, availability.metric, dropped.metric) == (
        "cpu_pct_mean",
        "availability",
        "dropped",
    )
    assert len(set(scenario.budgets)) == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        aborting.abort_on_fail = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        pytest.param(
            LOAD + "budgets:\n  - recovery_time_s < 5\n",
            "budgets[0].expect",
            "this scenario has no faults",
            id="recovery-without-faults",
        ),
        pytest.param(
            LOAD + FAULT + "budgets:\n  - {expect: recovery_time_s < 5, phase: baseline}\n",
            "budgets[0].phase",
            "phase during:<fault>, recovery or overall",
            id="recovery-in-baseline",
        ),
        pytest.param(
            LOAD + "budgets:\n  - {expect: dep.feature-store.calls < 9, abort_on_fail: true}\n",
            "budgets[0].abort_on_fail",
            "dep.feature-store.calls is only known once the run is over",
            id="abort-on-a-dependency",
        ),
        pytest.param(
            LOAD + FAULT + "budgets:\n  - {expect: recovery_time_s < 5, abort_on_fail: true}\n",
            "budgets[0].abort_on_fail",
            "cannot abort",
            id="abort-on-recovery",
        ),
        pytest.param(
            LOAD + FAULT + "budgets:\n  - {expect: recovery_time_s < 5, tolerance: -0.1}\n",
            "budgets[0].tolerance",
            "expected tolerance >= 0 but got tolerance=-0.1",
            id="negative-tolerance",
        ),
        pytest.param(
            LOAD + FAULT + "budgets:\n  - {expect: recovery_time_s < 5, tolerance: lots}\n",
            "budgets[0].tolerance",
            "expected a number but got tolerance='lots'",
            id="tolerance-not-a-number",
        ),
        pytest.param(
            LOAD + "budgets:\n  - {expect: p99_ms < 5, tolerance: 0.1}\n",
            "budgets[0].tolerance",
            "tolerance applies to recovery_time_s only",
            id="tolerance-elsewhere",
        ),
        pytest.param(
            LOAD + "budgets:\n  - {expect: p99_ms < 5, abort_on_fail: yes please}\n",
            "budgets[0].abort_on_fail",
            "expected true or false",
            id="abort-not-a-flag",
        ),
        pytest.param(
            LOAD + "budgets:\n  - {expect: p99_ms < 5, delay_abort_s: 2}\n",
            "budgets[0].delay_abort_s",
            "needs abort_on_fail: true",
            id="delay-without-abort",
        ),
        pytest.param(
            LOAD + "budgets:\n  - {expect: p99_ms < 5, abort_on_fail: true, delay_abort_s: -1}\n",
            "budgets[0].delay_abort_s",
            "expected delay_abort_s >= 0",
            id="negative-delay",
        ),
        pytest.param(
            LOAD + FAULT + "budgets:\n  - {expect: dropped == 0, phase: during:slow}\n",
            "budgets[0].phase",
            "dropped is counted over the whole run",
            id="dropped-in-a-phase",
        ),
        pytest.param(
            LOAD + "budgets:\n  - client.cpu_pct < 50\n",
            "budgets[0].expect",
            "expected cpu_pct without client.",
            id="client-cpu",
        ),
    ],
)
def test_bad_budget_keys_are_refused_naming_the_field(text: str, field: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="kinds.yaml")

    assert info.value.field == field
    assert fragment in str(info.value)


def test_the_cli_refuses_recovery_time_without_faults_with_exit_2(cli: Cli, tmp_path: Path) -> None:
    scenario = tmp_path / "kinds.yaml"
    scenario.write_text(LOAD + "budgets:\n  - recovery_time_s < 5\n")

    ran = cli("run", str(scenario), "--backend", "process")

    assert ran.code == 2
    assert "kinds.yaml:4: budgets[0].expect: recovery_time_s is measured from" in ran.err


@pytest.mark.parametrize(
    ("metric", "mid_run"),
    [
        ("p99_ms", True),
        ("error_rate", True),
        ("availability", True),
        ("dropped", True),
        ("cpu_pct", True),
        ("memory_pct_mean", True),
        ("client.p99_ms", True),
        ("recovery_time_s", False),
        ("dep.feature-store.calls", False),
        ("retry_amplification", False),
        ("endpoint.status_503", False),
    ],
)
def test_what_can_abort_a_run(metric: str, mid_run: bool) -> None:
    assert judged_mid_run(metric) is mid_run
