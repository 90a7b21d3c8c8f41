"""Load engines vs wrk, vegeta, oha and Locust on nginx (loopback): rate, CPU, lag, memory.

Our load generator's throughput, CPU per request, fidelity to its schedule and memory, side by
side in one run with the reference tools.

Everything runs on 127.0.0.1 free ports, each measurement bounded in time. Debian's nginx (one
worker process) serves, from a config written to a temp dir, two workloads (``--workload``):

  get   GET /             -> static 200 "ok"
  post  POST /invocations -> 200 {"predictions":[0.5]}; our engines send RecordsBody(1) and
        validate the answer with PredictionsPerRecord(1), the tools send the same JSON body

  throughput  per workload, side by side:
              - our engines (``--engines``, default native,http1,curl,aiohttp, those importable),
                one worker process each: the highest open-loop rate held with scheduling lag
                p99 <= 2 ms, nothing dropped, no errors and >= 97 % of the rate achieved (a
                search over rates, 5 s per probe); native/http1/curl also closed loop at full
                speed with 64 users (like wrk's 64 connections);
              - wrk -t1 -c64 at full speed (closed loop; POST through a Lua script);
              - vegeta (open loop, -cpus 1, 64 workers) and oha (open loop with latency
                correction, -c 64, one tokio worker thread): the highest rate at which the
                tool's own latency p99 stays <= 2 ms, success 100 % and rate within 3 %, by
                the same search;
              - Locust FastHttpUser, 1 process, 64 users at full speed;
              - how late this machine's timers wake a sleeping thread, which bounds the lag.
              Each with its CPU per request: user+sys of the child process (getrusage
              RUSAGE_CHILDREN deltas, start-up included) divided by the requests it made; for
              our engines also net of a worker's start-up CPU (spawn + imports), measured apart.
              Goals, for native (else the best of our engines present), open-loop rate held:
              >= 0.5x wrk's closed-loop rate, >= 3x the higher of vegeta's and oha's rates
              held at p99 <= 2 ms, >= 10x Locust.
  memory      peak RSS of a load run at a fixed modest rate, short vs long; --long for 60 s vs
              600 s, else 20 s vs 120 s

    python benchmarks/load_throughput.py [throughput|memory|all] [--repeat 3] [--long]
        [--engines native,http1,curl,aiohttp] [--workload get|post|both] [--no-locust]
        [--steps 6] [--low 500] [--high 80000] [--seconds 8] [--memory-engine http1]
    python benchmarks/load_throughput.py throughput --repeat 1 --steps 3 --engines http1 \\
        --no-locust   # a quick trial, a few minutes

The reference tools run as (POST adds the JSON body and its Content-Type):

    wrk -t1 -c64 -d8s --latency [-s post.lua] URL
    echo "GET URL" | vegeta -cpus 1 attack -rate=R/s -duration=5s -timeout=5s -workers=64 \
        -max-workers=64 -connections=64 -max-connections=64 [-body=F -header=...] -output=X
    vegeta report -type=json X     # p50/p99 latency, success ratio, rate
    oha -z 5s -q R --latency-correction -c 64 --no-tui --worker-threads 1 -w \
        --output-format json [-m POST -D F -T application/json] URL
    locust -f locustfile.py --headless -u 64 -r 64 -t 8s --csv out   # 1 process

vegeta's latency counts from the send, so it does not see its own lateness; oha's, corrected,
counts from the scheduled start as ours does. An oha without --worker-threads is pinned to CPU 0
with taskset instead, and the output says so.

Missing tools are installed: nginx and wrk with apt-get (as root), Locust from PyPI into
.tools/bench-venv so the project's venv stays clean, vegeta with `go install` into .tools/bin,
oha with `cargo install --locked` into .tools/oha (a compile of several minutes). A tool that
cannot be installed is skipped and the output says so.
"""

from __future__ import annotations

import argparse
import importlib
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ChaosError
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady

