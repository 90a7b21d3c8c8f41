"""The search: Hypothesis draws fault schedules from a palette, each one is a short run of the
scenario on one running system, and a broken budget is shrunk to the smallest schedule that
still breaks it.

The system is brought up once; every example runs on it after a reset. The time limit covers
the search and the shrinking: once the next run would end past it, Hypothesis is answered
"not a valid example" at once, which ends the search and lets the shrinking finish without
running anything more. Every failure is run once more at once: only one that comes back is a
finding Hypothesis shrinks; one that does not is flaky, not found.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from faults.palette import Palette
from faults.schedule import ScheduledFault
from harness.errors import UsageError
from harness.explore.examples import (
    FAIL,
    FLAKY_VERDICT,
    INVALID,
    NOT_JUDGED,
    PASS,
    Example,
    base_scenario,
    judge,
    with_schedule,
)
from harness.scenario.spec import Scenario
from harness.scenario.targets import HTTP_KINDS
from harness.system import HostSettings, Topology, backend_for, bring_up, open_backend
from harness.system.spec import ENDPOINT
from harness.verdict.results import RunResult

__all__ = [
    "FLAKY",
    "FOUND",
    "NONE_FOUND",
    "Exploration",
    "ExploreOptions",
    "database_path",
    "explore",
    "parse_time_limit",
    "run_example",
    "search",
]

FOUND, FLAKY, NONE_FOUND = "found", "flaky", "none"
_TIME_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_time_limit(text: str) -> float:
    """``10m``, ``90s``, ``1.5h`` or plain seconds, as seconds; a UsageError otherwise."""
    match = _TIME.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise UsageError(
            f"expected a time limit such as 90s, 10m or 1h (> 0) but got time-limit={text!r}"
        )
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class ExploreOptions:
    """How long and how hard to search: at most ``max_examples`` schedules generated (shrinking
    runs come on top), everything within ``time_limit_s``; ``seed`` repeats a search exactly
    (Hypothesis then neither reads nor writes its database, which would change what is tried
    first); ``database`` is where Hypothesis keeps failures to try first next time."""

    max_examples: int = 50
    time_limit_s: float = 600.0
    seed: int | None = None
    database: Path | None = None


@dataclass(frozen=True, slots=True)
class Exploration:
    """What a search found: ``outcome`` (found, flaky or none), every example run (reruns
    included), the smallest failing schedule and the scenario that runs it, and the run that
    decided (the rerun of the smallest failure, or for flaky the failing run its rerun did
    not repeat) with the rerun's example."""

    outcome: str
    examples: tuple[Example, ...]
    skipped: int
    elapsed_s: float
    timed_out: bool
    minimal: tuple[ScheduledFault, ...] | None = None
    scenario: Scenario | None = None
    result: RunResult | None = None
    rerun: Example | None = None
    dropped_budgets: tuple[str, ...] = ()
    database: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def runs(self) -> int:
        return len(self.examples)

    def to_json(self) -> dict[str, Any]:
        minimal = None
        if self.minimal is not None:
            minimal = Example(0, self.minimal, FAIL, 0.0).to_json()["schedule"]
        return {
            "outcome": self.outcome,
            "examples": self.runs,
            "skipped_over_time": self.skipped,
            "elapsed_s": round(self.elapsed_s, 2),
            "timed_out": self.timed_out,
            "minimal": minimal,
            "rerun": None if self.rerun is None else self.rerun.to_json(),
            "dropped_budgets": list(self.dropped_budgets),
            "database": None if self.database is None else str(self.database),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class _Failure:
    schedule: tuple[ScheduledFault, ...]
    result: RunResult
    rerun: Example


def _size(failure: _Failure) -> tuple[float, ...]:
    """How big a schedule is, as a shrink reads it: fewer faults, shorter, earlier."""
    faults = failure.schedule
    return (
        len(faults),
        sum(f.duration_s for f in faults),
        sum(f.start_s for f in faults),
    )


class _Finding(Exception):
    """Raised inside an example so Hypothesis sees a failure and shrinks it."""

    def __init__(self, schedule: tuple[ScheduledFault, ...]) -> None:
        self.schedule = schedule
        super().__init__("a budget broke")


def _key(schedule: tuple[ScheduledFault, ...]) -> str:
    return repr([(f.name, f.start_s, f.duration_s, f.fault.describe()) for f in schedule])


@dataclass(slots=True)
class _Search:
    """The mutable side of one search: the examples run, their verdicts by schedule, the
    clock, and an error that ended it."""

    run: Callable[[tuple[ScheduledFault, ...]], RunResult]
    deadline: float
    say: Callable[[Example], None]
    examples: list[Example] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)
    # Failures that broke again on their rerun: the schedule, the rerun's result and example.
    failures: dict[str, _Failure] = field(default_factory=dict)
    # Failures that held on their rerun: the schedule, the failing run's result, the rerun.
    flaky: dict[str, _Failure] = field(default_factory=dict)
    last_failure: tuple[ScheduledFault, ...] | None = None
    skipped: int = 0
    longest_s: float = 0.0
    fatal: BaseException | None = None

    def probe(self, schedule: tuple[ScheduledFault, ...]) -> None:
        """One example, as Hypothesis calls it: a failure raises, anything that is no
        verdict (over time, invalid, not judged, a harness error) is rejected."""
        from hypothesis import reject

        key = _key(schedule)
        verdict = self.verdicts.get(key)
        if verdict is None:
            if self.fatal is not None or time.monotonic() + self.longest_s > self.deadline:
                self.skipped += 1
                reject()
            verdict = self._run(schedule, key)
        if verdict == FAIL:
            raise _Finding(schedule)
        if verdict != PASS:
            reject()

    def _run(self, schedule: tuple[ScheduledFault, ...], key: str) -> str:
        """Run ``schedule``; a failure is run once more, and counts only if it breaks again
        (else it is flaky: logged and kept, but no finding Hypothesis could shrink)."""
        stage = "shrink" if self.failures else "search"
        verdict, result = self._once(schedule, stage)
        if verdict == FAIL:
            again, confirmed = self._once(schedule, "rerun")
            rerun = self.examples[-1]
            if again == FAIL:
                self.failures[key] = _Failure(schedule, confirmed, rerun)
                self.last_failure = schedule
            else:
                self.flaky[key] = _Failure(schedule, result, rerun)
                verdict = FLAKY_VERDICT
        self.verdicts[key] = verdict
        return verdict

    def _once(self, schedule: tuple[ScheduledFault, ...], stage: str) -> tuple[str, RunResult]:
        from hypothesis import reject

        began = time.monotonic()
        try:
            result = self.run(schedule)
        except Exception as exc:  # handed back once Hypothesis is done
            self.fatal = exc
            reject()
        took = time.monotonic() - began
        self.longest_s = max(self.longest_s, took)
        verdict, broken = judge(result)
        example = Example(len(self.examples) + 1, schedule, verdict, took, broken, stage)
        self.examples.append(example)
        self.say(example)
        return verdict, result


