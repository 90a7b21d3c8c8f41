"""One run of a scenario: topology up, load and faults on one clock, verdict, teardown.

A watchdog looks at every service while the load runs. A harness-owned service (Toxiproxy)
that dies ends the run at once as invalid: what was measured so far is kept, and the error
carries it. A service of the system under test that dies is a finding: the run goes on, and
the result says which service died and when.

Budgets with ``abort_on_fail`` are judged once a second on what was measured so far; the first
that breaks ends the run the same way (load stopped, faults reverted), and the run fails as
aborted, every budget judged on what it measured until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faults import Crash, FaultWindow, Stop
from faults.driver import drive_faults
from harness.errors import ChaosError, HarnessServiceLost, UsageError
from harness.incident.reproduce import compare
from harness.loadgen.histograms import Bucket
from harness.loadgen.live import Sequences
from harness.loadgen.ray_shards import (
    DEFAULT_MAX_CLOCK_OFFSET_MS,
    START_MARGIN_S,
    RayShards,
    Workers,
)
from harness.loadgen.recorder import Recorder, Seconds, timeline_row
from harness.loadgen.shapes import Shape
from harness.loadgen.stats import GeneratorStats
from harness.report import write_reports
from harness.run.clients import CALL_PREFIX, ClientRun, drive_client, payloads_for
from harness.run.hops import (
    HopCounts,
    clear_ledger,
    dependency_report,
    endpoint_hop_report,
    fetch_ledger,
    scrape_hops,
)
from harness.run.load import load_plan, run_open_loop
from harness.run.phases import PhaseClock
from harness.run.resources import ResourceSampler
from harness.run.sampler import sample_dependencies, sample_metrics
from harness.run.series import RunSeries
from harness.run.tokens import generated_between, scrape_generated_tokens
from harness.scenario import Budget, Scenario
from harness.scenario.budgets import DROPPED
from harness.scenario.clients import resolve_client
from harness.scenario.spec import IncidentSpec
from harness.system import HostSettings, Topology, backend_for, bring_up, open_backend
from harness.system.spec import ENDPOINT
from harness.system.topology import describe_death
from harness.verdict.budgets import BudgetResult
from harness.verdict.clients import client_measures, parse_ledger
from harness.verdict.phases import PhaseStats, phase_stats
from harness.verdict.results import RunResult, judge, run_environment

__all__ = ["ProgressCallback", "run_on", "run_scenario"]

# Seconds since the start, the second just past (None before any request of it), and the LLM
# endpoint's sequences in it (None for an endpoint that does not expose them).
ProgressCallback = Callable[[float, Bucket | None, Sequences | None], None]
_WATCH_INTERVAL_S = 0.5


@dataclass(slots=True)
class _Watch:
    """What the watchdog saw: a lost harness service ends the run; deaths are findings."""

    lost: str | None = None
    lost_text: str = ""
    deaths: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Abort:
    """The budgets that may end the run early, and the one that did, once one has: set by the
    abort loop while the run goes on."""

    budgets: tuple[Budget, ...]
    broken: BudgetResult | None = None
    at_s: float = 0.0
    # Drops counted from the timeline mid-run: the generator's own count is lost when the load
    # is cancelled.
    dropped: int | None = None

    def to_json(self) -> dict[str, Any] | None:
        if self.broken is None:
            return None
        budget = self.broken.budget
        return {
            "budget": budget.label,
            "expression": budget.expression,
            "phase": budget.phase,
            "observed": self.broken.observed,
            "at_s": round(self.at_s, 3),
            "delay_abort_s": budget.delay_abort_s,
        }


@dataclass(frozen=True, slots=True)
class _Drive:
    stats: GeneratorStats | None
    windows: list[FaultWindow]
    elapsed_s: float
    client: ClientRun | None = None


# The sampler's series keys for the LLM endpoint's sequence gauges (sampler.LLM_GAUGES).
_RUNNING, _WAITING = "running_sequences", "waiting_sequences"


def _sequences(series: RunSeries, second: int) -> Sequences | None:
    """The LLM endpoint's running and waiting sequences in ``second``, as the sampler charts
    them; None when the endpoint exposes neither."""
    found: dict[str, float | None] = {}
    for key in (_RUNNING, _WAITING):
        gauge = series.llm.get(key)
        if gauge is not None:
            found[key] = next((v for s, v in reversed(gauge.to_json()) if s == second), None)
    if not found:
        return None
    return Sequences(found.get(_RUNNING), found.get(_WAITING))


async def _progress_loop(
    recorder: Recorder,
    series: RunSeries,
    t0: float,
    callback: ProgressCallback,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            elapsed = time.monotonic() - t0
            second = int(elapsed) - 1
            callback(elapsed, recorder.snapshot(second), _sequences(series, second))


def _expected_deaths(scenario: Scenario) -> set[str]:
    """Services a fault of the scenario takes down on purpose."""
    return {f.fault.target for f in scenario.faults if isinstance(f.fault, Crash | Stop)}


def _look(topology: Topology, watch: _Watch, expected: set[str], t: float) -> bool:
    """One look at every service; True when a harness-owned one is gone."""
    lost = topology.lost_owned_service()
    if lost is not None:
        watch.lost = lost
        watch.lost_text = describe_death(lost, topology.owned[lost])
        return True
    for name, service in topology.containers.items():
        if name in expected or name in watch.deaths or service.alive():
            continue
        watch.deaths[name] = t
    return False


async def _watchdog(
    topology: Topology, scenario: Scenario, watch: _Watch, t0: float, stop: asyncio.Event
) -> None:
    expected = _expected_deaths(scenario)
    while not stop.is_set():
        t = time.monotonic() - t0
        if await asyncio.to_thread(_look, topology, watch, expected, t):
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=_WATCH_INTERVAL_S)
        except TimeoutError:
            continue


def _spans(clock: PhaseClock, faults: int, run_s: float) -> dict[str, tuple[float, float]]:
    """Where each phase lies in ``run_s`` seconds, without a recovery that has not begun (a
    fault still on or never applied), which the recorder gives no request either."""
    spans = clock.spans(run_s)
    if faults and len(clock.ends) < faults:
        spans.pop("recovery", None)
    return spans


class _DroppedSoFar:
    """The generator's drops as the timeline tells them mid-run: requests offered in a second
    old enough that every one sent has completed or timed out, that never completed."""

    def __init__(self, recorder: Recorder, settle_s: float) -> None:
        self._recorder = recorder
        self._settle_s = settle_s
        self._next = 0
        self.count = 0

    def until(self, t: float) -> int:
        while self._next + 1 + self._settle_s <= t:
            bucket = self._recorder.snapshot(self._next)
            if bucket is not None:
                self.count += max(bucket.offered - bucket.requests, 0)
            self._next += 1
        return self.count


def _judge_so_far(
    budgets: tuple[Budget, ...],
    recorder: Recorder,
    spans: dict[str, tuple[float, float]],
    resources: ResourceSampler,
    dropped: int | None,
) -> list[BudgetResult]:
    phases = {
        name: PhaseStats(name, recorder.phase_snapshot(name), *spans[name])
        for name in {budget.phase for budget in budgets}
        if name in spans and name in recorder.phases
    }
    return judge(budgets, phases, resources=resources.report(spans), dropped=dropped)


async def _abort_loop(
    abort: _Abort,
    scenario: Scenario,
    recorder: Recorder,
    clock: PhaseClock,
    resources: ResourceSampler,
    t0: float,
    stop: asyncio.Event,
) -> None:
    """Once a second, each abort_on_fail budget past its delay_abort_s judged on what was
    measured so far; returns when one breaks (a phase with nothing measured yet breaks none),
    else waits for the run to end."""
    if not abort.budgets:
        await stop.wait()
        return
    dropped = _DroppedSoFar(recorder, settle_s=scenario.load.timeout_s + 1.0)
    counts_drops = any(budget.metric == DROPPED for budget in abort.budgets)
    second = 1
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(t0 + second - time.monotonic(), 0))
        if stop.is_set():
            return
        t = time.monotonic() - t0
        second = int(t) + 1
        due = tuple(budget for budget in abort.budgets if t >= budget.delay_abort_s)
        if not due:
            continue
        if counts_drops:
            abort.dropped = dropped.until(t)
        spans = _spans(clock, len(scenario.faults), t)
        for result in _judge_so_far(due, recorder, spans, resources, abort.dropped):
            if result.observed is not None and not result.passed:
                abort.broken, abort.at_s = result, t
                return


def _windows_so_far(scenario: Scenario, clock: PhaseClock) -> list[FaultWindow]:
    """The faults' windows as the phase clock saw them: for a run ended before the fault
    driver could report them (its cancellation still reverts every fault)."""
    return [
        FaultWindow(
            name=scheduled.name,
            target=scheduled.fault.target,
            description=scheduled.fault.describe(),
            planned_start_s=scheduled.start_s,
            planned_end_s=scheduled.end_s,
            actual_start_s=clock.starts[scheduled.name],
            actual_end_s=clock.ends.get(scheduled.name),
        )
        for scheduled in scenario.faults
        if scheduled.name in clock.starts
    ]


async def _drive(
    scenario: Scenario,
    shape: Shape,
    topology: Topology,
    recorder: Recorder,
    clock: PhaseClock,
    watch: _Watch,
    progress: ProgressCallback | None,
    resources: ResourceSampler,
    abort: _Abort,
    series: RunSeries,
    shards: RayShards | None = None,
) -> _Drive:
    # Ray shards need a moment to hear the start time; one process starts at once.
    t0 = time.monotonic() + (START_MARGIN_S if shards is not None else 0.05)
    stop = asyncio.Event()
    background: list[asyncio.Task[Any]] = []
    if topology.metrics_url is not None:
        sampler = sample_metrics(topology.metrics_url, recorder, t0=t0, stop=stop, series=series)
        background.append(asyncio.create_task(sampler))
    dependencies = _dependency_metrics(topology)
    if dependencies:
        calls = sample_dependencies(dependencies, series, t0=t0, stop=stop)
        background.append(asyncio.create_task(calls))
    background.append(asyncio.create_task(resources.run(t0=t0, stop=stop)))
    if progress is not None:
        ticker = _progress_loop(recorder, series, t0, progress, stop)
        background.append(asyncio.create_task(ticker))
    watchdog = asyncio.create_task(_watchdog(topology, scenario, watch, t0, stop))
    aborter = asyncio.create_task(
        _abort_loop(abort, scenario, recorder, clock, resources, t0, stop)
    )
    faults = asyncio.create_task(drive_faults(scenario.faults, topology, t0=t0, observer=clock))
    client_run: ClientRun | None = None
    if scenario.client is None:
        load: asyncio.Task[Any] = asyncio.create_task(
            run_open_loop(
                topology.invocations_url,
                scenario.load,
                recorder,
                t0=t0,
                shape=shape,
                shards=shards,
            )
        )
    else:
        load = asyncio.create_task(_drive_client(scenario, shape, topology, recorder, t0))
    stats: GeneratorStats | None = None
    windows: list[FaultWindow] = []
    try:
        done, _ = await asyncio.wait({load, watchdog, aborter}, return_when=asyncio.FIRST_COMPLETED)
        if aborter in done:
            # A fault in judging shows here, rather than as an abort that silently never comes.
            aborter.result()
        if watch.lost is None and abort.broken is None:
            finished = await load
            if isinstance(finished, ClientRun):
                client_run, stats = finished, finished.stats
            else:
                stats = finished
            windows = await faults
    finally:
        stop.set()
        for task in (load, faults, watchdog, aborter):
            task.cancel()
        await asyncio.gather(load, faults, watchdog, aborter, *background, return_exceptions=True)
    if abort.broken is not None:
        windows = _windows_so_far(scenario, clock)
    return _Drive(stats, windows, time.monotonic() - t0, client_run)


def _dependency_metrics(topology: Topology) -> dict[str, str]:
    """Each declared dependency's /metrics: the counters hops.py reads once at the end."""
    urls = topology.stub_urls
    return {
        name: f"{urls[name]}/metrics" for name in topology.system.dependency_names if name in urls
    }


