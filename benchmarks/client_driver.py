"""The harness's own cost per logical call when it drives a client under test, beside its raw
HTTP engine.

Three modes, each run open loop on a constant rate the way `serving-chaos run` runs a
scenario (`asyncio.run`, the scenario's default timeout, payloads and per-call URLs, and a
client's default max_in_flight):

  async  `drive_client` calling `async def call(url, payload): return None` as tasks
  sync   `drive_client` calling `def call(url, payload): return None` on daemon threads
  raw    `run_open_loop` with the aiohttp engine, POSTing to a minimal aiohttp server in a
         child process that answers `{"predictions":[0]}`

The trivial callables do no work, so whatever the two client modes cost is the harness's.
For each mode: the highest stepped rate (500, 1k, 2k, 3k, 4k, 6k, 8k, 12k req/s) held with
scheduling lag p99 <= 2 ms, nothing dropped and no errors, one probe per mode and step, the
three modes interleaved per step (their order rotated), a mode's search ending at its first
failure; and this process's CPU (user + system, all threads, from getrusage) per call, in
every probe and compared at 1,000 req/s, beside the voluntary context switches per call (the
loop's wake-ups, and for sync the threads' waits). Each repetition first measures the floor:
how late, and at what CPU cost, asyncio's loop wakes from bare sleeps of 0.1 to 1.9 ms on this
machine, which bounds every mode's lag and, where each call is a wake-up, its CPU. With two or
more cores the server gets the last core to itself and this process the others. Medians of
--repeat searches; every probe is bounded by its seconds plus the call timeout, and no rate
step starts after --budget seconds.

    .venv/bin/python benchmarks/client_driver.py [--repeat 3] [--seconds 3] [--quick]
        [--budget 230]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import itertools
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ChaosError
from harness.loadgen.recorder import Recorder
from harness.loadgen.shapes import Constant
from harness.loadgen.stats import MAX_LAG_S, GeneratorStats
from harness.run.clients import CALL_PREFIX, drive_client, payloads_for
from harness.run.load import run_open_loop
from harness.scenario import LoadSpec
from harness.scenario.clients import ClientSpec
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady

MODES = ("async", "sync", "raw")
STEP_RATES = (500, 1_000, 2_000, 3_000, 4_000, 6_000, 8_000, 12_000)
CPU_RATE = 1_000
PROBE_S = 3.0
QUICK_PROBE_S = 2.0
BUDGET_S = 230.0
WARM_RATE, WARM_S = 500, 1.0
# Sleeps of 0.1 to 1.9 ms, as a schedule asks for: asyncio's epoll rounds each up to a whole
# millisecond, and that rounding is part of every mode's lag.
FLOOR_SLEEPS_S = tuple(k / 10_000 for k in range(1, 20))
FLOOR_S = 1.0
# As the runner: the first arrival a moment after the loop is up.
START_DELAY_S = 0.05
INVOCATIONS = "/invocations"
SERVER = r"""
import sys

from aiohttp import web

from harness.servers.serve import run_server

ANSWER = b'{"predictions":[0]}'


async def ping(request):
    return web.Response(text="ok")


async def predict(request):
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")


