"""`serving-chaos record`: a recording proxy in front of a real API. Point clients at the URL it
prints; on Ctrl-C, SIGTERM or after ``--duration-s`` it writes what it saw as a recording file
(for a ``replay`` stub) and prints how many calls and how long the API took over them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from aiohttp import web

from harness.errors import UsageError
from harness.servers.stub.app import make_app, recording_of
from harness.servers.stub.config import StubConfig
from harness.servers.stub.recording import Exchange, write_recording
from harness.servers.stub.spec import ProxySpec

__all__ = ["add_arguments", "latency_summary", "run"]

_NAME = "recorder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream", required=True, metavar="URL", help="the real API, an http(s):// URL"
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="recording file to write"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind (default 0: a free one, printed)"
    )
    parser.add_argument(
        "--duration-s",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: at Ctrl-C or SIGTERM)",
    )


def run(ns: argparse.Namespace, out: TextIO | None = None) -> int:
    """Record until stopped, write ``ns.out``, print a summary; 0 on success."""
    upstream, duration_s = _checked(ns)
    stream = out if out is not None else sys.stdout
    exchanges = asyncio.run(_record(upstream, ns.host, ns.port, duration_s, stream))
    write_recording(ns.out, upstream, exchanges)
    print(
        f"wrote {len(exchanges)} exchanges to {ns.out}; {latency_summary(exchanges)}", file=stream
    )
    return 0


def latency_summary(exchanges: Sequence[Exchange]) -> str:
    """``upstream latency median X ms, p90 Y ms`` (nearest rank), then for event streams the
    gaps between their events; or that there were none."""
    if not exchanges:
        return "no calls were made"
    latencies = [exchange.latency_ms for exchange in exchanges]
    found = f"upstream latency {_median_p90(latencies)}"
    streams = [e.response.events_ms for e in exchanges if e.response.events_ms]
    gaps = [b - a for times in streams for a, b in itertools.pairwise(times)]
    if gaps:
        found += f"; {len(streams)} event streams, gap between events {_median_p90(gaps)}"
    return found


def _median_p90(values: Sequence[float]) -> str:
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return f"median {rank(0.5):.1f} ms, p90 {rank(0.9):.1f} ms"


def _checked(ns: argparse.Namespace) -> tuple[str, float | None]:
    upstream = str(ns.upstream).rstrip("/")
    parsed = urlsplit(upstream)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise UsageError(
            f"serving-chaos record: expected --upstream as an http:// or https:// URL with a host "
            f"but got --upstream={ns.upstream!r}"
        )
    if not 0 <= ns.port <= 65535:
        raise UsageError(f"serving-chaos record: expected --port in 0..65535 but got {ns.port}")
    duration_s = ns.duration_s
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise UsageError(
            f"serving-chaos record: expected --duration-s > 0 but got --duration-s={duration_s}"
        )
    if ns.out.is_dir():
        raise UsageError(f"serving-chaos record: --out {ns.out} is a directory, not a file")
    return upstream, duration_s


async def _record(
    upstream: str, host: str, port: int, duration_s: float | None, out: TextIO
) -> tuple[Exchange, ...]:
    app = make_app(StubConfig(host=host, port=port, name=_NAME), ProxySpec(upstream, record=True))
    # In-flight calls get a few seconds to finish (and be recorded) at the end.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = []
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise UsageError(
                f"serving-chaos record: cannot listen on {host}:{port} ({exc.strerror})"
            ) from exc
        bound_host, bound_port = runner.addresses[0][:2]
        print(f"recording {upstream} at http://{bound_host}:{bound_port}", file=out, flush=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
                handled.append(signum)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration_s)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await runner.cleanup()
    return recording_of(app)
