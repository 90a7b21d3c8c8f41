"""Load generator throughput, fidelity to its schedule, and memory, against nginx on loopback.

Everything runs on 127.0.0.1 free ports, side by side in one run, each measurement bounded in
time. Debian's nginx serves a static 200 (`return 200 "ok"`) from a config written to a temp dir.

  throughput  for each engine (http1, curl, aiohttp), the highest open-loop rate one worker
              process holds with scheduling lag p99 <= 2 ms, nothing dropped and no errors (a
              search over rates, 5 s per probe); the http1 and curl engines closed-loop at full
              speed (64 users, like wrk's 64 connections);
              Locust FastHttpUser (1 process) and wrk -t1 -c64 at full speed on the same target;
              and how late this machine's timers wake a sleeping thread, which bounds the lag
  memory      peak RSS of a load run at a fixed modest rate, short vs long; --long for 60 s vs
              600 s, else 20 s vs 120 s

    python benchmarks/load_throughput.py [throughput|memory|all] [--repeat 3] [--long]

Missing tools are installed when running as root: nginx and wrk with apt-get, Locust from PyPI
into .tools/bench-venv so the project's venv stays clean.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ChaosError
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".tools" / "bench-venv"
LAG_BUDGET_MS = 2.0
TARGET_PER_CORE = 25_000
TARGET_VS_LOCUST = 3.0
PROBE_S = 5.0
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {host}:{port};
        location / {{ return 200 "ok"; }}
    }}
}}
"""
LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Hit(FastHttpUser):
    wait_time = constant(0)

    @task
    def hit(self):
        self.client.get("/")
