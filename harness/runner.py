"""One run of a scenario: topology up, load and faults on one clock, verdict, teardown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faults import FaultWindow, ResourceLimit
from faults.driver import drive_faults
from harness.backend import resolve_backend, start_topology
from harness.errors import UsageError
from harness.load import GeneratorStats, run_open_loop
from harness.loadgen.shapes import Shape
from harness.recorder import Bucket, PhaseClock, Recorder
from harness.report import write_reports
from harness.results import RunResult, judge
from harness.sampler import sample_metrics
from harness.scenario import Scenario
from harness.topology import Topology, url_topology

ProgressCallback = Callable[[float, Bucket | None], None]


@dataclass(frozen=True, slots=True)
class _Drive:
    stats: GeneratorStats
    windows: list[FaultWindow]
    elapsed_s: float


async def _progress_loop(
    recorder: Recorder, t0: float, callback: ProgressCallback, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            elapsed = time.monotonic() - t0
            callback(elapsed, recorder.snapshot(int(elapsed) - 1))


async def _drive(
    scenario: Scenario,
    shape: Shape,
    topology: Topology,
    recorder: Recorder,
    progress: ProgressCallback | None,
) -> _Drive:
    t0 = time.monotonic() + 0.05
    stop = asyncio.Event()
    background: list[asyncio.Task[Any]] = []
    if topology.metrics_url is not None:
        sampler = sample_metrics(topology.metrics_url, recorder, t0=t0, stop=stop)
        background.append(asyncio.create_task(sampler))
    if progress is not None:
        background.append(asyncio.create_task(_progress_loop(recorder, t0, progress, stop)))
    faults = asyncio.create_task(
        drive_faults(scenario.faults, topology, t0=t0, observer=recorder.clock)
    )
    try:
        stats = await run_open_loop(
            topology.invocations_url, scenario.load, recorder, t0=t0, shape=shape
        )
        windows = await faults
    finally:
        stop.set()
        faults.cancel()
        await asyncio.gather(faults, *background, return_exceptions=True)
    return _Drive(stats, windows, time.monotonic() - t0)


def run_on(
    topology: Topology,
    scenario: Scenario,
    *,
    backend: str = "process",
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run ``scenario`` against an already running topology, starting from clean proxies."""
    topology.toxiproxy.reset()
    recorder = Recorder(PhaseClock([fault.name for fault in scenario.faults]))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    shape = scenario.load_shape()
    drive = asyncio.run(_drive(scenario, shape, topology, recorder, progress))
    buckets = recorder.seconds()
    phases = recorder.phase_stats(scenario.load.duration_s)
    notes: list[str] = []
    if drive.stats.dropped:
        notes.append(f"generator dropped {drive.stats.dropped} scheduled requests")
    max_lag_ms = scenario.load.max_lag_ms
    if drive.stats.lag_p99_ms > max_lag_ms:
        notes.append(
            f"generator fell behind its schedule: lag p99 {drive.stats.lag_p99_ms:.1f} ms "
            f"> {max_lag_ms:g} ms (load.max_lag_ms)"
        )
    return RunResult(
        scenario=scenario.name,
        backend=backend,
        budgets=judge(scenario.budgets, phases),
        phases=phases,
        buckets=buckets,
        faults=drive.windows,
        generator=drive.stats.to_json(),
        load_shape=f"open-loop {shape.label}",
        started_at=started,
        duration_s=drive.elapsed_s,
        valid=not notes,
        notes=notes,
    )


def backend_for(scenario: Scenario, asked: str) -> str:
    """The backend a scenario runs on (``url`` for a target url: only Toxiproxy is started, as a
    process), or a UsageError naming what it needs instead."""
    kind = scenario.target.kind if scenario.target is not None else "reference"
    if kind == "url":
        return "url"
    if kind == "command":
        if asked == "docker":
            raise UsageError("a target command runs as a process; use target.image for docker")
        return "process"
    concrete = resolve_backend(asked)
    if kind == "image" and concrete != "docker":
        raise UsageError("a target image needs the docker backend, and no Docker engine answers")
    if concrete == "process" and any(isinstance(f.fault, ResourceLimit) for f in scenario.faults):
        raise UsageError(
            "limit faults change a container's CPU or memory and need the docker backend; "
            "run with --backend docker"
        )
    return concrete


def run_scenario(
    scenario: Scenario,
    *,
    backend: str = "auto",
    report_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    compose: Path | None = None,
) -> RunResult:
    """Bring the topology up, run, tear it down (always), and write the reports if asked;
    ``compose`` is a compose file for the docker backend's service limits and environment."""
    target = scenario.target
    concrete = backend_for(scenario, backend)
    if concrete == "url" and target is not None:
        with url_topology(target) as topology:
            result = run_on(topology, scenario, backend=concrete, progress=progress)
    else:
        with start_topology(
            scenario.endpoint, concrete, custom=target, compose=compose
        ) as topology:
            result = run_on(topology, scenario, backend=concrete, progress=progress)
    if report_dir is not None:
        write_reports(result, report_dir)
    return result