if TYPE_CHECKING:
    from harness.loadgen import Plan, Target

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
BENCH_VENV = TOOLS / "bench-venv"
VEGETA = TOOLS / "bin" / "vegeta"
VEGETA_MODULE = "github.com/tsenart/vegeta/v12"
VEGETA_VERSION = "v12.12.0"
OHA_ROOT = TOOLS / "oha"
OHA = OHA_ROOT / "bin" / "oha"
LAG_BUDGET_MS = 2.0
PROBE_S = 5.0
CONNECTIONS = 64
RATE_SLACK = 0.97  # a probe holds only if at least this share of the asked rate was achieved
GOAL_VS_WRK = 0.5
GOAL_VS_OPEN_LOOP_TOOLS = 3.0
GOAL_VS_LOCUST = 10.0
# Our engines, in order of preference for the goals, and the module each one needs.
ENGINE_MODULES = {
    "native": "serving_chaos_native",
    "http1": "httptools",
    "curl": "pycurl",
    "aiohttp": "aiohttp",
}
CLOSED_LOOP_ENGINES = ("native", "http1", "curl")
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
        location /invocations {{
            default_type application/json;
            return 200 '{{"predictions":[0.5]}}';
        }}
{locations}
    }}
}}
"""
LOCUSTFILE = """
from locust import FastHttpUser, constant, task

BODY = {body!r}
HEADERS = {headers!r}


class Hit(FastHttpUser):
    wait_time = constant(0)

    @task
    def hit(self):
        self.client.request({method!r}, {path!r}, data=BODY, headers=HEADERS)
"""
WRK_POST_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
"""


# --- tools -----------------------------------------------------------------------------------


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        raise SystemExit(
            f"missing {packages}; run as root or `apt-get install -y {' '.join(packages)}`"
        )
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, timeout=600)


def ensure_tools(need_locust: bool) -> tuple[str, str, Path | None]:
    """nginx, wrk and (if asked) Locust, installed when missing."""
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


def _install(what: str, argv: list[str], timeout_s: float, env: dict[str, str]) -> bool:
    print(f"installing {what}: {' '.join(argv)} (up to {timeout_s / 60:.0f} min) ...", flush=True)
    try:
        done = subprocess.run(
            argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout_s
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"  could not install {what}: {exc}", flush=True)
        return False
    if done.returncode != 0:
        print(f"  could not install {what}:\n{done.stderr[-2000:]}", flush=True)
    return done.returncode == 0


def ensure_vegeta() -> Path | None:
    """vegeta, built with `go install` into .tools/bin when missing; None when that fails."""
    if not VEGETA.exists() and shutil.which("go"):
        argv = ["go", "install", f"{VEGETA_MODULE}@{VEGETA_VERSION}"]
        _install("vegeta", argv, 600, {"GOBIN": str(VEGETA.parent)})
    return VEGETA if VEGETA.exists() else None


def ensure_oha() -> Path | None:
    """oha, built with `cargo install --locked` into .tools/oha when missing (minutes)."""
    if not OHA.exists() and shutil.which("cargo"):
        argv = ["cargo", "install", "oha", "--locked", "--root", str(OHA_ROOT)]
        _install("oha (a Rust compile, several minutes)", argv, 1200, {})
    return OHA if OHA.exists() else None