def _toxiproxy_version(topology: Topology) -> str | None:
    """For the results' environment; a Toxiproxy that does not say is no reason to stop."""
    try:
        return topology.toxiproxy.version()
    except ChaosError:
        return None


async def _drive_client(
    scenario: Scenario, shape: Shape, topology: Topology, recorder: Recorder, t0: float
) -> ClientRun:
    """The client under test, called on the load's schedule with a URL per logical call that
    the HTTP fault layer ties its attempts to (and strips before forwarding)."""
    client = scenario.client
    if client is None:
        raise TypeError("a scenario with a client expected")
    base, path, load = topology.endpoint_url, topology.invocations_path, scenario.load
    return await drive_client(
        resolve_client(client),
        shape,
        recorder,
        t0=t0,
        url_for=lambda index: f"{base}{CALL_PREFIX}{index}{path}",
        payload_for=payloads_for(
            client.payload or load.body,
            load.records_per_request,
            load.keyspace,
            () if client.payload else load.sample_bodies(),
        ),
        max_in_flight=client.max_in_flight,
        timeout_s=load.timeout_s,
        slo=load.slo,
    )


def _notes(scenario: Scenario, stats: GeneratorStats | None, watch: _Watch) -> list[str]:
    notes: list[str] = []
    if watch.lost is not None:
        notes.append(f"harness service {watch.lost} died: the run was ended at once")
    # A client under test that drops calls beyond max_in_flight is a finding about the client.
    if stats is not None and stats.dropped and scenario.client is None:
        notes.append(f"generator dropped {stats.dropped} scheduled requests")
    if stats is not None and stats.lag_p99_ms > scenario.load.max_lag_ms:
        notes.append(
            f"generator fell behind its schedule: lag p99 {stats.lag_p99_ms:.1f} ms "
            f"> {scenario.load.max_lag_ms:g} ms (load.max_lag_ms)"
        )
    return notes


