"""Requests/s of the reference endpoint against a minimal aiohttp hello-world, side by side.

Both servers run as child processes on free loopback ports; wrk drives each in turn, a few
repetitions interleaved so drift on the machine hits both alike. The endpoint runs with a
zero-cost model and no feature store, so the ratio is the price of its request handling.

    python benchmarks/endpoint_throughput.py [--duration 5] [--repeat 3] [--connections 64]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOOPBACK = "127.0.0.1"
TARGET_RATIO = 0.60
HELLO = """
import sys
from aiohttp import web

async def hello(request):
    return web.Response(text="Hello, world")

app = web.Application()
app.router.add_get("/", hello)
app.router.add_post("/", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
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
    args = parser.parse_args()
    wrk = _find_wrk()
    if wrk is None:
        print("wrk not found; install it with `apt-get install -y wrk` (as root) and rerun")
        return 2
    with tempfile.TemporaryDirectory(prefix="endpoint-bench-") as tmp:
        script = Path(tmp, "post.lua")
        script.write_text(WRK_SCRIPT)
        with _server(_endpoint_argv, "/ping") as endpoint, _server(_hello_argv, "/") as hello:
            results: dict[str, list[float]] = {"endpoint": [], "hello-world": []}
            for _ in range(args.repeat):
                for name, url, extra in (
                    ("endpoint", f"{endpoint}/invocations", ["-s", str(script)]),
                    ("hello-world", f"{hello}/", []),
                ):
                    rps = _wrk(wrk, url, extra, args)
                    results[name].append(rps)
                    print(f"{name:12s} {rps:10.0f} req/s")
    medians = {name: statistics.median(values) for name, values in results.items()}
    ratio = medians["endpoint"] / medians["hello-world"]
    print(
        f"\nmedian of {args.repeat} x {args.duration}s at {args.connections} connections: "
        f"endpoint {medians['endpoint']:.0f} req/s, hello-world {medians['hello-world']:.0f} "
        f"req/s, ratio {ratio:.0%} (target >= {TARGET_RATIO:.0%})"
    )
    return 0 if ratio >= TARGET_RATIO else 1


def _find_wrk() -> str | None:
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing; installing it with apt-get")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, timeout=300)
        found = shutil.which("wrk")
    return found


def _wrk(wrk: str, url: str, extra: list[str], args: argparse.Namespace) -> float:
    argv = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", *extra, url]
    out = subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=args.duration + 30
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw error responses from {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    return float(match.group(1))


def _endpoint_argv(port: int) -> list[str]:
    # Enough units and queue for every connection: the benchmark measures handling, not 429s.
    return [
        sys.executable, "-m", "harness.cli", "endpoint",
        f"--host={LOOPBACK}", f"--port={port}", "--concurrency=64", "--max-queue=64",
    ]  # fmt: skip


def _hello_argv(port: int) -> list[str]:
    return [sys.executable, "-c", HELLO, str(port)]


@contextmanager
def _server(argv_for: object, ready_path: str) -> Iterator[str]:
    port = _free_port()
    argv = argv_for(port)  # type: ignore[operator]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://{LOOPBACK}:{port}"
    try:
        _wait_ready(base + ready_path, child)
        yield base
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


def _wait_ready(url: str, child: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            err = child.stderr.read().decode() if child.stderr else ""
            raise RuntimeError(f"server exited with {child.returncode} before ready:\n{err}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready within {timeout_s}s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


if __name__ == "__main__":
    sys.exit(main())