def tool_version(argv: list[str]) -> str:
    """The first line a tool prints about its version (stdout or stderr), or "?"."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "?"


def vegeta_version(vegeta: Path) -> str:
    """`go install` builds leave `vegeta -version` empty; the module version is in the binary."""
    if shutil.which("go"):
        argv = ["go", "version", "-m", str(vegeta)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        for line in done.stdout.splitlines():
            cells = line.split()
            if cells[:2] == ["mod", VEGETA_MODULE]:
                return f"vegeta {cells[2]}"
    return "vegeta (version unknown)"


@contextmanager
def nginx_server(
    nginx: str, *, locations: str = "", files: Mapping[str, bytes] | None = None
) -> Iterator[str]:
    """nginx on a free loopback port; yields its root URL (``http://127.0.0.1:PORT/``).

    ``files`` are written to its directory and ``locations`` (nginx ``location`` blocks, where
    ``{tmp}`` names that directory) added to the server, for benchmarks that need more answers
    than the two workloads."""
    with tempfile.TemporaryDirectory(prefix="load-bench-nginx-") as tmp:
        if files:
            # nginx's worker runs as another user: it must be able to read them.
            Path(tmp).chmod(0o755)
            for name, data in files.items():
                Path(tmp, name).write_bytes(data)
        port = free_port()
        conf = Path(tmp, "nginx.conf")
        extra = locations.replace("{tmp}", tmp)
        conf.write_text(NGINX_CONF.format(tmp=tmp, host=LOOPBACK, port=port, locations=extra))
        url = f"http://{LOOPBACK}:{port}/"
        nginx_child = ChildProcess("nginx", [nginx, "-c", str(conf), "-p", tmp])
        with running(nginx_child, HttpReady(url, timeout_s=10.0), Path(tmp)):
            yield url


# --- workloads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    method: str
    path: str  # relative to nginx's root URL
    answer: str

    @property
    def posts(self) -> bool:
        return self.method == "POST"

    def url(self, root: str) -> str:
        return root + self.path

    def body(self) -> bytes:
        """The body the tools send: the engines' first RecordsBody(1) body, or none."""
        from harness.loadgen import RecordsBody

        return RecordsBody(1)(0) if self.posts else b""

    def target(self, root: str) -> Target:
        from harness.loadgen import PredictionsPerRecord, RecordsBody, Target

        if not self.posts:
            return Target(self.url(root), method="GET", timeout_s=5.0)
        return Target(
            self.url(root),
            method="POST",
            body=RecordsBody(1),
            validator=PredictionsPerRecord(1),
            timeout_s=5.0,
        )


WORKLOADS = {
    "get": Workload("get", "GET", "", 'static 200 "ok"'),
    "post": Workload("post", "POST", "invocations", '200 {"predictions":[0.5]}, validated'),
}


@dataclass(frozen=True, slots=True)
class RequestFiles:
    """What the tools need on disk to send a workload's request."""

    body: Path
    wrk_script: Path | None


def write_request_files(workload: Workload, tmp: Path) -> RequestFiles:
    body = tmp / f"{workload.name}-body.json"
    body.write_bytes(workload.body())
    if not workload.posts:
        return RequestFiles(body, None)
    script = tmp / f"{workload.name}-wrk.lua"
    script.write_text(WRK_POST_SCRIPT.format(body=workload.body().decode()))
    return RequestFiles(body, script)


# --- one measurement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One bounded load run of one generator; ``rate`` 0 means closed loop (no schedule).

    ``budget_p99_ms`` is what the 2 ms budget applies to: scheduling lag for our engines, the
    tool's own reported latency for vegeta and oha; p50/p99 are latencies (ms)."""

    rate: float
    achieved: float
    budget_p99_ms: float
    p50_ms: float
    p99_ms: float
    failures: int  # dropped, errors, invalid bodies, non-2xx: whatever the generator reports
    requests: int
    cpu_s: float
    seconds: float
    budget_on: str = "latency"  # what budget_p99_ms measures: "latency" or "lag"
    detail: str = ""
    tokens: int = 0  # streamed tokens recorded (runs of streamed answers)

    @property
    def holds(self) -> bool:
        return (
            self.budget_p99_ms <= LAG_BUDGET_MS
            and self.failures == 0
            and self.requests > 0
            and self.achieved >= RATE_SLACK * self.rate
        )

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("nan")

    @property
    def cores(self) -> float:
        return self.cpu_s / self.seconds

    def describe(self) -> str:
        what, p99 = (self.budget_on, self.budget_p99_ms) if self.rate else ("latency", self.p99_ms)
        return (
            f"achieved {self.achieved:8.0f}/s {what} p99 {p99:6.2f} ms "
            f"failures {self.failures} cpu {self.cores:.2f} core "
            f"{self.cpu_us_per_request:.1f} us/req{self.detail}"
        )


NOTHING_HELD = Run(0.0, 0.0, float("nan"), float("nan"), float("nan"), 0, 0, 0.0, 1.0)


def children_cpu_s() -> float:
    """User+sys CPU seconds of every child process reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def search_rate(
    label: str, run: Callable[[float], Run], low: float, high: float, steps: int
) -> Run | None:
    """The highest rate that holds the budget, by bisection on a log scale; None if even the
    lowest rate probed does not hold it."""
    best: Run | None = None
    for _ in range(steps):
        rate = round((low * high) ** 0.5, -2)
        found = run(rate)
        verdict = "holds" if found.holds else "fails"
        print(f"    {label:8s} {rate:8.0f}/s -> {found.describe()}  {verdict}", flush=True)
        if found.holds:
            low, best = rate, found
        else:
            high = rate
    return best


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


# --- our engines -----------------------------------------------------------------------------


def engine_available(engine: str) -> str | None:
    """None when ``engine`` can run here, else why not."""
    from harness.loadgen.engine import ENGINES

    try:
        importlib.import_module(ENGINE_MODULES[engine])
    except ImportError as exc:
        return f"`import {ENGINE_MODULES[engine]}` fails ({exc})"
    if engine not in ENGINES:
        return f"harness.loadgen.engine.Plan does not accept engine={engine!r} yet"
    return None


def pick_engines(asked: Sequence[str]) -> list[str]:
    engines = []
    for engine in asked:
        why_not = engine_available(engine)
        if why_not is None:
            engines.append(engine)
        else:
            print(f"skipping engine {engine}: {why_not}", flush=True)
    if not engines:
        raise SystemExit(f"none of the engines {list(asked)} can run here")
    return engines


def run_engine(plan: Plan, rate: float, seconds: float) -> Run:
    """One worker process running ``plan`` (``rate`` 0: closed loop); its CPU counts spawn and
    imports too."""
    from harness.loadgen import run_processes

    before = children_cpu_s()
    recorder, stats = run_processes(plan, 1)
    cpu_s = children_cpu_s() - before
    overall = recorder.phases["overall"]
    tokens = 0 if overall.stream is None else overall.stream.tokens
    return Run(
        rate,
        overall.requests / seconds,
        stats.lag_p99_ms if plan.open_loop else 0.0,
        overall.percentile_ms(50) or float("nan"),
        overall.percentile_ms(99) or float("nan"),
        stats.dropped + overall.errors,
        overall.requests,
        cpu_s,
        seconds,
        "lag",
        f" (dropped {stats.dropped}, errors {overall.errors}"
        + ("" if overall.stream is None else f", tokens {tokens}")
        + ")",
        tokens,
    )


def engine_open_loop(target: Target, engine: str, rate: float) -> Run:
    """One open-loop run of one worker process at ``rate``."""
    from harness.loadgen import Constant, Plan

    return run_engine(Plan(target, Constant(rate, PROBE_S), engine=engine), rate, PROBE_S)


def engine_closed_loop(target: Target, engine: str, users: int, seconds: float) -> Run:
    """Closed loop, ``users`` at once, one worker process: throughput without a schedule."""
    from harness.loadgen import Constant, Plan

    plan = Plan(target, Constant(1, seconds), concurrency=users, engine=engine)
    return run_engine(plan, 0.0, seconds)


def engine_startup_cpu_s(target: Target, engine: str) -> float:
    """CPU seconds of a worker that sends almost nothing (2 requests in 1 s): the spawn and
    import cost hidden in every probe's CPU."""
    from harness.loadgen import Constant, Plan

    return run_engine(Plan(target, Constant(2, 1.0), engine=engine), 2.0, 1.0).cpu_s


# --- reference tools -------------------------------------------------------------------------


def _duration_ms(text: str) -> float:
    """wrk's durations: 812.00us, 1.23ms, 1.02s, 1.50m."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        return float("nan")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[found.group(2)]
    return float(found.group(1)) * scale


def _wrk_number(pattern: str, out: str) -> str | None:
    found = re.search(pattern, out)
    return found.group(1) if found else None


def run_wrk(wrk: str, url: str, seconds: int, script: Path | None) -> Run:
    """wrk -t1 -c64 at full speed; its reported requests, rate, latency and failures."""
    argv = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    argv += ["-s", str(script), url] if script else [url]
    before = children_cpu_s()
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    cpu_s = children_cpu_s() - before
    rate = _wrk_number(r"Requests/sec:\s+([\d.]+)", out)
    requests = _wrk_number(r"(\d+) requests in", out)
    if rate is None or requests is None:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", out)
    failures = int(_wrk_number(r"Non-2xx or 3xx responses:\s+(\d+)", out) or 0)
    failures += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    p50 = _duration_ms(_wrk_number(r"\n\s+50%\s+(\S+)", out) or "")
    p99 = _duration_ms(_wrk_number(r"\n\s+99%\s+(\S+)", out) or "")
    return Run(0.0, float(rate), p99, p50, p99, failures, int(requests), cpu_s, seconds)


def run_vegeta(
    vegeta: Path, workload: Workload, root: str, files: RequestFiles, rate: float
) -> Run:
    """vegeta attack at ``rate`` for 5 s on one CPU (GOMAXPROCS=1), 64 workers/connections;
    its own report: latency from send (no correction for its own lateness), success ratio."""
    results = files.body.parent / "vegeta.bin"
    argv = [str(vegeta), "-cpus", "1", "attack", f"-rate={rate:.0f}/s"]
    argv += [f"-duration={PROBE_S:g}s", "-timeout=5s", f"-output={results}"]
    argv += [f"-workers={CONNECTIONS}", f"-max-workers={CONNECTIONS}"]
    argv += [f"-connections={CONNECTIONS}", f"-max-connections={CONNECTIONS}"]
    if workload.posts:
        argv += [f"-body={files.body}", "-header=Content-Type: application/json"]
    before = children_cpu_s()
    subprocess.run(
        argv,
        input=f"{workload.method} {workload.url(root)}\n",
        capture_output=True,
        text=True,
        timeout=PROBE_S + 30,
        check=True,
    )
    cpu_s = children_cpu_s() - before
    report_argv = [str(vegeta), "report", "-type=json", str(results)]
    report = json.loads(
        subprocess.run(report_argv, capture_output=True, text=True, timeout=60, check=True).stdout
    )
    requests = int(report["requests"])
    latencies = report["latencies"]
    failures = requests - round(float(report["success"]) * requests)
    p99 = latencies["99th"] / 1e6
    return Run(
        rate,
        float(report["rate"]),
        p99,
        latencies["50th"] / 1e6,
        p99,
        failures,
        requests,
        cpu_s,
        PROBE_S,
    )


@dataclass(frozen=True, slots=True)
class Oha:
    """How to run the installed oha on one thread: its flags differ between versions."""

    binary: Path
    version: str
    prefix: list[str]  # taskset -c 0 when oha has no --worker-threads flag
    flags: list[str]

    @classmethod
    def probe(cls, binary: Path) -> Oha:
        argv = [str(binary), "--help"]
        help_text = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
        threads = "--worker-threads" in help_text
        prefix = [] if threads else ["taskset", "-c", "0"]
        flags = ["--worker-threads", "1"] if threads else []
        if "--wait-ongoing-requests-after-deadline" in help_text:
            flags.append("-w")  # requests in flight at the deadline finish, not fail
        flags += ["--output-format", "json"] if "--output-format" in help_text else ["-j"]
        return cls(binary, tool_version([str(binary), "--version"]), prefix, flags)

    @property
    def pinned(self) -> bool:
        return bool(self.prefix)

    @property
    def label(self) -> str:
        how = "taskset -c 0 (no --worker-threads)" if self.pinned else "--worker-threads 1"
        return f"oha -c{CONNECTIONS} --latency-correction {how}"

    def argv(self, url: str, rate: float, workload: Workload, files: RequestFiles) -> list[str]:
        argv = [*self.prefix, str(self.binary), "-z", f"{PROBE_S:g}s", "-q", f"{rate:.0f}"]
        argv += ["--latency-correction", "-c", str(CONNECTIONS), "--no-tui", *self.flags]
        if workload.posts:
            argv += ["-m", "POST", "-D", str(files.body), "-T", "application/json"]
        return [*argv, url]


def run_oha(oha: Oha, workload: Workload, root: str, files: RequestFiles, rate: float) -> Run:
    """oha at ``rate`` for 5 s; latency counts from each request's scheduled start."""
    argv = oha.argv(workload.url(root), rate, workload, files)
    before = children_cpu_s()
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=PROBE_S + 30, check=True
    ).stdout
    cpu_s = children_cpu_s() - before
    report = json.loads(out)
    statuses: dict[str, int] = report.get("statusCodeDistribution", {})
    errors: dict[str, int] = report.get("errorDistribution", {})
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    requests = sum(statuses.values()) + sum(errors.values())
    percentiles = report["latencyPercentiles"]
    p99 = float(percentiles["p99"]) * 1000
    achieved = float(report["summary"]["requestsPerSec"])
    return Run(
        rate,
        achieved,
        p99,
        float(percentiles["p50"]) * 1000,
        p99,
        requests - ok,
        requests,
        cpu_s,
        PROBE_S,
    )


