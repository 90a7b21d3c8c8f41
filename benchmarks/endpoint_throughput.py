"""Requests/s of the reference endpoint against a minimal aiohttp hello-world, side by side.

Both servers run as child processes on free loopback ports; wrk drives each in turn, a few
repetitions interleaved so drift on the machine hits both alike. The endpoint scores with its
real numpy model but no added service time and no feature store, so the ratio is the price of
its request handling and model.

What keeps the comparison fair:

- Same server settings. The hello-world is served by the endpoint's own runner
  (`harness.servers.serve.run_server`) with the endpoint's defaults: handler cancellation
  on, access log off, and the same event loop (uvloop unless `--loop asyncio`, which switches
  both servers).
- Same requests. wrk runs with the same threads, connections, duration and Lua script against
  both: a POST of the one-record JSON body below with Content-Type application/json.
- Same body work. The hello-world reads that body, parses it with `json.loads` and answers a
  JSON `{"predictions": [...]}` of the same shape through `web.json_response`; it does no
  validation, admission, model or metrics, which is what the ratio prices. (The endpoint
  builds the same response bytes in a cheaper way of its own, which is part of what it is.)

    python benchmarks/endpoint_throughput.py [--duration 5] [--repeat 3] [--connections 64]
        [--threads 1] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from harness.errors import ChaosError
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady

TARGET_RATIO = 0.60
HELLO = """
import json
import sys

from aiohttp import web

from harness.servers.serve import run_server

async def ping(request):
    return web.json_response({"status": "ok"})

async def hello(request):
    payload = json.loads(await request.read())
    return web.json_response({"predictions": [0.5] * len(payload["inputs"])})

app = web.Application()
app.router.add_get("/ping", ping)
app.router.add_post("/", hello)
port, loop = int(sys.argv[1]), sys.argv[2]
run_server(app, host="127.0.0.1", port=port, access_log=False, use_uvloop=loop == "uvloop")
"""
# A one-record invocation, the cheapest request the endpoint scores.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"inputs": [[1.0, 2.0]]}'
wrk.headers["Content-Type"] = "application/json"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="event loop of both"
    )
    args = parser.parse_args()
    wrk = _find_wrk()
    if wrk is None:
        print("wrk not found; install it with `apt-get install -y wrk` (as root) and rerun")
        return 2
    with tempfile.TemporaryDirectory(prefix="endpoint-bench-") as tmp:
        script = Path(tmp, "post.lua")
        script.write_text(WRK_SCRIPT)
        endpoint_argv = partial(_endpoint_argv, args.loop)
        hello_argv = partial(_hello_argv, args.loop)
        with (
            _server("endpoint", endpoint_argv, "/ping", Path(tmp)) as endpoint,
            _server("hello-world", hello_argv, "/ping", Path(tmp)) as hello,
        ):
            rates: dict[str, list[float]] = {"endpoint": [], "hello-world": []}
            costs: dict[str, list[float]] = {"endpoint": [], "hello-world": []}
            servers = (("endpoint", endpoint, "/invocations"), ("hello-world", hello, "/"))
            for _ in range(args.repeat):
                for name, (base, pid), path in servers:
                    cpu_before = _cpu_s(pid)
                    rps, requests = _wrk(wrk, base + path, ["-s", str(script)], args)
                    cost_us = (_cpu_s(pid) - cpu_before) / requests * 1e6
                    rates[name].append(rps)
                    costs[name].append(cost_us)
                    print(f"{name:12s} {rps:10.0f} req/s {cost_us:8.1f} us CPU/request")
    rate = {name: statistics.median(values) for name, values in rates.items()}
    cost = {name: statistics.median(values) for name, values in costs.items()}
    ratio = rate["endpoint"] / rate["hello-world"]
    print(
        f"\nmedian of {args.repeat} x {args.duration}s at {args.connections} connections "
        f"({args.threads} wrk thread(s), {args.loop}):\n"
        f"  endpoint {rate['endpoint']:.0f} req/s, hello-world {rate['hello-world']:.0f} req/s, "
        f"ratio {ratio:.0%} (target >= {TARGET_RATIO:.0%})\n"
        f"  server CPU per request: endpoint {cost['endpoint']:.1f} us, hello-world "
        f"{cost['hello-world']:.1f} us, ratio {cost['hello-world'] / cost['endpoint']:.0%}"
    )
    return 0 if ratio >= TARGET_RATIO else 1


def _find_wrk() -> str | None:
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing; installing it with apt-get")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, timeout=300)
        found = shutil.which("wrk")
    return found


def _wrk(wrk: str, url: str, extra: list[str], args: argparse.Namespace) -> tuple[float, int]:
    """Requests/s and the number of requests of one wrk run."""
    argv = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", *extra, url]
    out = subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=args.duration + 30
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw error responses from {url}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"no Requests/sec or request count in wrk's output:\n{out}")
    return float(rate.group(1)), int(count.group(1))


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used so far.

    On a shared machine throughput also measures the neighbours; the server's own CPU time per
    request does not, so it is printed beside the rates as a steadier view of the same cost.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _endpoint_argv(loop: str, port: int) -> list[str]:
    # Enough units and queue for every connection: the benchmark measures handling, not 429s.
    # The server settings are spelled out so they visibly match the hello-world's.
    return [
        sys.executable, "-m", "harness.cli", "endpoint",
        f"--host={LOOPBACK}", f"--port={port}", "--concurrency=64", "--max-queue=64",
        "--no-access-log", "--uvloop" if loop == "uvloop" else "--no-uvloop",
    ]  # fmt: skip


def _hello_argv(loop: str, port: int) -> list[str]:
    return [sys.executable, "-c", HELLO, str(port), loop]


@contextmanager
def _server(
    name: str, argv_for: Callable[[int], list[str]], ready_path: str, log_dir: Path
) -> Iterator[tuple[str, int]]:
    """A server child process on a free port, as its base URL and pid, until the block ends."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    ready = HttpReady(base + ready_path)
    with running(ChildProcess(name, argv_for(port)), ready, log_dir) as child:
        yield base, child.pid


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChaosError as exc:
        sys.exit(f"error: {exc}")
