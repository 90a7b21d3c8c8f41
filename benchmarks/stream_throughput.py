"""Streamed answers vs whole ones: how many streamed tokens per second one worker process
reads and records while keeping its schedule, side by side with the same requests answered
whole.

Debian's nginx on 127.0.0.1 (one worker process) serves two static answers from a config
written to a temp dir: ``/stream``, a server-sent event stream of ``--tokens`` chat chunks, a
final chunk and ``data: [DONE]`` (the shape an OpenAI-compatible endpoint streams), and
``/whole``, a JSON answer of the same size. For each, the aiohttp engine (the engine that reads
streams) in one worker process searches for the highest open-loop rate held with scheduling lag
p99 <= 2 ms, nothing dropped and no errors (5 s probes, bisection on a log scale), alternating
the two at every step so both see the same machine. Streamed tokens per second are that rate
times the tokens per answer; CPU per request is the worker's user+sys over its requests.

    python benchmarks/stream_throughput.py [--repeat 3] [--tokens 16] [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
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

LAG_BUDGET_MS = 2.0
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
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {host}:{port};
        location /stream {{ default_type text/event-stream; alias {tmp}/stream.txt; }}
        location /whole {{ default_type application/json; alias {tmp}/whole.json; }}
        location / {{ return 200 "ok"; }}
    }}
}}
"""


def stream_body(tokens: int) -> bytes:
    """What a chat endpoint streams: a chunk per token, a final chunk, then [DONE]."""

    def event(delta: dict[str, str], finish: str | None) -> bytes:
        chunk = {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    events = [event({"content": f"tok{n} "}, None) for n in range(tokens)]
    return b"".join([*events, event({}, "stop"), b"data: [DONE]\n\n"])


@contextmanager
def nginx_serving(tokens: int) -> Iterator[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx not found: `apt-get install nginx` (or run load_throughput.py)")
    with tempfile.TemporaryDirectory(prefix="stream-bench-nginx-") as tmp:
        # nginx's worker runs as another user: it must be able to read the answers.
        Path(tmp).chmod(0o755)
        streamed = stream_body(tokens)
        Path(tmp, "stream.txt").write_bytes(streamed)
        whole = {"choices": [{"message": {"content": "x" * (len(streamed) - 60)}}]}
        Path(tmp, "whole.json").write_text(json.dumps(whole))
        port = free_port()
        conf = Path(tmp, "nginx.conf")
        conf.write_text(NGINX_CONF.format(tmp=tmp, host=LOOPBACK, port=port))
        base = f"http://{LOOPBACK}:{port}"
        child = ChildProcess("nginx", [nginx, "-c", str(conf), "-p", tmp])
        with running(child, HttpReady(f"{base}/", timeout_s=10.0), Path(tmp)):
            yield base


@dataclass(frozen=True, slots=True)
class Probe:
    rate: float
    achieved: float
    lag_p99_ms: float
    dropped: int
    errors: int
    tokens: int
    cpu_s: float

    @property
    def holds(self) -> bool:
        return (
            self.lag_p99_ms <= LAG_BUDGET_MS
            and self.dropped == 0
            and self.errors == 0
            and self.achieved >= 0.97 * self.rate
        )

    @property
    def cpu_us_per_request(self) -> float:
        requests = self.achieved * PROBE_S
        return self.cpu_s / requests * 1e6 if requests else float("nan")


def probe(url: str, streamed: bool, rate: float) -> Probe:
    from harness.loadgen import Constant, Plan, Target, run_processes

    target = Target(url, method="GET", timeout_s=5.0, stream=streamed)
    plan = Plan(target, Constant(rate, PROBE_S), engine="aiohttp")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    recorder, stats = run_processes(plan, 1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    overall = recorder.phases["overall"]
    stream = overall.stream
    return Probe(
        rate,
        overall.requests / PROBE_S,
        stats.lag_p99_ms,
        stats.dropped,
        overall.errors,
        0 if stream is None else stream.tokens,
        (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


def search(base: str, steps: int, low: float, high: float) -> dict[str, Probe | None]:
    """Both kinds of answer, bisected side by side: each step probes stream then whole."""
    bounds = {"stream": [low, high], "whole": [low, high]}
    best: dict[str, Probe | None] = {"stream": None, "whole": None}
    for _ in range(steps):
        for kind in ("stream", "whole"):
            lo, hi = bounds[kind]
            rate = round((lo * hi) ** 0.5, -1)
            found = probe(f"{base}/{kind}", kind == "stream", rate)
            verdict = "holds" if found.holds else "fails"
            print(
                f"    {kind:6s} {rate:7.0f}/s -> achieved {found.achieved:7.0f}/s lag p99 "
                f"{found.lag_p99_ms:7.2f} ms dropped {found.dropped} errors {found.errors} "
                f"tokens {found.tokens} cpu {found.cpu_us_per_request:6.1f} us/req  {verdict}",
                flush=True,
            )
            if found.holds:
                bounds[kind][0], best[kind] = rate, found
            else:
                bounds[kind][1] = rate
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (medians reported)")
    parser.add_argument("--tokens", type=int, default=16, help="tokens per streamed answer")
    parser.add_argument("--steps", type=int, default=6, help="rate-search probes per kind")
    parser.add_argument("--low", type=float, default=100)
    parser.add_argument("--high", type=float, default=8000)
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}: aiohttp engine, 1 worker process, nginx on loopback")
    rates: dict[str, list[Probe]] = {"stream": [], "whole": []}
    with nginx_serving(args.tokens) as base:
        for rep in range(args.repeat):
            print(f"  repetition {rep + 1}/{args.repeat}", flush=True)
            for kind, found in search(base, args.steps, args.low, args.high).items():
                rates[kind].append(found or Probe(0.0, 0.0, float("nan"), 0, 0, 0, 0.0))
    stream_rate = statistics.median(p.rate for p in rates["stream"])
    whole_rate = statistics.median(p.rate for p in rates["whole"])
    stream_cpu = statistics.median(p.cpu_us_per_request for p in rates["stream"])
    whole_cpu = statistics.median(p.cpu_us_per_request for p in rates["whole"])
    print(f"\nmedians of {args.repeat} (lag p99 <= {LAG_BUDGET_MS:g} ms, nothing dropped):")
    print(
        f"  streamed answers ({args.tokens} tokens each): {stream_rate:7.0f} req/s = "
        f"{stream_rate * args.tokens:8.0f} tokens/s recorded, {stream_cpu:6.1f} us/req"
    )
    print(
        f"  whole answers of the same size:      {whole_rate:7.0f} req/s, {whole_cpu:6.1f} us/req"
    )
    if whole_rate:
        print(f"  streamed / whole rate: x{stream_rate / whole_rate:.2f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChaosError as exc:
        sys.exit(f"error: {exc}")