def _locust_cell(header: list[str], cells: list[str], name: str) -> float:
    try:
        return float(cells[header.index(name)])
    except (ValueError, IndexError):
        return float("nan")


def run_locust(locust: Path, workload: Workload, root: str, seconds: int, users: int) -> Run:
    """Locust FastHttpUser, one process, ``users`` at full speed; its CPU includes start-up."""
    with tempfile.TemporaryDirectory(prefix="load-bench-locust-") as tmp:
        locustfile = Path(tmp, "locustfile.py")
        body = workload.body() if workload.posts else None
        headers = {"Content-Type": "application/json"} if workload.posts else {}
        locustfile.write_text(
            LOCUSTFILE.format(
                body=body, headers=headers, method=workload.method, path="/" + workload.path
            )
        )
        prefix = str(Path(tmp, "out"))
        argv = [str(locust), "-f", str(locustfile), "--headless", "--host", root.rstrip("/")]
        argv += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", prefix]
        argv += ["--only-summary", "--loglevel", "WARNING", "--stop-timeout", "1"]
        before = children_cpu_s()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        cpu_s = children_cpu_s() - before
        stats = Path(prefix + "_stats.csv")
        if not stats.exists():
            raise SystemExit(f"locust failed ({done.returncode}):\n{done.stderr[-2000:]}")
        rows = [row.split(",") for row in stats.read_text().splitlines()]
    header = rows[0]
    for cells in rows[1:]:
        if cells[header.index("Name")] == "Aggregated":
            requests = int(_locust_cell(header, cells, "Request Count"))
            return Run(
                0.0,
                _locust_cell(header, cells, "Requests/s"),
                float("nan"),
                _locust_cell(header, cells, "50%"),
                _locust_cell(header, cells, "99%"),
                int(_locust_cell(header, cells, "Failure Count")),
                requests,
                cpu_s,
                seconds,
            )
    raise SystemExit("locust wrote no Aggregated row")