def run_example(
    topology: Topology, base: Scenario, schedule: tuple[ScheduledFault, ...]
) -> RunResult:
    """Run ``base`` with ``schedule`` on the running ``topology``, from a clean state."""
    from harness.run.runner import run_on

    return run_on(topology, with_schedule(base, schedule))


def database_path(root: Path, scenario: Scenario, palette: Palette) -> Path:
    """Where failures of this scenario under this palette are kept: one folder per pair, so
    one search never replays another's examples."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario.name).strip("-") or "scenario"
    digest = hashlib.sha256(repr((scenario.name, scenario.budgets, palette)).encode())
    return root / f"{slug}-{digest.hexdigest()[:12]}"


def _needs_front(palette: Palette) -> bool:
    return any(
        choice.kind in HTTP_KINDS and ENDPOINT in choice.targets for choice in palette.choices
    )


def _hypothesis_search(
    search: _Search, palette: Palette, options: ExploreOptions, database: Path
) -> tuple[ScheduledFault, ...] | None:
    """Let Hypothesis drive ``search``; the smallest failing schedule, or None."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.errors import HypothesisException

    from faults.strategies import schedules

    def example(schedule: tuple[ScheduledFault, ...]) -> None:
        search.probe(schedule)

    test = settings(
        max_examples=options.max_examples,
        deadline=None,
        database=DirectoryBasedExampleDatabase(str(database)),
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        derandomize=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )(given(schedules(palette))(example))
    if options.seed is not None:
        test = seed(options.seed)(test)
    try:
        test()
    except _Finding as finding:
        return finding.schedule
    except HypothesisException:
        # Flaky, or nothing valid was ever run: what was seen decides below.
        return search.last_failure
    return search.last_failure if search.failures and search.fatal is None else None