"""


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        raise SystemExit(
            f"missing {packages}; run as root or `apt-get install -y {' '.join(packages)}`"
        )
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, timeout=600)


def ensure_tools(need_locust: bool) -> tuple[str, str, Path | None]:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    wrk = shutil.which("wrk")
    missing = [name for name, path in (("nginx", nginx), ("wrk", wrk)) if path is None]
    if missing:
        _apt_install(*missing)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        wrk = shutil.which("wrk") or "/usr/bin/wrk"
    locust = BENCH_VENV / "bin" / "locust"
    if need_locust and not locust.exists():
        print(f"installing locust into {BENCH_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True, timeout=120)
        pip = [str(BENCH_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "locust"]
        subprocess.run(pip, check=True, timeout=600)
    return nginx or "/usr/sbin/nginx", wrk or "/usr/bin/wrk", locust if need_locust else None


@contextmanager
def nginx_server(nginx: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="load-bench-nginx-") as tmp:
        port = free_port()
        conf = Path(tmp, "nginx.conf")
        conf.write_text(NGINX_CONF.format(tmp=tmp, host=LOOPBACK, port=port))
        url = f"http://{LOOPBACK}:{port}/"
        nginx_child = ChildProcess("nginx", [nginx, "-c", str(conf), "-p", tmp])
        with running(nginx_child, HttpReady(url, timeout_s=10.0), Path(tmp)):
            yield url


# --- our engine -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    rate: float
    achieved: float
    lag_p99_ms: float
    dropped: int
    errors: int
    cpu: float  # worker CPU seconds per second of load

    @property
    def holds(self) -> bool:
        return (
            self.lag_p99_ms <= LAG_BUDGET_MS
            and self.dropped == 0
            and self.errors == 0
            and self.achieved >= 0.97 * self.rate
        )


def probe(url: str, engine: str, rate: float, seconds: float) -> Probe:
    """One open-loop run of one worker process at ``rate``."""
    from harness.loadgen import Constant, Plan, Target, run_processes

    plan = Plan(Target(url, method="GET", timeout_s=5.0), Constant(rate, seconds), engine=engine)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    recorder, stats = run_processes(plan, 1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    overall = recorder.phases["overall"]
    return Probe(
        rate,
        overall.requests / seconds,
        stats.lag_p99_ms,
        stats.dropped,
        overall.errors,
        cpu / seconds,
    )


def full_speed(url: str, engine: str, users: int, seconds: float) -> Probe:
    """Closed loop, ``users`` at once, one worker process: throughput without a schedule."""
    from harness.loadgen import Constant, Plan, Target, run_processes

    target = Target(url, method="GET", timeout_s=5.0)
    plan = Plan(target, Constant(1, seconds), concurrency=users, engine=engine)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    recorder, _ = run_processes(plan, 1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    overall = recorder.phases["overall"]
    return Probe(0.0, overall.requests / seconds, 0.0, 0, overall.errors, cpu / seconds)


def timer_lateness(sleep_s: float, count: int) -> tuple[float, float, float]:
    """How late select() wakes after ``sleep_s`` on this machine: p50, p99, max in ms. Nothing
    else runs in this thread, so this is the floor under any generator's scheduling lag."""
    late = []
    for _ in range(count):
        start = time.monotonic()
        select.select([], [], [], sleep_s)
        late.append(time.monotonic() - start - sleep_s)
    late.sort()
    p50, p99 = late[len(late) // 2], late[int(len(late) * 0.99)]
    return p50 * 1000, p99 * 1000, late[-1] * 1000


def max_rate(url: str, engine: str, low: float, high: float, steps: int) -> Probe | None:
    """The highest rate that holds the lag budget, by bisection on a log scale; None if even
    the lowest rate probed does not hold it."""
    best: Probe | None = None
    for _ in range(steps):
        rate = round((low * high) ** 0.5, -2)
        found = probe(url, engine, rate, PROBE_S)
        verdict = "holds" if found.holds else "fails"
        print(
            f"    {engine:8s} {rate:8.0f}/s -> achieved {found.achieved:8.0f}/s "
            f"lag p99 {found.lag_p99_ms:6.2f} ms dropped {found.dropped} errors {found.errors} "
            f"cpu {found.cpu:.2f} core  {verdict}",
            flush=True,
        )
        if found.holds:
            low, best = rate, found
        else:
            high = rate
    return best


# --- reference tools --------------------------------------------------------------------------


def run_wrk(wrk: str, url: str, seconds: int) -> float:
    out = subprocess.run(
        [wrk, "-t1", "-c64", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    return float(found.group(1))


def run_locust(locust: Path, url: str, seconds: int, users: int) -> float:
    with tempfile.TemporaryDirectory(prefix="load-bench-locust-") as tmp:
        locustfile = Path(tmp, "locustfile.py")
        locustfile.write_text(LOCUSTFILE)
        prefix = str(Path(tmp, "out"))
        argv = [str(locust), "-f", str(locustfile), "--headless", "--host", url.rstrip("/")]
        argv += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", prefix]
        argv += ["--only-summary", "--loglevel", "WARNING", "--stop-timeout", "1"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        stats = Path(prefix + "_stats.csv")
        if not stats.exists():
            raise SystemExit(f"locust failed ({done.returncode}):\n{done.stderr[-2000:]}")
        rows = stats.read_text().splitlines()
        header = rows[0].split(",")
        for row in rows[1:]:
            cells = row.split(",")
            if cells[header.index("Name")] == "Aggregated":
                return float(cells[header.index("Requests/s")])
    raise SystemExit("locust wrote no Aggregated row")


# --- memory ----------------------------------------------------------------------------------


def memory_probe(url: str, engine: str, rate: float, seconds: float) -> dict[str, float]:
    """Run in a fresh interpreter: one load run plus its report, then peak RSS of both sides."""
    from harness.loadgen import Constant, Plan, Target, run_processes
    from harness.loadgen.summary import LoadResult

    plan = Plan(Target(url, method="GET", timeout_s=5.0), Constant(rate, seconds), engine=engine)
    recorder, stats = run_processes(plan, 1)
    result = LoadResult(url, "open-loop", "constant", 1, engine, seconds, recorder, stats)
    rows = len(result.to_json()["timeline"])
    return {
        "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "parent_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "requests": recorder.phases["overall"].requests,
        "timeline_rows": rows,
        "lag_p99_ms": stats.lag_p99_ms,
    }


def measure_memory(url: str, engine: str, rate: float, seconds: float) -> dict[str, float]:
    argv = [sys.executable, __file__, "_memory-probe", url, engine, str(rate), str(seconds)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- reports ----------------------------------------------------------------------------------


def throughput(args: argparse.Namespace, nginx: str, wrk: str, locust: Path | None) -> None:
    engines = ["http1", "curl", "aiohttp"]
    found: dict[str, list[Probe]] = {engine: [] for engine in engines}
    wrk_rps: list[float] = []
    locust_rps: list[float] = []
    full_speed_probes: dict[str, list[Probe]] = {"http1": [], "curl": []}
    with nginx_server(nginx) as url:
        print(f"target: nginx {url} (1 worker process); our engine: 1 worker process")
        for rep in range(args.repeat):
            load = os.getloadavg()[0]
            print(f"  repetition {rep + 1}/{args.repeat} (load average {load:.2f})", flush=True)
            for sleep_s in (0.0002, 0.001):
                p50, p99, worst = timer_lateness(sleep_s, int(0.5 / sleep_s))
                print(
                    f"    timer: select({sleep_s * 1e6:.0f} us) wakes late by p50 {p50:.3f} ms, "
                    f"p99 {p99:.3f} ms, max {worst:.3f} ms",
                    flush=True,
                )
            for engine in engines:
                high = args.high / 6 if engine == "aiohttp" else args.high
                best = max_rate(url, engine, args.low, high, args.steps)
                # A repetition where no rate held counts as zero, so the median stays honest.
                found[engine].append(best or Probe(0.0, 0.0, float("nan"), 0, 0, 0.0))
            for engine, probes in full_speed_probes.items():
                probes.append(full_speed(url, engine, 64, args.seconds))
                print(
                    f"    {engine} closed loop x64 {probes[-1].achieved:8.0f}/s "
                    f"cpu {probes[-1].cpu:.2f} core errors {probes[-1].errors}",
                    flush=True,
                )
            wrk_rps.append(run_wrk(wrk, url, args.seconds))
            print(f"    wrk -t1 -c64  {wrk_rps[-1]:8.0f}/s", flush=True)
            if locust is not None:
                locust_rps.append(run_locust(locust, url, args.seconds, args.locust_users))
                print(f"    locust FastHttpUser x{args.locust_users}  {locust_rps[-1]:8.0f}/s")
    wrk_median = statistics.median(wrk_rps)
    locust_median = statistics.median(locust_rps) if locust_rps else None
    print(f"\nmedians of {args.repeat} repetitions (lag budget p99 <= {LAG_BUDGET_MS:g} ms):")
    print(f"  wrk -t1 -c64 at full speed       {wrk_median:9.0f} req/s")
    if locust_median is not None:
        print(f"  locust FastHttpUser, 1 process   {locust_median:9.0f} req/s")
    for engine, probes in full_speed_probes.items():
        full = statistics.median(p.achieved for p in probes)
        full_cpu = statistics.median(p.cpu for p in probes)
        line = (
            f"  serving-chaos {engine:5s} closed x64  {full:9.0f} req/s  (worker cpu "
            f"{full_cpu:.2f} core, no schedule, so no lag budget); x{full / wrk_median:.2f} of wrk"
        )
        if locust_median:
            line += f", x{full / locust_median:.1f} of locust"
        print(line)
    for engine in engines:
        rate = statistics.median(p.rate for p in found[engine])
        cpu = statistics.median(p.cpu for p in found[engine])
        lag = statistics.median(p.lag_p99_ms for p in found[engine])
        per_core = rate / cpu if cpu else float("nan")
        line = (
            f"  serving-chaos {engine:8s}          {rate:9.0f} req/s  (lag p99 {lag:.2f} ms, "
            f"worker cpu {cpu:.2f} core, {per_core:.0f} req/s per busy core); "
            f"x{rate / wrk_median:.2f} of wrk"
        )
        if locust_median:
            line += f", x{rate / locust_median:.1f} of locust"
        print(line)
        met = rate >= TARGET_PER_CORE and (locust_median is None or rate >= 3 * locust_median)
        print(
            f"    target >= {TARGET_PER_CORE} req/s per core and >= {TARGET_VS_LOCUST:g}x locust: "
            + ("met" if met else "missed")
        )


def memory(args: argparse.Namespace, nginx: str) -> None:
    short, long = (60.0, 600.0) if args.long else (20.0, 120.0)
    if not args.long:
        print(f"memory: scaled down to {short:g} s vs {long:g} s (--long for 60 s vs 600 s)")
    with nginx_server(nginx) as url:
        rows = []
        for seconds in (short, long):
            found = measure_memory(url, args.memory_engine, args.memory_rate, seconds)
            rows.append(found)
            print(
                f"  {seconds:5.0f} s at {args.memory_rate:g}/s ({args.memory_engine}): "
                f"{found['requests']:.0f} requests, {found['timeline_rows']:.0f} timeline rows, "
                f"peak RSS worker {found['worker_rss_mb']:.1f} MB, "
                f"parent {found['parent_rss_mb']:.1f} MB",
                flush=True,
            )
    growth = rows[1]["worker_rss_mb"] / rows[0]["worker_rss_mb"]
    parent = rows[1]["parent_rss_mb"] / rows[0]["parent_rss_mb"]
    print(f"  peak RSS long/short: worker x{growth:.2f}, parent x{parent:.2f}")


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "_memory-probe":
        url, engine, rate, seconds = (
            sys.argv[2],
            sys.argv[3],
            float(sys.argv[4]),
            float(sys.argv[5]),
        )
        print(json.dumps(memory_probe(url, engine, rate, seconds)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("throughput", "memory", "all"), default="all")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (medians reported)")
    parser.add_argument("--steps", type=int, default=6, help="rate-search probes per engine")
    parser.add_argument("--low", type=float, default=500, help="rate search: lower bound")
    parser.add_argument("--high", type=float, default=80000, help="rate search: upper bound")
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk/locust run")
    parser.add_argument("--locust-users", type=int, default=64)
    parser.add_argument("--no-locust", action="store_true", help="skip Locust")
    parser.add_argument("--long", action="store_true", help="memory: 60 s vs 600 s")
    parser.add_argument("--memory-rate", type=float, default=1000)
    parser.add_argument("--memory-engine", choices=("aiohttp", "curl", "http1"), default="aiohttp")
    args = parser.parse_args()
    need_locust = args.what in ("throughput", "all") and not args.no_locust
    nginx, wrk, locust = ensure_tools(need_locust)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    if args.what in ("throughput", "all"):
        throughput(args, nginx, wrk, locust)
    if args.what in ("memory", "all"):
        memory(args, nginx)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChaosError as exc:
        sys.exit(f"error: {exc}")