# --- throughput ------------------------------------------------------------------------------


@dataclass
class Results:
    """Every repetition's outcome for one workload, by generator."""

    open_loop: dict[str, list[Run]] = field(default_factory=dict)
    closed_loop: dict[str, list[Run]] = field(default_factory=dict)
    startup_cpu_s: dict[str, list[float]] = field(default_factory=dict)

    def add_open(self, name: str, found: Run | None) -> None:
        # A repetition where no rate held counts as zero, so the median stays honest.
        self.open_loop.setdefault(name, []).append(found or NOTHING_HELD)

    def add_closed(self, name: str, found: Run) -> None:
        self.closed_loop.setdefault(name, []).append(found)


@dataclass(frozen=True, slots=True)
class Generators:
    """What a throughput run compares."""

    engines: list[str]
    wrk: str
    vegeta: Path | None
    oha: Oha | None
    locust: Path | None


def print_timer_lateness() -> None:
    for sleep_s in (0.0002, 0.001):
        p50, p99, worst = timer_lateness(sleep_s, int(0.5 / sleep_s))
        print(
            f"    timer: select({sleep_s * 1e6:.0f} us) wakes late by p50 {p50:.3f} ms, "
            f"p99 {p99:.3f} ms, max {worst:.3f} ms",
            flush=True,
        )