@dataclass(frozen=True, slots=True)
class _Hops:
    dependencies: dict[str, dict[str, Any]]
    endpoint: dict[str, Any] | None


def _hop_reports(topology: Topology, before: dict[str, HopCounts | None], requests: int) -> _Hops:
    after = scrape_hops(topology)
    counts: dict[str, HopCounts | None] = {}
    for name, then in before.items():
        now = after.get(name)
        counts[name] = None if then is None or now is None else now - then
    dependencies = {
        name: dependency_report(counts.get(name), requests)
        for name in topology.system.dependency_names
    }
    endpoint = endpoint_hop_report(counts[ENDPOINT]) if ENDPOINT in counts else None
    return _Hops(dependencies, endpoint)


def _client_report(
    scenario: Scenario, topology: Topology, drive: _Drive, hops: _Hops
) -> dict[str, Any]:
    client, run = scenario.client, drive.client
    if client is None:
        raise TypeError("a scenario with a client expected")
    calls = 0 if run is None else run.calls
    ledger = fetch_ledger(topology)
    measures = client_measures(
        calls=calls,
        succeeded=[] if run is None else run.succeeded,
        records_per_call=1 if client.payload else scenario.load.records_per_request,
        hop=hops.endpoint,
        ledger=None if ledger is None else parse_ledger(ledger),
    )
    return {
        "callable": client.label,
        "calls": calls,
        "dropped": 0 if run is None else run.stats.dropped,
        "max_in_flight": client.max_in_flight,
        "failures": {} if run is None else dict(run.messages),
        "measures": measures,
    }


