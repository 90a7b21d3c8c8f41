"""Several worker processes sharing one schedule, merged exactly in the parent.

Each worker takes every N-th request of the schedule, records its own HDR histograms, and hands
them back HDR-encoded; the parent decodes and adds them, which is exact (no averaging of
percentiles). All workers start from one monotonic ``t0``, which Linux's CLOCK_MONOTONIC makes
common to every process, after every worker has finished importing and is ready.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.synchronize import Event
from typing import Any

from harness.errors import ChaosError, UsageError
from harness.loadgen.engine import SELF_PACED, Plan
from harness.loadgen.histograms import Bucket
from harness.loadgen.pacing import run_recorded
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.worker import run_plan

__all__ = ["Tick", "run_processes"]

# Called about once a second with the seconds elapsed, the last full second and the in-flight.
Tick = Callable[[float, Bucket | None, int], None]

_READY_TIMEOUT_S = 60.0
# Margin between "everyone is ready" and the first request, so no worker starts behind.
_START_MARGIN_S = 0.2


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _ticking(plan: Plan, recorder: Recorder, t0: float, ticks: Any) -> GeneratorStats:
    pending: set[asyncio.Task[None]] = set()
    run = asyncio.create_task(run_plan(plan, recorder, t0, pending))
    second = 1
    while not run.done():
        await asyncio.wait({run}, timeout=max(t0 + second - time.monotonic(), 0.0))
        if run.done():
            break
        found = recorder.buckets.get(second - 1)
        ticks.put((second, found.encode() if found else None, len(pending)))
        second += 1
    return run.result()


def _paced_or_none(plan: Plan, recorder: Recorder, t0: float, ticks: Any) -> GeneratorStats | None:
    """Runs the self-paced engines (curl, http1), which need no asyncio; None for aiohttp."""
    if plan.engine not in SELF_PACED:
        return None

    def tick(second: int, inflight: int) -> None:
        found = recorder.buckets.get(second - 1)
        ticks.put((second, found.encode() if found else None, inflight))

    return run_recorded(plan, recorder, t0, tick)


def _worker_main(
    plan: Plan, ready: Any, start: Event, t0_box: Any, results: Any, ticks: Any
) -> None:
    recorder = Recorder()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        ready.put(plan.worker)
        start.wait()
        t0 = float(t0_box.value)
        try:
            stats = _paced_or_none(plan, recorder, t0, ticks) or runner.run(
                _ticking(plan, recorder, t0, ticks)
            )
        except ChaosError as exc:
            # Said by the parent as its own error, not printed here as a traceback.
            results.put((plan.worker, None, (isinstance(exc, UsageError), str(exc))))
            return
    results.put((plan.worker, recorder.encode(), stats.encode()))


def run_processes(
    plan: Plan, workers: int, tick: Tick | None = None
) -> tuple[Recorder, GeneratorStats]:
    """Run ``plan`` split over ``workers`` processes; the merged recorder and generator stats."""
    ctx = mp.get_context("spawn")
    ready, results, ticks = ctx.Queue(), ctx.Queue(), ctx.Queue()
    start, t0_box = ctx.Event(), ctx.Value("d", 0.0)
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(replace(plan, worker=w, workers=workers), ready, start, t0_box, results, ticks),
            name=f"serving-chaos-load-{w}",
            daemon=True,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:
            proc.start()
        _await_ready(ready, procs)
        t0 = time.monotonic() + _START_MARGIN_S
        t0_box.value = t0
        start.set()
        return _collect(results, ticks, procs, t0, workers, tick)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=5)


def _await_ready(ready: Any, procs: list[Any]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    for _ in procs:
        while True:
            try:
                ready.get(timeout=0.2)
                break
            except queue.Empty:
                dead = [p.name for p in procs if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    raise ChaosError(f"load workers did not start: {dead or 'timed out'}") from None


def _collect(
    results: Any, ticks: Any, procs: list[Any], t0: float, workers: int, tick: Tick | None
) -> tuple[Recorder, GeneratorStats]:
    recorder, stats = Recorder(), GeneratorStats()
    seen: dict[int, tuple[Bucket, int, int]] = {}
    done = 0
    while done < workers:
        try:
            _, encoded, encoded_stats = results.get(timeout=0.05)
        except queue.Empty:
            _drain_ticks(ticks, seen, workers, t0, tick)
            dead = [p.name for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise ChaosError(f"load worker died: {', '.join(dead)}") from None
            continue
        if encoded is None:
            usage, message = encoded_stats
            raise (UsageError if usage else ChaosError)(message)
        recorder.merge_encoded(encoded)
        stats.merge(GeneratorStats.decode(encoded_stats))
        done += 1
    return recorder, stats


def _drain_ticks(
    ticks: Any,
    seen: dict[int, tuple[Bucket, int, int]],
    workers: int,
    t0: float,
    tick: Tick | None,
) -> None:
    # A second is shown once every worker has reported it; the in-flight is their sum.
    while True:
        try:
            second, encoded, inflight = ticks.get_nowait()
        except queue.Empty:
            return
        bucket, count, total = seen.get(second, (Bucket(second=second - 1), 0, 0))
        if encoded is not None:
            bucket.merge_encoded(encoded)
        seen[second] = (bucket, count + 1, total + inflight)
        if count + 1 == workers:
            del seen[second]
            if tick is not None:
                tick(time.monotonic() - t0, bucket, total + inflight)
