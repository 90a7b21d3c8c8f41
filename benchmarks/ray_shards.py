"""The same open-loop run from N local worker processes and from N Ray actors, side by side.

Against Debian's nginx on loopback (as benchmarks/load_throughput.py starts it), for each rate:
one run with ``run_processes`` (N spawned processes, merged at the end) and one with
``RayShards`` (N actors on a local Ray, their outcomes recorded in the driver as they come),
alternating, each bounded in time. Printed per rate and mode: achieved rate, scheduling lag
p99, dropped, CPU per request in the workers (processes or actors, from /proc) and in the
driver; then the highest rate each mode held with lag p99 <= 2 ms, nothing dropped, no errors.

    .venv/bin/python benchmarks/ray_shards.py [--workers 2] [--seconds 5]
                                              [--rates 1000,2000,4000,8000,12000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_throughput import LAG_BUDGET_MS, ensure_tools, nginx_server

from harness.loadgen import Constant, Plan, Target, run_processes
from harness.loadgen.ray_shards import (
    START_MARGIN_S,
    RayShards,
    Workers,
    start_local_ray,
)
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Outcome:
    mode: str
    rate: float
    achieved: float
    lag_p99_ms: float
    dropped: int
    errors: int
    worker_us: float  # CPU per request in the workers
    driver_us: float  # CPU per request in this process

    @property
    def holds(self) -> bool:
        return (
            self.lag_p99_ms <= LAG_BUDGET_MS
            and self.dropped == 0
            and self.errors == 0
            and self.achieved >= 0.97 * self.rate
        )

    def line(self) -> str:
        mark = "holds" if self.holds else "-"
        return (
            f"{self.mode:<9} {self.rate:>8,.0f} req/s  achieved {self.achieved:>8,.0f}  "
            f"lag p99 {self.lag_p99_ms:6.2f} ms  dropped {self.dropped:>5}  errors "
            f"{self.errors:>4}  worker {self.worker_us:6.1f} us/req  driver "
            f"{self.driver_us:5.1f} us/req  {mark}"
        )


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _plan(url: str, rate: float, seconds: float) -> Plan:
    return Plan(Target(url, method="GET", timeout_s=5.0), Constant(rate, seconds), engine="http1")


def with_processes(url: str, rate: float, seconds: float, workers: int) -> Outcome:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    driver = _self_cpu()
    recorder, stats = run_processes(_plan(url, rate, seconds), workers)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return _outcome("processes", rate, seconds, recorder, stats, worker_cpu, _self_cpu() - driver)


def with_ray(url: str, rate: float, seconds: float, workers: int) -> Outcome:
    with RayShards(Workers(ray="local", shards=workers)) as shards:
        shards.prepare(_plan(url, rate, seconds))
        import ray

        pids = ray.get([actor.where.remote() for actor in shards.actors])
        before = sum(_proc_cpu(place["pid"]) for place in pids)
        driver = _self_cpu()
        recorder = Recorder()
        stats = shards.run(recorder, time.monotonic() + START_MARGIN_S)
        driver_cpu = _self_cpu() - driver
        worker_cpu = sum(_proc_cpu(place["pid"]) for place in pids) - before
    return _outcome("ray", rate, seconds, recorder, stats, worker_cpu, driver_cpu)


def _outcome(
    mode: str,
    rate: float,
    seconds: float,
    recorder: Recorder,
    stats: GeneratorStats,
    worker_cpu: float,
    driver_cpu: float,
) -> Outcome:
    overall = recorder.phases["overall"]
    requests = max(overall.requests, 1)
    return Outcome(
        mode,
        rate,
        overall.requests / seconds,
        stats.lag_p99_ms,
        stats.dropped,
        overall.errors,
        worker_cpu / requests * 1e6,
        driver_cpu / requests * 1e6,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="1000,2000,4000,8000,12000")
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",")]
    nginx, _, _ = ensure_tools(need_locust=False)
    ray = start_local_ray(args.workers)
    best = {"processes": 0.0, "ray": 0.0}
    try:
        with nginx_server(nginx) as url:
            print(
                f"{time.strftime('%Y-%m-%d')}, {args.workers} workers, {args.seconds:g} s per "
                f"run, nginx at {url}, Ray {ray.__version__}"
            )
            for rate in rates:
                for run in (with_processes, with_ray):
                    outcome = run(url, rate, args.seconds, args.workers)
                    print(outcome.line(), flush=True)
                    if outcome.holds:
                        best[outcome.mode] = max(best[outcome.mode], rate)
    finally:
        ray.shutdown()
    ratio = best["ray"] / best["processes"] if best["processes"] else float("nan")
    print(
        f"highest rate held (lag p99 <= {LAG_BUDGET_MS:g} ms, none dropped, no errors): "
        f"processes {best['processes']:,.0f} req/s, Ray {best['ray']:,.0f} req/s "
        f"(ray/processes {ratio:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