def run_on(
    topology: Topology,
    scenario: Scenario,
    *,
    progress: ProgressCallback | None = None,
    workers: Workers | None = None,
) -> RunResult:
    """Run ``scenario`` against an already running topology, from a clean state (services
    resumed, proxies clean, stub faults cleared), its load from this process or, with
    ``workers`` on Ray, from Ray shards. Raises HarnessServiceLost, with the partial result,
    when Toxiproxy dies during the run."""
    if workers is None or workers.ray is None:
        return _run_on(topology, scenario, progress, None)
    if scenario.client is not None:
        raise UsageError(
            "a client under test runs in the harness's own process: --workers ray drives "
            "the harness's HTTP engines only"
        )
    with RayShards(workers) as shards:
        shards.prepare(load_plan(topology.invocations_url, scenario.load, scenario.load_shape()))
        return _run_on(topology, scenario, progress, shards)


def _run_on(
    topology: Topology,
    scenario: Scenario,
    progress: ProgressCallback | None,
    shards: RayShards | None,
) -> RunResult:
    topology.reset()
    if scenario.client is not None:
        clear_ledger(topology)
    before = scrape_hops(topology)
    tokens_before = scrape_generated_tokens(topology.metrics_url)
    series = RunSeries(
        {
            name: None if (counts := before.get(name)) is None else counts.statuses
            for name in _dependency_metrics(topology)
        }
    )
    environment = run_environment(_toxiproxy_version(topology))
    clock = PhaseClock([fault.name for fault in scenario.faults])
    recorder = Recorder(clock)
    watch = _Watch()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    shape = scenario.load_shape()
    resources = ResourceSampler(topology.containers.get(ENDPOINT), ENDPOINT)
    abort = _Abort(tuple(budget for budget in scenario.budgets if budget.abort_on_fail))
    drive = asyncio.run(
        _drive(
            scenario,
            shape,
            topology,
            recorder,
            clock,
            watch,
            progress,
            resources,
            abort,
            series,
            shards,
        )
    )
    run_s = scenario.load.duration_s
    if watch.lost is not None:
        run_s = drive.elapsed_s
    elif abort.broken is not None:
        run_s = abort.at_s
    phases = phase_stats(recorder, run_s)
    # Read once every call has ended: the endpoint's tokens of the whole run.
    generated = generated_between(tokens_before, scrape_generated_tokens(topology.metrics_url))
    phases["overall"] = replace(phases["overall"], generated_tokens=generated)
    hops = _hop_reports(topology, before, phases["overall"].requests)
    client = None if scenario.client is None else _client_report(scenario, topology, drive, hops)
    notes = _notes(scenario, drive.stats, watch)
    if shards is not None:
        notes += shards.report.problems(scenario.load.max_lag_ms, DEFAULT_MAX_CLOCK_OFFSET_MS)
    buckets = Seconds(recorder.buckets)
    usage = resources.report(_spans(clock, len(scenario.faults), run_s))
    incident = None if scenario.incident is None else _reproduction(scenario.incident, buckets)
    result = RunResult(
        scenario=scenario.name,
        backend=topology.backend,
        budgets=judge(
            scenario.budgets,
            phases,
            hops.dependencies,
            None if client is None else client["measures"],
            buckets=buckets,
            faults=drive.windows,
            resources=usage,
            dropped=abort.dropped if drive.stats is None else drive.stats.dropped,
        ),
        phases=phases,
        buckets=buckets,
        faults=drive.windows,
        # With the bound the run's validity was judged against, for the report's lag chart.
        generator={}
        if drive.stats is None
        else {
            **drive.stats.to_json(),
            "max_lag_ms": scenario.load.max_lag_ms,
            **({} if shards is None else {"ray": shards.report.to_json()}),
        },
        load_shape=f"open-loop {shape.label}",
        started_at=started,
        duration_s=drive.elapsed_s,
        valid=watch.lost is None and not notes,
        notes=notes,
        deaths={name: round(t, 3) for name, t in watch.deaths.items()},
        dependencies=hops.dependencies,
        endpoint_hop=hops.endpoint,
        client=client,
        incident=incident,
        resources=usage,
        aborted=abort.to_json(),
        series=series.to_json(),
        environment=environment,
    )
    if watch.lost is not None:
        raise HarnessServiceLost(
            watch.lost,
            f"{watch.lost}, which the harness runs the proxies on, died at "
            f"t={drive.elapsed_s:.1f}s; the run was ended as invalid",
            logs=watch.lost_text,
            result=result,
        )
    return result


def _reproduction(incident: IncidentSpec, buckets: Seconds) -> dict[str, Any]:
    """The replay's seconds against the incident's source: results.json's ``incident``."""
    return compare(
        incident.signature,
        (timeline_row(bucket) for bucket in buckets),
        tolerance_s=incident.tolerance_s,
        min_overlap=incident.min_overlap,
    ).to_json()


def run_scenario(
    scenario: Scenario,
    *,
    backend: str = "auto",
    report_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    settings: HostSettings | None = None,
    workers: Workers | None = None,
) -> RunResult:
    """Bring the scenario's system up, run, tear it down (always), and write the reports if
    asked (also the partial ones of a run a lost harness service ended)."""
    host = settings if settings is not None else HostSettings.from_environment()
    needs_limits = scenario.needs_limits
    concrete = backend_for(scenario.system, backend, needs_limits=needs_limits)
    try:
        with bring_up(scenario.system, open_backend(concrete, host)) as topology:
            result = run_on(topology, scenario, progress=progress, workers=workers)
    except HarnessServiceLost as lost:
        if report_dir is not None:
            write_reports(lost.result, report_dir)
        raise
    if report_dir is not None:
        write_reports(result, report_dir)
    return result
