"""Streamed answers vs whole ones: how many streamed tokens per second one worker process
reads and records while keeping its schedule, per engine, side by side with the same requests
answered whole.

Debian's nginx on 127.0.0.1 (one worker process, load_throughput.py's server) serves two more
static answers: ``/stream``, a server-sent event stream of ``--tokens`` chat chunks, a final
chunk and ``data: [DONE]`` (the shape an OpenAI-compatible endpoint streams), and ``/whole``, a
JSON answer of the same size. For each engine of ``--engines`` (those that read streams), one
worker process searches for the highest open-loop rate held with scheduling lag p99 <= 2 ms,
nothing dropped, no errors and >= 97 % of the rate achieved (5 s probes, bisection on a log
scale, load_throughput.py's search), streamed then whole. Streamed tokens per second are the
tokens the worker recorded per second at that rate; CPU per request is the worker's user+sys
over its requests (start-up included).

    python benchmarks/stream_throughput.py [--repeat 3] [--tokens 16] [--steps 6]
        [--engines aiohttp,http1,native]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_throughput import (
    LAG_BUDGET_MS,
    NOTHING_HELD,
    PROBE_S,
    Run,
    engine_open_loop,
    nginx_server,
    pick_engines,
    search_rate,
)

from harness.errors import ChaosError
from harness.loadgen import Target
from harness.loadgen.engine import STREAM_ENGINES

KINDS = ("stream", "whole")
LOCATIONS = """
        location /stream { default_type text/event-stream; alias {tmp}/stream.txt; }
        location /whole { default_type application/json; alias {tmp}/whole.json; }
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


def answers(tokens: int) -> dict[str, bytes]:
    """The files nginx serves: the stream, and a whole answer of the same size."""
    streamed = stream_body(tokens)
    whole = {"choices": [{"message": {"content": "x" * (len(streamed) - 60)}}]}
    return {"stream.txt": streamed, "whole.json": json.dumps(whole).encode()}


@dataclass(frozen=True, slots=True)
class Best:
    """The highest rate one engine held for one kind of answer in one repetition."""

    engine: str
    kind: str
    run: Run

    @property
    def tokens_per_s(self) -> float:
        return self.run.tokens / PROBE_S


def search(root: str, engine: str, steps: int, low: float, high: float) -> list[Best]:
    """Both kinds of answer on ``engine``: streamed, then whole."""
    found = []
    for kind in KINDS:
        target = Target(f"{root}{kind}", method="GET", timeout_s=5.0, stream=kind == "stream")

        def probe(rate: float, target: Target = target) -> Run:
            return engine_open_loop(target, engine, rate)

        best = search_rate(f"{engine}/{kind}", probe, low, high, steps)
        found.append(Best(engine, kind, best or NOTHING_HELD))
    return found


def report(bests: list[Best], engines: list[str], tokens: int, repeat: int) -> None:
    print(f"\nmedians of {repeat} (lag p99 <= {LAG_BUDGET_MS:g} ms, nothing dropped):")
    print(
        f"  {'engine':8s} {'streamed req/s':>14s} {'tokens/s':>10s} {'us/req':>7s}   "
        f"{'whole req/s':>11s} {'us/req':>7s}   streamed/whole"
    )
    for engine in engines:

        def median(kind: str, what: str, engine: str = engine) -> float:
            runs = [b for b in bests if b.engine == engine and b.kind == kind]
            values = {
                "rate": [b.run.rate for b in runs],
                "tokens": [b.tokens_per_s for b in runs],
                "cpu": [b.run.cpu_us_per_request for b in runs],
            }[what]
            return statistics.median(values) if values else float("nan")

        stream_rate, whole_rate = median("stream", "rate"), median("whole", "rate")
        ratio = f"x{stream_rate / whole_rate:.2f}" if whole_rate else "-"
        print(
            f"  {engine:8s} {stream_rate:14.0f} {median('stream', 'tokens'):10.0f} "
            f"{median('stream', 'cpu'):7.1f}   {whole_rate:11.0f} {median('whole', 'cpu'):7.1f}"
            f"   {ratio}"
        )
    print(f"  (streamed answers: {tokens} tokens each; tokens/s as recorded by the worker)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (medians reported)")
    parser.add_argument("--tokens", type=int, default=16, help="tokens per streamed answer")
    parser.add_argument("--steps", type=int, default=6, help="rate-search probes per kind")
    parser.add_argument("--low", type=float, default=100)
    parser.add_argument("--high", type=float, default=20000)
    parser.add_argument(
        "--engines",
        default=",".join(STREAM_ENGINES),
        help=f"comma-separated, of {','.join(STREAM_ENGINES)} (those that read streams)",
    )
    args = parser.parse_args()
    asked = [name.strip() for name in args.engines.split(",") if name.strip()]
    wrong = [name for name in asked if name not in STREAM_ENGINES]
    if wrong or not asked:
        parser.error(f"expected --engines among {list(STREAM_ENGINES)} but got {args.engines!r}")
    engines = pick_engines(asked)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx not found: `apt-get install nginx` (or run load_throughput.py)")
    print(
        f"{time.strftime('%Y-%m-%d')}: engines {', '.join(engines)}, 1 worker process each, "
        "nginx on loopback"
    )
    bests: list[Best] = []
    with nginx_server(nginx, locations=LOCATIONS, files=answers(args.tokens)) as root:
        for rep in range(args.repeat):
            print(f"  repetition {rep + 1}/{args.repeat}", flush=True)
            for engine in engines:
                bests += search(root, engine, args.steps, args.low, args.high)
    report(bests, engines, args.tokens, args.repeat)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChaosError as exc:
        sys.exit(f"error: {exc}")
