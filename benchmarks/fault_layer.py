"""What the HTTP fault layer (`serving-chaos front`) adds to a call when no fault is active.

Two paths to one upstream, side by side in one run, all on 127.0.0.1 free ports:

  A  client -> Toxiproxy proxy -> upstream                (what a run has without HTTP faults)
  B  client -> front -> Toxiproxy proxy -> upstream       (what a run has with them)

The upstream is a tiny uvloop + httptools server in a child process that answers every request
with a fixed small JSON, so the numbers are the hops', not a model's. The client is the
project's own load generator (the http1 engine, run in this process, open loop), so latency
counts from each request's intended start. The front runs as `serving-chaos front` in a child
process pinned to one core.

Each measurement alternates A and B in short rounds and merges each path's rounds (HDR
histograms add exactly), so a stall of the machine lands on both paths alike rather than on
whichever ran during it.

  latency   p50/p99 at 1,000 req/s, --repeat rounds of --seconds per path; the added p50
            (B - A; goal <= 0.3 ms) and the added p99
  capacity  rates stepped up (2k, 3k, 4k, 5k, 6k, 8k, ...), --step-rounds rounds of
            --step-seconds per path and step, until B no longer keeps up (errors, drops, or
            calls queueing); the highest rate B forwards with p99 added latency <= 2 ms,
            nothing dropped, no errors and the rate achieved (goal >= 5,000 req/s); beside it
            the front's CPU per call and the cores the whole path used, which tell whether the
            front or the machine ran out first

    .venv/bin/python benchmarks/fault_layer.py [--repeat 3] [--seconds 5] [--step-rounds 4]
        [--step-seconds 1.5] [--layout shared|own]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ChaosError
from harness.loadgen.histograms import Tally
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady
from harness.system.toxiproxy import ToxiproxyClient, find_toxiproxy_server

ADDED_P50_GOAL_MS = 0.3
ADDED_P99_BUDGET_MS = 2.0
# B keeps up with a rate while its median stays this close to A's: beyond, calls queue.
KEEPS_UP_P50_MS = 1.0
CAPACITY_GOAL = 5_000
LATENCY_RATE = 1_000.0
STEP_RATES = (2_000, 3_000, 4_000, 5_000, 6_000, 8_000, 10_000, 12_000)
BODY = b'{"inputs": [[1.0, 2.0]]}'
UPSTREAM = r"""
import asyncio
import sys

import httptools
import uvloop

BODY = b'{"predictions": [0.5]}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)
) + BODY


