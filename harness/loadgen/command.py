"""`serving-chaos load`: standalone load against any URL, reported as JSON and a summary.

Exit 0 when the generator kept its schedule, 1 when the run is invalid because it did not
(the numbers then describe the generator, not the endpoint), 2 for bad usage or a URL that no
request could connect to.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.console import Console

from harness.errors import UsageError
from harness.loadgen.engine import Plan
from harness.loadgen.fanout import run_processes
from harness.loadgen.live import LoadProgress
from harness.loadgen.llm_options import llm_from
from harness.loadgen.options import plan_from
from harness.loadgen.ray_shards import (
    DEFAULT_MAX_CLOCK_OFFSET_MS,
    START_MARGIN_S,
    RayRun,
    RayShards,
    Tick,
    Workers,
    import_ray,
)
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import MAX_LAG_S, GeneratorStats
from harness.loadgen.summary import LoadResult

__all__ = ["run_load"]


def _run_on_ray(
    plan: Plan, workers: Workers, tick: Tick
) -> tuple[Recorder, GeneratorStats, RayRun]:
    with RayShards(workers) as shards:
        shards.prepare(plan)
        recorder = Recorder()
        t0 = time.monotonic() + START_MARGIN_S
        stats = shards.run(recorder, t0, tick=tick)
        return recorder, stats, shards.report


def run_load(args: argparse.Namespace) -> int:
    plan, workers = plan_from(args)
    if workers.ray is not None:
        import_ray()  # says how to install it before anything starts
    mode = "open-loop" if plan.open_loop else "closed-loop"
    shape = plan.shape.label if plan.open_loop else f"{plan.concurrency} users"
    err = Console(stderr=True, emoji=False)
    if not args.quiet:
        streamed = ", streamed" if plan.target.stream else ""
        err.print(f"serving-chaos load: {mode} {shape} -> {args.url}{streamed}", markup=False)
    started = time.monotonic()
    ray: dict[str, Any] | None = None
    problems: list[str] = []
    with LoadProgress(err, plan.shape.duration_s, mode, quiet=args.quiet) as progress:
        if workers.ray is None:
            recorder, stats = run_processes(plan, workers.processes, progress)
            count = workers.processes
        else:
            recorder, stats, shards = _run_on_ray(plan, workers, progress)
            ray, count = shards.to_json(), len(shards.shards)
            problems = shards.problems(MAX_LAG_S * 1000, DEFAULT_MAX_CLOCK_OFFSET_MS)
    elapsed = time.monotonic() - started
    result = LoadResult(
        url=args.url,
        mode=mode,
        shape=shape,
        workers=count,
        ray=ray,
        shard_problems=problems,
        engine=plan.engine,
        # The schedule's own length: achieved rate is per second of offered load, not per
        # second of process start-up and straggler draining.
        duration_s=min(plan.shape.duration_s, elapsed),
        recorder=recorder,
        generator=stats,
        stream=plan.target.stream,
        slo=plan.target.slo,
        llm=llm_from(args),
    )
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write --json {args.json}: {exc.strerror or exc}") from exc
    out = Console(emoji=False)
    for line in result.summary_lines():
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    overall = recorder.phases["overall"]
    if overall.requests and not overall.statuses and set(overall.failures) == {"connection"}:
        err.print(
            f"serving-chaos load: error: no request could connect to {args.url}; "
            "is the endpoint running and the URL right?",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 2
    return 0 if result.valid else 1
