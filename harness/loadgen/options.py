"""`serving-chaos load` flags, and turning them into a Plan; bad values raise UsageError."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness.errors import UsageError
from harness.loadgen.engine import ENGINES, METHODS, Plan, Target
from harness.loadgen.llm_options import add_llm_arguments, check_streaming, llm_from, slo_from
from harness.loadgen.llm_requests import LlmRequests
from harness.loadgen.payloads import (
    AcceptAny,
    BodySource,
    FixedBody,
    PredictionsPerRecord,
    RecordsBody,
    SampleBodies,
    Validator,
    body_file,
    json_body,
)
from harness.loadgen.ray_shards import Workers, parse_workers
from harness.loadgen.shapes import Constant, Poisson, Ramp, Shape, Sine, Spike, Step
from harness.loadgen.trace import TRACE_KINDS, read_trace

__all__ = ["SHAPES", "VALIDATIONS", "add_arguments", "engine_for", "plan_from", "shape_from"]

SHAPES = ("constant", "ramp", "step", "spike", "sine", "poisson", "trace")
VALIDATIONS = ("auto", "predictions", "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="endpoint URL (any; tests use 127.0.0.1)")
    parser.add_argument("--rate", type=float, help="requests/s (the baseline for ramp/spike/...)")
    parser.add_argument("--duration", type=float, help="seconds of load")
    parser.add_argument(
        "--workers",
        default=str(os.cpu_count() or 1),
        help="N worker processes (default: one per CPU), or ray (a local Ray started for the "
        "run) or ray://HOST:PORT (an existing cluster): the schedule split into shards run by "
        "Ray actors, one per CPU; needs pip install 'serving-chaos[ray]'",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=None,
        help="with --workers ray: how many shards (default: one per CPU of the cluster)",
    )
    parser.add_argument(
        "--engine",
        choices=("auto", *ENGINES),
        default="auto",
        help=(
            "HTTP engine; auto: native for http:// URLs (http1 where it is not built), "
            "aiohttp for https://"
        ),
    )
    parser.add_argument("--closed-loop", type=int, metavar="CONCURRENCY", help="closed loop")
    shape = parser.add_argument_group("arrival shape")
    shape.add_argument("--shape", choices=SHAPES, default="constant")
    shape.add_argument("--ramp-to", type=float, help="ramp: final rate")
    shape.add_argument("--step-rate", type=float, help="step: rate added at each step")
    shape.add_argument("--step-every", type=float, default=10.0, help="step: seconds per step")
    shape.add_argument("--spike-factor", type=float, default=5.0, help="spike: x baseline")
    shape.add_argument("--spike-at", type=float, help="spike: start (default: a third in)")
    shape.add_argument("--spike-rise", type=float, default=1.0, help="spike: seconds to peak")
    shape.add_argument("--spike-hold", type=float, default=5.0, help="spike: seconds at peak")
    shape.add_argument("--sine-amplitude", type=float, help="sine: +/- rate (default: rate/2)")
    shape.add_argument("--sine-period", type=float, default=60.0, help="sine: period seconds")
    shape.add_argument(
        "--seed", type=int, default=0, help="random seed: poisson arrivals, --llm-* lengths"
    )
    shape.add_argument("--trace", type=Path, help="trace: CSV file")
    shape.add_argument("--trace-kind", choices=TRACE_KINDS, default="timestamps")
    request = parser.add_argument_group("requests")
    request.add_argument("--method", default="POST", type=str.upper, help=f"one of {METHODS}")
    bodies = request.add_mutually_exclusive_group()
    bodies.add_argument("--body", help="JSON body sent with every request")
    bodies.add_argument("--body-file", type=Path, help="JSON file or JSON lines of samples")
    request.add_argument("--records", type=int, default=1, help="records per generated body")
    request.add_argument("--keyspace", type=int, default=1000, help="distinct entity ids")
    request.add_argument(
        "--validate",
        choices=VALIDATIONS,
        default="auto",
        help="auto: predictions check for .../invocations URLs",
    )
    request.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    request.add_argument("--connections", type=int, default=256, help="per worker")
    request.add_argument("--max-inflight", type=int, help="per worker; beyond it, drop")
    add_llm_arguments(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--json", type=Path, help="write the results JSON here")
    output.add_argument("--quiet", action="store_true", help="no live progress")


def _need(args: argparse.Namespace, name: str, *, shape: str) -> float:
    value: float | None = getattr(args, name)
    if value is None:
        flag = "--" + name.replace("_", "-")
        raise UsageError(f"expected {flag} for --shape {shape} but it is missing")
    return value


def shape_from(args: argparse.Namespace) -> Shape:
    kind: str = args.shape
    if kind == "trace":
        if args.trace is None:
            raise UsageError("expected --trace FILE for --shape trace but it is missing")
        return read_trace(args.trace, args.trace_kind)
    rate, duration = _need(args, "rate", shape=kind), _need(args, "duration", shape=kind)
    if kind == "ramp":
        return Ramp(rate, _need(args, "ramp_to", shape=kind), duration)
    if kind == "step":
        return Step(rate, _need(args, "step_rate", shape=kind), args.step_every, duration)
    if kind == "spike":
        at = duration / 3 if args.spike_at is None else args.spike_at
        return Spike(rate, args.spike_factor, at, args.spike_rise, args.spike_hold, duration)
    if kind == "sine":
        amplitude = rate / 2 if args.sine_amplitude is None else args.sine_amplitude
        return Sine(rate, amplitude, args.sine_period, duration)
    if kind == "poisson":
        return Poisson(rate, duration, args.seed)
    return Constant(rate, duration)


def _body(args: argparse.Namespace, llm: LlmRequests | None) -> BodySource:
    if llm is not None:
        # Made once here, then sent in turn by every engine and worker.
        return SampleBodies(llm.bodies(stream=args.stream))
    if args.body is not None:
        return FixedBody(json_body(args.body))
    if args.body_file is not None:
        return body_file(args.body_file)
    if args.method in ("GET", "HEAD", "DELETE"):
        return FixedBody()
    return RecordsBody(args.records, args.keyspace)


def _validator(args: argparse.Namespace, llm: LlmRequests | None) -> Validator:
    if args.stream:
        # A stream's outcome is how it ended, not a body to check.
        return AcceptAny()
    wanted: str = args.validate
    if wanted == "auto":
        generated = (
            args.body is None and args.body_file is None and llm is None and args.method == "POST"
        )
        wanted = (
            "predictions" if generated and args.url.rstrip("/").endswith("invocations") else "none"
        )
    return PredictionsPerRecord(args.records) if wanted == "predictions" else AcceptAny()


def plan_from(args: argparse.Namespace) -> tuple[Plan, Workers]:
    """The plan for every worker (before splitting) and the workers to split it over."""
    workers = parse_workers(str(args.workers), args.shards)
    if args.closed_loop is not None and args.closed_loop < 1:
        raise UsageError(f"expected --closed-loop >= 1 but got --closed-loop {args.closed_loop}")
    if args.max_inflight is not None and args.max_inflight < 1:
        raise UsageError(f"expected --max-inflight >= 1 but got {args.max_inflight}")
    engine = engine_for(args.engine, args.url, stream=args.stream)
    slo, llm = slo_from(args), llm_from(args)
    check_streaming(args, engine, workers)
    target = Target(
        args.url,
        method=args.method,
        body=_body(args, llm),
        validator=_validator(args, llm),
        timeout_s=args.timeout,
        max_connections=args.connections,
        stream=args.stream,
        slo=slo,
    )
    if args.closed_loop is not None and workers.ray is None:
        # More processes than users would leave some with nobody to run.
        workers = Workers(processes=min(workers.processes, args.closed_loop))
    plan = Plan(
        target,
        shape_from(args),
        concurrency=args.closed_loop,
        max_inflight=args.max_inflight,
        engine=engine,
    )
    return plan, workers


def engine_for(engine: str, url: str, *, stream: bool = False) -> str:
    """``auto`` resolved: the fastest engine that speaks the URL's scheme and, when ``stream``,
    reads streamed answers: native for http:// (http1 where it is not built), aiohttp for
    https://. Every engine auto picks reads streams, so ``stream`` does not change the pick."""
    if engine != "auto":
        return engine
    if not url.startswith("http://"):
        return "aiohttp"
    from harness.loadgen.native_support import native_available

    return "native" if native_available() else "http1"