app = web.Application()
app.router.add_get("/ping", ping)
app.router.add_post("/invocations", predict)
run_server(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, use_uvloop=True)
"""


async def trivial_async(url: str, payload: dict[str, Any]) -> None:
    return None


def trivial_sync(url: str, payload: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Probe:
    """One mode at one rate for ``seconds``."""

    mode: str
    rate: int
    seconds: float
    scheduled: int
    sent: int
    dropped: int
    lag_p99_ms: float
    answered: int
    errors: int
    # Intended start to recorded end: for the trivial callables, all of it is the harness's.
    latency_p99_ms: float
    cpu_s: float
    # Times a thread of this process gave up its core to wait (event-loop and queue sleeps).
    waits: int
    # Full (generation 2) collections meanwhile: each stops the loop for tens of milliseconds.
    full_gcs: int

    @property
    def holds(self) -> bool:
        return (
            self.lag_p99_ms <= MAX_LAG_S * 1000
            and self.dropped == 0
            and self.errors == 0
            and self.answered == self.sent == self.scheduled
        )

    @property
    def us_per_call(self) -> float:
        return self.cpu_s / self.sent * 1e6 if self.sent else float("nan")

    def line(self) -> str:
        verdict = "holds" if self.holds else "fails"
        return (
            f"    {self.mode:5s} {self.rate:6d}/s  sent {self.sent:6d}  dropped {self.dropped}  "
            f"errors {self.errors}  lag p99 {self.lag_p99_ms:6.2f} ms  latency p99 "
            f"{self.latency_p99_ms:7.2f} ms  cpu {self.us_per_call:6.1f} us/call "
            f"({self.cpu_s / self.seconds:.2f} core, {self.waits / max(self.sent, 1):.2f} "
            f"waits/call, {self.full_gcs} full gc)  {verdict}"
        )


async def _drive(mode: str, spec: LoadSpec, url: str, recorder: Recorder) -> GeneratorStats:
    """One open-loop run of ``mode`` as the runner starts it."""
    t0 = time.monotonic() + START_DELAY_S
    shape = Constant(spec.rate, spec.duration_s)
    if mode == "raw":
        return await run_open_loop(url + INVOCATIONS, spec, recorder, t0=t0, shape=shape)
    run = await drive_client(
        trivial_async if mode == "async" else trivial_sync,
        shape,
        recorder,
        t0=t0,
        url_for=lambda index: f"{url}{CALL_PREFIX}{index}{INVOCATIONS}",
        payload_for=payloads_for(spec.body, spec.records_per_request, spec.keyspace),
        max_in_flight=ClientSpec().max_in_flight,
        timeout_s=spec.timeout_s,
    )
    return run.stats


async def _measured(
    mode: str, spec: LoadSpec, url: str, recorder: Recorder
) -> tuple[GeneratorStats, float, int]:
    cpu, waits = _usage()
    stats = await _drive(mode, spec, url, recorder)
    cpu_after, waits_after = _usage()
    return stats, cpu_after - cpu, waits_after - waits


def probe(mode: str, rate: int, seconds: float, url: str) -> Probe:
    # The previous probe's garbage is collected before, not during, this one.
    gc.collect()
    spec = LoadSpec(rate=rate, duration_s=seconds, engine="aiohttp")
    recorder = Recorder()
    full_gcs = gc.get_stats()[2]["collections"]
    stats, cpu_s, waits = asyncio.run(_measured(mode, spec, url, recorder))
    full_gcs = gc.get_stats()[2]["collections"] - full_gcs
    overall = recorder.phases["overall"]
    return Probe(
        mode,
        rate,
        seconds,
        stats.scheduled,
        stats.sent,
        stats.dropped,
        stats.lag_p99_ms,
        overall.requests,
        overall.errors,
        overall.percentile_ms(99) or float("nan"),
        cpu_s,
        waits,
        full_gcs,
    )


def _usage() -> tuple[float, int]:
    """CPU seconds this process has used so far, every thread's, and its voluntary context
    switches (each one a sleep or a wait a wake-up ended)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime, used.ru_nvcsw


def _cpu_s() -> float:
    return _usage()[0]


@dataclass(frozen=True, slots=True)
class Floor:
    """What one event-loop wake-up costs on this machine, whoever's loop it is."""

    late_p50_ms: float
    late_p99_ms: float
    cpu_us: float

    def line(self) -> str:
        return (
            f"    floor: asyncio.sleep(0.1 to 1.9 ms) wakes late by p50 "
            f"{self.late_p50_ms:.2f} ms, p99 {self.late_p99_ms:.2f} ms; "
            f"{self.cpu_us:.0f} us of CPU per wake-up"
        )