class Answering(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def on_message_complete(self):
        self.transport.write(ANSWER)

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()


async def main(port):
    loop = asyncio.get_running_loop()
    await loop.create_server(Answering, "127.0.0.1", port, backlog=1024)
    await asyncio.Event().wait()


uvloop.run(main(int(sys.argv[1])))
"""


@dataclass(slots=True)
class Measured:
    """One path's rounds at one rate, merged."""

    rate: float
    tally: Tally
    seconds: float = 0.0
    # Wall time of the runs, draining the last answers included.
    wall_s: float = 0.0
    dropped: int = 0
    lag_p99_ms: float = 0.0
    # CPU seconds each process of the path used meanwhile, the load generator included.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def achieved(self) -> float:
        return self.tally.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return self.tally.percentile_ms(50) or float("nan")

    @property
    def p99_ms(self) -> float:
        return self.tally.percentile_ms(99) or float("nan")

    @property
    def clean(self) -> bool:
        return self.tally.errors == 0 and self.dropped == 0 and self.achieved >= 0.97 * self.rate

    def us_per_call(self, process: str) -> float:
        calls = self.tally.requests
        return self.cpu.get(process, 0.0) / calls * 1e6 if calls else float("nan")

    @property
    def cores(self) -> float:
        """Cores the whole path used, the load generator included."""
        return sum(self.cpu.values()) / self.wall_s if self.wall_s else 0.0


def run_once(url: str, rate: float, seconds: float, into: Measured) -> None:
    """One open-loop run, in this process as a load worker runs it, added to ``into``."""
    from harness.loadgen import Constant, FixedBody, Plan, Target
    from harness.loadgen.pacing import run_recorded
    from harness.loadgen.recorder import Recorder

    target = Target(url, method="POST", body=FixedBody(BODY), timeout_s=5.0)
    recorder = Recorder()
    plan = Plan(target, Constant(rate, seconds), engine="http1")
    started = time.monotonic()
    stats = run_recorded(plan, recorder, started + 0.05)
    into.wall_s += time.monotonic() - started
    into.tally.merge(recorder.phases["overall"])
    into.seconds += seconds
    into.dropped += stats.dropped
    into.lag_p99_ms = max(into.lag_p99_ms, stats.lag_p99_ms)


def alternate(
    urls: dict[str, str], rate: float, rounds: int, seconds: float, pids: dict[str, int]
) -> dict[str, Measured]:
    """``rounds`` of each path in turn (which goes first alternates), each path's merged."""
    found = {name: Measured(rate, Tally()) for name in urls}
    names = list(urls)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            before = cpu_used(pids)
            run_once(urls[name], rate, seconds, found[name])
            after = cpu_used(pids)
            cpu = found[name].cpu
            for process in after:
                if name == "B" or process != "front":
                    cpu[process] = cpu.get(process, 0.0) + after[process] - before[process]
    return found


def cpu_used(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process, and of this one as the load generator."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        **{name: cpu_s(pid) for name, pid in pids.items()},
        "generator": own.ru_utime + own.ru_stime,
    }


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Background:
    """CPU the rest of the machine used while the benchmark ran: on a shared machine the
    tails measured here are as much the neighbours' as the paths'."""

    def __init__(self, pids: list[int]) -> None:
        self._pids = pids
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick
        steal = fields[7] / tick
        ours = sum(cpu_s(pid) for pid in self._pids)
        return time.monotonic(), busy, steal, ours

    def report(self) -> str:
        now, busy, steal, ours = self._read()
        then, busy0, steal0, ours0 = self._start
        elapsed = now - then
        others = max(0.0, (busy - busy0) - (ours - ours0)) / elapsed
        return (
            f"other processes used {others:.2f} cores on average meanwhile; "
            f"steal {(steal - steal0) / elapsed:.2f} cores"
        )


@contextlib.contextmanager
def paths(log_dir: Path, core: int) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """Upstream, Toxiproxy and the front running; the URLs of paths A and B, and the pids of
    the upstream, Toxiproxy and the front."""
    upstream_port, api_port = free_port(), free_port()
    upstream = ChildProcess("upstream", [sys.executable, "-c", UPSTREAM, str(upstream_port)])
    toxiproxy = ChildProcess(
        "toxiproxy",
        [str(find_toxiproxy_server()), "-host", LOOPBACK, "-port", str(api_port)],
    )
    client = ToxiproxyClient(LOOPBACK, api_port)
    with (
        running(upstream, HttpReady(f"http://{LOOPBACK}:{upstream_port}/ping"), log_dir),
        running(toxiproxy, HttpReady(f"{client.api_url}/version"), log_dir),
    ):
        proxy = client.create_proxy("endpoint", f"{LOOPBACK}:{upstream_port}")
        front_port, control_port = free_port(), free_port()
        front = ChildProcess(
            "front",
            [
                sys.executable, "-m", "harness.cli", "front", "--host", LOOPBACK,
                "--port", str(front_port), "--control-port", str(control_port),
                "--upstream", f"{LOOPBACK}:{proxy.port}",
            ],
        )  # fmt: skip
        ready = HttpReady(f"http://{LOOPBACK}:{control_port}/health")
        with running(front, ready, log_dir):
            os.sched_setaffinity(front.pid, {core})
            urls = {
                "A": f"http://{LOOPBACK}:{proxy.port}/",
                "B": f"http://{LOOPBACK}:{front_port}/",
            }
            yield urls, {"upstream": upstream.pid, "toxiproxy": toxiproxy.pid, "front": front.pid}


def show(name: str, found: Measured, note: str = "") -> None:
    front = f", front {found.us_per_call('front'):.0f} us/call" if "front" in found.cpu else ""
    print(
        f"    {name} {found.rate:6.0f}/s -> {found.achieved:6.0f}/s  p50 {found.p50_ms:6.3f} ms  "
        f"p99 {found.p99_ms:7.3f} ms  errors {found.tally.errors}  dropped {found.dropped}  "
        f"lag p99 <= {found.lag_p99_ms:.2f} ms  path cpu {found.cores:.2f} cores{front}{note}",
        flush=True,
    )


def latency(
    urls: dict[str, str], pids: dict[str, int], args: argparse.Namespace
) -> tuple[float, float]:
    """The added p50 and p99 at the latency rate, in ms."""
    print(
        f"\nlatency at {LATENCY_RATE:.0f} req/s: {args.repeat} rounds of {args.seconds:g} s per "
        "path, alternating, merged"
    )
    found = alternate(urls, LATENCY_RATE, args.repeat, args.seconds, pids)
    a, b = found["A"], found["B"]
    added_p50, added_p99 = b.p50_ms - a.p50_ms, b.p99_ms - a.p99_ms
    show("A", a)
    show("B", b, f"  p50 added {added_p50:+.3f} ms  p99 added {added_p99:+.3f} ms")
    return added_p50, added_p99


def capacity(
    urls: dict[str, str], pids: dict[str, int], args: argparse.Namespace
) -> tuple[float, Measured | None]:
    """The highest stepped rate B holds within the added-p99 budget (0 if none), and B as
    measured at the highest rate it kept up with.

    A step that misses only the p99 budget does not end the search: on a shared machine one
    stall decides a p99, and a higher rate may hold where a lower one did not; every step is
    shown. The search ends where B (or A) stops keeping up: errors, drops, the rate not
    achieved, or calls queueing (B's median more than KEEPS_UP_P50_MS above A's).
    """
    print(
        f"\ncapacity: per step {args.step_rounds} rounds of {args.step_seconds:g} s per path, "
        f"alternating, merged; B holds when p99 added <= {ADDED_P99_BUDGET_MS:g} ms, nothing "
        "dropped, no errors, rate achieved"
    )
    best, last = 0.0, None
    for rate in STEP_RATES[: args.max_steps]:
        found = alternate(urls, rate, args.step_rounds, args.step_seconds, pids)
        a, b = found["A"], found["B"]
        show("A", a)
        if not a.clean:
            print("    A itself does not keep this rate: the machine is the limit, not B")
            break
        added = b.p99_ms - a.p99_ms
        holds = b.clean and added <= ADDED_P99_BUDGET_MS
        show("B", b, f"  p99 added {added:+.3f} ms  " + ("holds" if holds else "fails"))
        if not b.clean or b.p50_ms - a.p50_ms > KEEPS_UP_P50_MS:
            print("    B no longer keeps up: calls queue")
            break
        last = b
        if holds:
            best = rate
    return best, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="latency rounds per path")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per latency round")
    parser.add_argument("--step-rounds", type=int, default=4, help="rounds per path and step")
    parser.add_argument("--step-seconds", type=float, default=1.5, help="seconds per step round")
    parser.add_argument(
        "--max-steps", type=int, default=len(STEP_RATES), help="rate steps at most (2k, 3k, ...)"
    )
    parser.add_argument(
        "--layout",
        choices=("shared", "own"),
        default="shared",
        help="shared: only the front is pinned, the rest runs anywhere; own: the rest is kept "
        "off the front's core (default shared)",
    )
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    core = cores[-1]
    others = set(cores) if args.layout == "shared" or len(cores) < 2 else set(cores[:-1])
    # This process (the load generator) and its children, the upstream and Toxiproxy, share an
    # affinity: with the "own" layout they all stay off the front's core.
    os.sched_setaffinity(0, others)
    print(f"fault layer benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(
        f"machine: {len(cores)} cores usable, load average {os.getloadavg()[0]:.2f}; front "
        f"pinned to core {core}, everything else on cores {sorted(others)} (layout "
        f"{args.layout}); load: http1 engine in this process, POST {len(BODY)} B"
    )
    with (
        tempfile.TemporaryDirectory(prefix="fault-layer-bench-") as tmp,
        paths(Path(tmp), core) as (urls, pids),
    ):
        # Warm both paths: connections, caches, the front's first upstream connections.
        alternate(urls, 500, 1, 1.0, pids)
        background = Background([os.getpid(), *pids.values()])
        added_p50, added_p99 = latency(urls, pids, args)
        best, last = capacity(urls, pids, args)
        busy = background.report()
    p50_verdict = "met" if added_p50 <= ADDED_P50_GOAL_MS else "missed"
    rate_verdict = "met" if best >= CAPACITY_GOAL else "missed"
    print(
        f"\nsummary ({datetime.date.today():%Y-%m-%d}):\n"
        f"  added latency at {LATENCY_RATE:.0f} req/s: p50 {added_p50:+.3f} ms, "
        f"p99 {added_p99:+.3f} ms (goal p50 <= {ADDED_P50_GOAL_MS:g} ms: {p50_verdict})\n"
        f"  highest rate forwarded on one core with p99 added <= {ADDED_P99_BUDGET_MS:g} ms: "
        f"{best:.0f} req/s (goal >= {CAPACITY_GOAL} req/s: {rate_verdict})"
    )
    if last is not None:
        front_us = last.us_per_call("front")
        print(
            f"  at {last.rate:.0f} req/s (the highest B kept up with) the front spent "
            f"{front_us:.0f} us of CPU per call (one core's worth: ~{1e6 / front_us:.0f} req/s); "
            f"the whole of path B, load generator included, used {last.cores:.2f} of "
            f"{len(cores)} cores"
        )
    print(f"  machine: {busy}")
    return 0 if p50_verdict == rate_verdict == "met" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChaosError as exc:
        sys.exit(f"error: {exc}")
