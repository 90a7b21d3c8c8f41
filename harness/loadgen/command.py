"""`serving-chaos load`: standalone load against any URL, reported as JSON and a summary.

Exit 0 when the generator kept its schedule, 1 when the run is invalid because it did not
(the numbers then describe the generator, not the endpoint), 2 for bad usage or a URL that no
request could connect to.
"""

from __future__ import annotations

import argparse
import json
import time

from rich.console import Console

from harness.errors import UsageError
from harness.loadgen.fanout import run_processes
from harness.loadgen.live import LoadProgress
from harness.loadgen.options import plan_from
from harness.loadgen.summary import LoadResult

__all__ = ["run_load"]


def run_load(args: argparse.Namespace) -> int:
    plan, workers = plan_from(args)
    mode = "open-loop" if plan.open_loop else "closed-loop"
    shape = plan.shape.label if plan.open_loop else f"{plan.concurrency} users"
    err = Console(stderr=True)
    if not args.quiet:
        err.print(f"serving-chaos load: {mode} {shape} -> {args.url}", markup=False)
    started = time.monotonic()
    with LoadProgress(err, plan.shape.duration_s, mode, quiet=args.quiet) as progress:
        recorder, stats = run_processes(plan, workers, progress)
    elapsed = time.monotonic() - started
    result = LoadResult(
        url=args.url,
        mode=mode,
        shape=shape,
        workers=workers,
        engine=plan.engine,
        # The schedule's own length: achieved rate is per second of offered load, not per
        # second of process start-up and straggler draining.
        duration_s=min(plan.shape.duration_s, elapsed),
        recorder=recorder,
        generator=stats,
    )
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write --json {args.json}: {exc.strerror or exc}") from exc
    out = Console()
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