def search(
    run: Callable[[tuple[ScheduledFault, ...]], RunResult],
    palette: Palette,
    options: ExploreOptions,
    *,
    database: Path,
    say: Callable[[Example], None] = lambda example: None,
) -> Exploration:
    """Search ``palette``'s schedules with ``run`` (one example's run on a system that is
    up) and shrink a failure. Every failure is run once more: only one that breaks again is
    a finding (Hypothesis shrinks through those alone, so the smallest has broken twice);
    one that holds is flaky. With no finding, the smallest flaky failure is reported as
    flaky. Raises what stopped the search (a lost service, Ctrl-C). The exploration's
    scenario is left for the caller to fill in."""
    began = time.monotonic()
    state = _Search(run, began + options.time_limit_s, say)
    minimal = _hypothesis_search(state, palette, options, database)
    if state.fatal is not None:
        raise state.fatal
    common: dict[str, Any] = {
        "examples": tuple(state.examples),
        "skipped": state.skipped,
        "timed_out": state.skipped > 0,
        "database": None if options.seed is not None else database,
    }
    if minimal is not None:
        failure = state.failures[_key(minimal)]
        outcome = FOUND
    elif state.flaky:
        failure = min(state.flaky.values(), key=_size)
        outcome = FLAKY
    else:
        return Exploration(NONE_FOUND, elapsed_s=time.monotonic() - began, **common)
    notes: tuple[str, ...] = ()
    if failure.rerun.verdict in (INVALID, NOT_JUDGED):
        notes = (
            f"the rerun of the smallest failure was {failure.rerun.verdict}: "
            + "; ".join(failure.rerun.broken),
        )
    return Exploration(
        outcome,
        elapsed_s=time.monotonic() - began,
        minimal=failure.schedule,
        result=failure.result,
        rerun=failure.rerun,
        notes=notes,
        **common,
    )


def explore(
    scenario: Scenario,
    palette: Palette,
    options: ExploreOptions,
    *,
    backend: str = "auto",
    settings: HostSettings | None = None,
    database_root: Path,
    say: Callable[[Example], None] = lambda example: None,
) -> Exploration:
    """Search ``palette``'s schedules on ``scenario``'s system, brought up once and torn down
    however the search ends. Raises what stopped it (a lost service, Ctrl-C)."""
    host = settings if settings is not None else HostSettings.from_environment()
    base, dropped = base_scenario(scenario, palette.run_s)
    system = replace(base.system, http_front=base.system.http_front or _needs_front(palette))
    concrete = backend_for(system, backend)
    database = database_path(database_root, scenario, palette)
    with bring_up(system, open_backend(concrete, host)) as topology:
        found = search(
            lambda schedule: run_example(topology, base, schedule),
            palette,
            options,
            database=database,
            say=say,
        )
    return replace(
        found,
        scenario=None if found.minimal is None else with_schedule(base, found.minimal),
        dropped_budgets=tuple(f"{b.label} [{b.phase}]" for b in dropped),
    )