def print_closed(label: str, found: Run) -> None:
    print(f"    {label:8s} closed x{CONNECTIONS} -> {found.describe()}", flush=True)


def measure_engines(
    args: argparse.Namespace, engines: list[str], target: Target, results: Results
) -> None:
    for engine in engines:
        startup = engine_startup_cpu_s(target, engine)
        results.startup_cpu_s.setdefault(engine, []).append(startup)
        print(f"    {engine:8s} worker start-up cpu {startup:.2f} s", flush=True)
        high = args.high / 6 if engine == "aiohttp" else args.high
        run = partial(engine_open_loop, target, engine)
        results.add_open(engine, search_rate(engine, run, args.low, high, args.steps))
    for engine in (e for e in engines if e in CLOSED_LOOP_ENGINES):
        found = engine_closed_loop(target, engine, CONNECTIONS, args.seconds)
        results.add_closed(engine, found)
        print_closed(engine, found)


def measure_tools(
    args: argparse.Namespace,
    tools: Generators,
    workload: Workload,
    root: str,
    files: RequestFiles,
    results: Results,
) -> None:
    found = run_wrk(tools.wrk, workload.url(root), args.seconds, files.wrk_script)
    results.add_closed("wrk", found)
    print_closed("wrk", found)
    if tools.vegeta is not None:
        run = partial(run_vegeta, tools.vegeta, workload, root, files)
        results.add_open("vegeta", search_rate("vegeta", run, args.low, args.high, args.steps))
    if tools.oha is not None:
        run = partial(run_oha, tools.oha, workload, root, files)
        results.add_open("oha", search_rate("oha", run, args.low, args.high, args.steps))
    if tools.locust is not None:
        found = run_locust(tools.locust, workload, root, args.seconds, args.locust_users)
        results.add_closed("locust", found)
        print_closed("locust", found)


def measure_workload(
    args: argparse.Namespace, tools: Generators, workload: Workload, root: str, tmp: Path
) -> Results:
    results = Results()
    files = write_request_files(workload, tmp)
    target = workload.target(root)
    print(
        f"\nworkload {workload.name}: {workload.method} {workload.url(root)} -> {workload.answer}"
    )
    for rep in range(args.repeat):
        load = os.getloadavg()[0]
        print(f"  repetition {rep + 1}/{args.repeat} (load average {load:.2f})", flush=True)
        print_timer_lateness()
        measure_engines(args, tools.engines, target, results)
        measure_tools(args, tools, workload, root, files, results)
    return results


