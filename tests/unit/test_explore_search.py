"""The search on a fake system whose breaking point is known: it finds the failure, shrinks it to
the two faults that cause it, tells a failure that does not come back (flaky), keeps to its time
limit, and tries a known failure first next time."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from faults import ScheduledFault, Surge, Toxic
from faults.palette import FaultChoice, Magnitude, Palette
from harness.explore.examples import FAIL, PASS, Example, describe_schedule
from harness.explore.search import FLAKY, FOUND, NONE_FOUND, ExploreOptions, search
from harness.scenario.budgets import Budget
from harness.verdict.budgets import BudgetResult
from harness.verdict.results import RunResult

PALETTE = Palette(
    choices=(
        FaultChoice("latency", ("feature-store",), Magnitude(20, 120, 5)),
        FaultChoice("surge", ("endpoint",), Magnitude(4, 4, 1)),
        FaultChoice("crash", ("feature-store",)),
    ),
    run_s=3,
    min_window_s=1,
    max_window_s=2,
    max_faults=3,
)
BUDGET = Budget.parse("error_rate < 0.01")
THRESHOLD_MS = 40


def _result(error_rate: float) -> RunResult:
    judged = BudgetResult(BUDGET, error_rate, BUDGET.holds(error_rate))
    return RunResult("fake", "fake", [judged], {}, [], [], {}, "", 1.0)


def _breaks(schedule: tuple[ScheduledFault, ...]) -> bool:
    """Latency of at least THRESHOLD_MS on the feature store while a surge is on."""
    slow = [
        f
        for f in schedule
        if isinstance(f.fault, Toxic) and f.fault.attributes["latency"] >= THRESHOLD_MS
    ]
    surges = [f for f in schedule if isinstance(f.fault, Surge)]
    return any(min(a.end_s, b.end_s) > max(a.start_s, b.start_s) for a in slow for b in surges)


def _system(
    *, pause_s: float = 0.0, only_once: bool = False
) -> Callable[[tuple[ScheduledFault, ...]], RunResult]:
    runs: Counter[str] = Counter()

    def run(schedule: tuple[ScheduledFault, ...]) -> RunResult:
        time.sleep(pause_s)
        key = repr(schedule)
        runs[key] += 1
        broken = _breaks(schedule) and not (only_once and runs[key] > 1)
        return _result(0.2 if broken else 0.0)

    return run


def test_the_search_finds_and_shrinks_to_the_two_faults_that_break(tmp_path: Path) -> None:
    seen: list[str] = []
    found = search(
        _system(),
        PALETTE,
        ExploreOptions(max_examples=200, time_limit_s=120, seed=3),
        database=tmp_path / "db",
        say=lambda example: seen.append(example.verdict),
    )
    assert found.outcome == FOUND
    assert found.minimal is not None
    assert len(found.minimal) == 2
    latency, surge = found.minimal
    assert isinstance(latency.fault, Toxic)
    assert isinstance(surge.fault, Surge)
    assert latency.fault.attributes["latency"] == THRESHOLD_MS
    assert (latency.start_s, latency.duration_s, surge.start_s, surge.duration_s) == (
        0.5,
        1,
        0.5,
        1,
    )
    assert found.rerun is not None
    assert found.rerun.verdict == FAIL
    assert found.result is not None
    assert not found.result.passed
    assert FAIL in seen
    assert PASS in seen
    # Every failure was run twice; every run is logged.
    assert len(seen) == found.runs
    assert (
        found.runs
        == len(set(map(repr, (e.schedule for e in found.examples)))) + seen.count(FAIL) // 2
    )
    assert not found.timed_out


def test_a_failure_that_does_not_come_back_is_flaky(tmp_path: Path) -> None:
    found = search(
        _system(only_once=True),
        PALETTE,
        ExploreOptions(max_examples=200, time_limit_s=120, seed=3),
        database=tmp_path / "db",
    )
    assert found.outcome == FLAKY
    assert found.minimal is not None
    assert _breaks(found.minimal)
    assert found.rerun is not None
    assert found.rerun.verdict == PASS
    assert found.rerun.stage == "rerun"
    assert found.rerun.schedule == found.minimal
    # The run that broke is what the report shows.
    assert found.result is not None
    assert not found.result.passed


def test_a_system_that_cannot_break_finds_nothing(tmp_path: Path) -> None:
    runs: list[int] = []

    def never(schedule: tuple[ScheduledFault, ...]) -> RunResult:
        runs.append(1)
        return _result(0.0)

    found = search(
        never, PALETTE, ExploreOptions(max_examples=12, seed=1), database=tmp_path / "db"
    )
    assert found.outcome == NONE_FOUND
    assert found.minimal is None
    assert 1 <= found.runs == len(runs) <= 12


def test_the_time_limit_includes_shrinking(tmp_path: Path) -> None:
    """Runs of 50 ms in a 1 s limit: the search stops after about 20 runs, shrinking or not,
    and still reports the smallest failure it had."""
    found = search(
        _system(pause_s=0.05),
        PALETTE,
        ExploreOptions(max_examples=500, time_limit_s=1.0, seed=3),
        database=tmp_path / "db",
    )
    assert found.timed_out
    assert found.skipped > 0
    assert found.runs <= 20
    if found.outcome == FOUND:
        assert found.minimal is not None
        assert _breaks(found.minimal)


def test_a_known_failure_is_tried_first_next_time(tmp_path: Path) -> None:
    # A seed repeats a search exactly, without the database: these searches have none.
    options = ExploreOptions(max_examples=200, time_limit_s=120)
    first = search(_system(), PALETTE, options, database=tmp_path / "db")
    assert first.outcome == FOUND
    assert first.database == tmp_path / "db"
    seen: list[tuple[int, str]] = []
    again = search(
        _system(),
        PALETTE,
        options,
        database=tmp_path / "db",
        say=lambda example: seen.append((example.index, example.verdict)),
    )
    assert again.outcome == FOUND
    assert again.minimal == first.minimal
    assert seen[0] == (1, FAIL)
    assert again.runs < first.runs


def _recorder(seen: list[str]) -> Callable[[Example], None]:
    return lambda example: seen.append(f"{example.verdict} {describe_schedule(example.schedule)}")


def test_a_seed_repeats_a_search_exactly(tmp_path: Path) -> None:
    options = ExploreOptions(max_examples=15, seed=7)
    tried: list[list[str]] = []
    for _ in range(2):
        seen: list[str] = []
        found = search(
            _system(),
            PALETTE,
            options,
            database=tmp_path / "db",
            say=_recorder(seen),
        )
        assert found.database is None
        tried.append(seen)
    assert tried[0] == tried[1]
    assert len(tried[0]) >= 3