async def _sleeps(seconds: float) -> Floor:
    late: list[float] = []
    cpu = _cpu_s()
    end = time.monotonic() + seconds
    for sleep_s in itertools.cycle(FLOOR_SLEEPS_S):
        start = time.monotonic()
        if start >= end:
            break
        await asyncio.sleep(sleep_s)
        late.append(time.monotonic() - start - sleep_s)
    used = _cpu_s() - cpu
    late.sort()
    count = len(late)
    return Floor(late[count // 2] * 1000, late[int(count * 0.99)] * 1000, used / count * 1e6)


def floor(seconds: float) -> Floor:
    """Lateness and CPU of bare sleeps on asyncio's loop, nothing else running in it: the
    floor under every mode's lag, and under its CPU per call where each call is a wake-up."""
    gc.collect()
    return asyncio.run(_sleeps(seconds))


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy_s() -> float:
    """CPU seconds the whole machine has been busy (all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(log_dir: Path, core: int | None) -> Iterator[tuple[str, int]]:
    """The minimal aiohttp server running, pinned to ``core`` if given: its base URL and pid."""
    port = free_port()
    child = ChildProcess("answer-server", [sys.executable, "-c", SERVER, str(port)])
    url = f"http://{LOOPBACK}:{port}"
    with running(child, HttpReady(f"{url}/ping", timeout_s=20.0), log_dir):
        if core is not None:
            os.sched_setaffinity(child.pid, {core})
        yield url, child.pid


@dataclass(slots=True)
class Search:
    """What the rate searches found, per mode: each repetition's highest rate that held (0 when
    none did) and its CPU per call at CPU_RATE; ``cut_short`` when the time budget ended the
    searches early."""

    best: dict[str, list[int]]
    cpu_us: dict[str, list[float]]
    topped: dict[str, int]
    floors: list[Floor]
    cut_short: bool = False


def search(url: str, args: argparse.Namespace, deadline: float) -> Search:
    found = Search({m: [] for m in MODES}, {m: [] for m in MODES}, {m: 0 for m in MODES}, [])
    for rep in range(args.repeat):
        if time.monotonic() >= deadline:
            # A repetition that could not even start would only drag the medians to zero.
            found.cut_short = True
            print(f"\ntime budget of {args.budget:g} s spent: {rep} repetition(s) done")
            break
        print(
            f"\nrepetition {rep + 1}/{args.repeat} (load average {os.getloadavg()[0]:.2f})",
            flush=True,
        )
        found.floors.append(floor(FLOOR_S))
        print(found.floors[-1].line(), flush=True)
        alive, best, at_cpu_rate = list(MODES), dict.fromkeys(MODES, 0), {}
        for step, rate in enumerate(STEP_RATES):
            if not alive:
                break
            if time.monotonic() >= deadline:
                found.cut_short = True
                print(f"  time budget of {args.budget:g} s spent: search stopped before {rate}/s")
                break
            # Rotating the order spreads whatever running first or last does over every mode.
            shift = (rep + step) % len(MODES)
            for mode in [*MODES[shift:], *MODES[:shift]]:
                if mode not in alive:
                    continue
                result = probe(mode, rate, args.seconds, url)
                print(result.line(), flush=True)
                if rate == CPU_RATE:
                    at_cpu_rate[mode] = result
                if result.holds:
                    best[mode] = rate
                    if rate == STEP_RATES[-1]:
                        found.topped[mode] += 1
                else:
                    alive.remove(mode)
        for mode in MODES:
            if mode not in at_cpu_rate:
                # Stopped below the common rate: one probe there, for its CPU per call only.
                at_cpu_rate[mode] = probe(mode, CPU_RATE, args.seconds, url)
                print(at_cpu_rate[mode].line() + "  (CPU comparison only)", flush=True)
            found.best[mode].append(best[mode])
            found.cpu_us[mode].append(at_cpu_rate[mode].us_per_call)
    return found


def report(found: Search, args: argparse.Namespace) -> None:
    done = len(found.best["raw"])
    if not done:
        print("\nno repetition ran within the time budget: nothing to report")
        return
    rates = {m: statistics.median(found.best[m]) for m in MODES}
    cpu = {m: statistics.median(found.cpu_us[m]) for m in MODES}
    print(
        f"\nsummary ({datetime.date.today():%Y-%m-%d}), medians of {done} "
        f"repetition(s) of {args.seconds:g} s probes; a rate holds with lag p99 <= "
        f"{MAX_LAG_S * 1000:g} ms, nothing dropped, no errors"
    )
    print(
        f"  {'mode':5s}  {'highest rate held':>17s}  {'per repetition':>22s}  cpu at {CPU_RATE}/s"
    )
    for mode in MODES:
        capped = " (top step)" if found.topped[mode] * 2 > args.repeat else ""
        each = "/".join(str(r) for r in found.best[mode])
        print(
            f"  {mode:5s}  {rates[mode]:11.0f} req/s  {each:>22s}  {cpu[mode]:6.1f} us/call{capped}"
        )
    raw_rate, raw_cpu = rates["raw"], cpu["raw"]
    for mode in ("async", "sync"):
        rate_ratio = f"x{rates[mode] / raw_rate:.2f}" if raw_rate else "n/a (raw held no rate)"
        print(
            f"  {mode}/raw: highest rate {rate_ratio}, cpu per call at {CPU_RATE}/s "
            f"x{cpu[mode] / raw_cpu:.2f}"
        )
    floors = found.floors
    print(
        "  floor: asyncio.sleep(0.1 to 1.9 ms) late by p99 "
        f"{statistics.median(f.late_p99_ms for f in floors):.2f} ms, "
        f"{statistics.median(f.cpu_us for f in floors):.0f} us of CPU per wake-up (medians)"
    )
    if found.cut_short:
        print(
            f"  the time budget ({args.budget:g} s) cut the searches short: a repetition it "
            "stopped mid-search gives lower bounds"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rate searches per mode")
    parser.add_argument("--seconds", type=float, default=PROBE_S, help="seconds per probe")
    parser.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help="seconds from launch after which no rate step starts (default %(default)g)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"one repetition of {QUICK_PROBE_S:g} s probes"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.seconds = 1, QUICK_PROBE_S
    if args.repeat < 1:
        parser.error(f"expected --repeat >= 1 but got repeat={args.repeat}")
    if not 0 < args.seconds <= 60:
        parser.error(f"expected 0 < --seconds <= 60 but got seconds={args.seconds:g}")
    if args.budget <= 0:
        parser.error(f"expected --budget > 0 but got budget={args.budget:g}")
    started = time.monotonic()
    cores = sorted(os.sched_getaffinity(0))
    server_core = cores[-1] if len(cores) > 1 else None
    if server_core is not None:
        os.sched_setaffinity(0, set(cores[:-1]))
    print(f"client driver benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    layout = (
        f"server pinned to core {server_core}, this process to cores {cores[:-1]}"
        if server_core is not None
        else "one core, shared by the server and this process"
    )
    print(
        f"machine: {len(cores)} cores usable, load average {os.getloadavg()[0]:.2f}; {layout}; "
        f"python {sys.version.split()[0]}, asyncio's own loop (as `serving-chaos run`)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="client-driver-bench-") as tmp,
        server(Path(tmp), server_core) as (url, pid),
    ):
        print(f"raw target: POST {url}{INVOCATIONS}, a minimal aiohttp app on uvloop")
        warm = [probe(mode, WARM_RATE, WARM_S, url) for mode in MODES]
        print("warm-up: " + ", ".join(f"{p.mode} {'ok' if p.holds else 'failed'}" for p in warm))
        busy0, ours0 = _busy_s(), _cpu_s() + _proc_cpu_s(pid)
        measured_from = time.monotonic()
        found = search(url, args, started + args.budget)
        elapsed = time.monotonic() - measured_from
        others = (_busy_s() - busy0) - (_cpu_s() + _proc_cpu_s(pid) - ours0)
    report(found, args)
    print(
        f"  machine: other processes used {max(others, 0.0) / elapsed:.2f} cores on average "
        f"meanwhile; whole run {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChaosError as exc:
        sys.exit(f"error: {exc}")