def _median(values: Iterable[float]) -> float:
    found = list(values)
    return statistics.median(found) if found else float("nan")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a workload's medians table."""

    name: str
    mode: str
    rate: float
    p50_ms: float
    p99_ms: float
    budget_p99_ms: float
    cpu_us_per_request: float
    net_us_per_request: float | None = None  # our engines: CPU net of a worker's start-up


def median_row(name: str, mode: str, runs: list[Run], net: float | None = None) -> Row:
    return Row(
        name,
        mode,
        _median(r.achieved if mode == "closed loop" else r.rate for r in runs),
        _median(r.p50_ms for r in runs),
        _median(r.p99_ms for r in runs),
        _median(r.budget_p99_ms for r in runs),
        _median(r.cpu_us_per_request for r in runs),
        net,
    )


def tool_labels(tools: Generators, locust_users: int) -> dict[str, str]:
    return {
        "wrk": f"wrk -t1 -c{CONNECTIONS}",
        "vegeta": f"vegeta -cpus 1, {CONNECTIONS} workers",
        "oha": tools.oha.label if tools.oha else "oha",
        "locust": f"locust FastHttpUser x{locust_users}, 1 process",
    }


def engine_rows(engine: str, results: Results) -> list[Row]:
    startup = _median(results.startup_cpu_s[engine])
    rows = []
    for mode, runs in (
        ("open, lag<=2ms", results.open_loop[engine]),
        ("closed loop", results.closed_loop.get(engine, [])),
    ):
        if runs:
            net = _median((r.cpu_s - startup) / r.requests * 1e6 for r in runs if r.requests)
            users = f" x{CONNECTIONS}" if mode == "closed loop" else ""
            name = f"serving-chaos {engine}{users}, 1 process"
            rows.append(median_row(name, mode, runs, net))
    return rows


def table_rows(results: Results, tools: Generators, locust_users: int) -> list[Row]:
    labels = tool_labels(tools, locust_users)
    rows = [
        median_row(labels[name], "closed loop", runs)
        for name, runs in results.closed_loop.items()
        if name not in tools.engines
    ]
    for name in ("vegeta", "oha"):
        if name in results.open_loop:
            rows.append(median_row(labels[name], "open, p99<=2ms", results.open_loop[name]))
    for engine in tools.engines:
        rows += engine_rows(engine, results)
    return rows


def print_table(rows: list[Row]) -> None:
    print(
        f"  {'generator':50s} {'mode':15s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} "
        f"{'budget p99':>10s} {'cpu us/req':>10s} {'net us/req':>10s}"
    )
    for row in rows:
        budget = "" if row.mode == "closed loop" else f"{row.budget_p99_ms:.2f}"
        net = "" if row.net_us_per_request is None else f"{row.net_us_per_request:.1f}"
        print(
            f"  {row.name:50s} {row.mode:15s} {row.rate:8.0f} {row.p50_ms:7.2f} "
            f"{row.p99_ms:7.2f} {budget:>10s} {row.cpu_us_per_request:10.1f} {net:>10s}".rstrip()
        )


def goal_engine(results: Results, engines: list[str]) -> str:
    """native when present, else our engine with the highest median open-loop rate."""
    if "native" in engines:
        return "native"
    return max(engines, key=lambda e: _median(r.rate for r in results.open_loop[e]))


def print_goal(what: str, ours: float, theirs: float | None, goal: float) -> None:
    if theirs is None:
        print(f"  {what}: not measured")
        return
    ratio = ours / theirs if theirs else float("inf")
    verdict = "met" if ratio >= goal else "missed"
    print(f"  {what} ({theirs:.0f} req/s): x{ratio:.2f}, goal >= {goal:g}x: {verdict}")


def print_goals(results: Results, tools: Generators) -> None:
    engine = goal_engine(results, tools.engines)
    ours = _median(r.rate for r in results.open_loop[engine])
    print(f"goals for serving-chaos {engine}, open loop, lag p99 <= 2 ms: {ours:.0f} req/s")
    wrk = _median(r.achieved for r in results.closed_loop["wrk"])
    print_goal("vs wrk -t1 -c64 closed loop", ours, wrk, GOAL_VS_WRK)
    open_tools = [
        _median(r.rate for r in results.open_loop[name])
        for name in ("vegeta", "oha")
        if name in results.open_loop
    ]
    best_open = max(open_tools) if open_tools else None
    print_goal(
        "vs the higher of vegeta, oha at p99 <= 2 ms", ours, best_open, GOAL_VS_OPEN_LOOP_TOOLS
    )
    locust = results.closed_loop.get("locust")
    locust_rate = _median(r.achieved for r in locust) if locust else None
    print_goal("vs locust FastHttpUser", ours, locust_rate, GOAL_VS_LOCUST)


def report_workload(
    workload: Workload, results: Results, tools: Generators, args: argparse.Namespace
) -> None:
    print(
        f"\n{workload.name} ({workload.method} /{workload.path}): medians of {args.repeat} "
        "repetition(s)\n"
        f"  open loop: the highest rate held with budget p99 <= {LAG_BUDGET_MS:g} ms (scheduling "
        "lag for ours, the tool's own latency p99 for vegeta and oha); closed loop: full speed\n"
        "  p50/p99: latency, ours and oha's from the intended start, vegeta's from the send, "
        "wrk's and locust's service time\n"
        "  cpu us/req: the child's user+sys / its requests, start-up included; net: our "
        "engines less a worker's start-up (spawn, imports)"
    )
    print_table(table_rows(results, tools, args.locust_users))
    print_goals(results, tools)


def prepare_generators(args: argparse.Namespace, wrk: str, locust: Path | None) -> Generators:
    engines = pick_engines([e.strip() for e in args.engines.split(",") if e.strip()])
    vegeta = ensure_vegeta()
    if vegeta is None:
        print("skipping vegeta: not installed and `go install` unavailable or failed")
    oha_binary = ensure_oha()
    if oha_binary is None:
        print("skipping oha: not installed and `cargo install` unavailable or failed")
    oha = Oha.probe(oha_binary) if oha_binary else None
    if oha and oha.pinned:
        print("oha has no --worker-threads flag: pinned to CPU 0 with taskset -c 0 instead")
    print(f"tools: {tool_version([wrk, '-v'])}")
    if vegeta:
        print(f"       {vegeta_version(vegeta)} ({vegeta})")
    if oha:
        print(f"       {oha.version} ({oha.binary})")
    if locust:
        print(f"       {tool_version([str(locust), '--version'])}")
    print(f"engines: {', '.join(engines)} (1 worker process each)")
    return Generators(engines, wrk, vegeta, oha, locust)


def throughput(args: argparse.Namespace, nginx: str, wrk: str, locust: Path | None) -> None:
    tools = prepare_generators(args, wrk, locust)
    workloads = list(WORKLOADS) if args.workload == "both" else [args.workload]
    found: dict[str, Results] = {}
    with nginx_server(nginx) as root, tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        print(f"target: {tool_version([nginx, '-v'])} at {root} (1 worker process)")
        for name in workloads:
            found[name] = measure_workload(args, tools, WORKLOADS[name], root, Path(tmp))
    for name in workloads:
        report_workload(WORKLOADS[name], found[name], tools, args)


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


def memory(args: argparse.Namespace, nginx: str) -> None:
    short, long = (60.0, 600.0) if args.long else (20.0, 120.0)
    if not args.long:
        print(f"memory: scaled down to {short:g} s vs {long:g} s (--long for 60 s vs 600 s)")
    why_not = engine_available(args.memory_engine)
    if why_not is not None:
        raise SystemExit(f"cannot measure memory of engine {args.memory_engine}: {why_not}")
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


# --- command line ----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("throughput", "memory", "all"), default="all")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (medians reported)")
    parser.add_argument("--steps", type=int, default=6, help="rate-search probes per generator")
    parser.add_argument("--low", type=float, default=500, help="rate search: lower bound")
    parser.add_argument("--high", type=float, default=80000, help="rate search: upper bound")
    parser.add_argument("--seconds", type=int, default=8, help="seconds per closed-loop run")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINE_MODULES),
        help="our engines, comma separated (those that cannot run here are skipped)",
    )
    parser.add_argument("--workload", choices=("get", "post", "both"), default="both")
    parser.add_argument("--locust-users", type=int, default=CONNECTIONS)
    parser.add_argument("--no-locust", action="store_true", help="skip Locust")
    parser.add_argument("--long", action="store_true", help="memory: 60 s vs 600 s")
    parser.add_argument("--memory-rate", type=float, default=1000)
    parser.add_argument("--memory-engine", choices=tuple(ENGINE_MODULES), default="aiohttp")
    args = parser.parse_args()
    unknown = set(args.engines.split(",")) - set(ENGINE_MODULES) - {""}
    if unknown:
        parser.error(f"unknown engines {sorted(unknown)}; expected some of {list(ENGINE_MODULES)}")
    return args


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
    args = parse_args()
    print(time.strftime("%Y-%m-%d"))
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
