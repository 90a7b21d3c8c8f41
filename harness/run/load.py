"""The runner's view of the load engine: a scenario's LoadSpec and load shape, run in-process.

The runner keeps the load in its own process on purpose: its PhaseClock learns the faults'
actual apply and revert times as they happen, and each request is attributed to its phases
after it completes, when those times are known. Worker processes would see them late, and phase
budgets would become approximate. The aiohttp engine shares the runner's event loop; the http1
and curl engines pace themselves, so they run in a thread beside it, recording in batches.
"""

from __future__ import annotations

import asyncio
import threading

from harness.loadgen.engine import SELF_PACED, Plan, Target
from harness.loadgen.options import engine_for
from harness.loadgen.pacing import run_recorded
from harness.loadgen.payloads import (
    AcceptAny,
    BodySource,
    FixedBody,
    PredictionsPerRecord,
    RecordsBody,
    SampleBodies,
)
from harness.loadgen.ray_shards import RayShards
from harness.loadgen.recorder import Recorder
from harness.loadgen.shapes import Constant, Shape
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.worker import run_plan
from harness.scenario import LoadSpec

__all__ = ["GeneratorStats", "load_plan", "run_open_loop", "target_for"]


def target_for(url: str, spec: LoadSpec) -> Target:
    """MLflow records with one prediction expected per record, or the scenario's own body (or
    its samples, or its LLM requests, in turn) with any 2xx accepted."""
    samples = spec.sample_bodies()
    if samples:
        body: BodySource = SampleBodies(samples)
        validator: AcceptAny | PredictionsPerRecord = AcceptAny()
    elif spec.body is not None:
        body = FixedBody(spec.body)
        validator = AcceptAny()
    else:
        body = RecordsBody(spec.records_per_request, spec.keyspace)
        validator = PredictionsPerRecord(spec.records_per_request)
    if spec.stream:
        # A stream's outcome is how it ended, not a body to check.
        validator = AcceptAny()
    return Target(
        url,
        body=body,
        validator=validator,
        timeout_s=spec.timeout_s,
        max_connections=spec.max_connections,
        stream=spec.stream,
        slo=spec.slo,
    )


def load_plan(
    url: str, spec: LoadSpec, shape: Shape | None = None, max_inflight: int | None = None
) -> Plan:
    """The plan of a scenario's load: ``shape``, by default the spec's constant rate."""
    arrivals = shape if shape is not None else Constant(spec.rate, spec.duration_s)
    engine = engine_for(spec.engine, url, stream=spec.stream)
    return Plan(target_for(url, spec), arrivals, max_inflight=max_inflight, engine=engine)


async def run_open_loop(
    url: str,
    spec: LoadSpec,
    recorder: Recorder,
    *,
    t0: float,
    shape: Shape | None = None,
    max_inflight: int | None = None,
    shards: RayShards | None = None,
) -> GeneratorStats:
    """Requests to ``url`` on schedule from ``t0`` (``shape``, by default the spec's constant
    rate); from the Ray ``shards`` when given (prepared with :func:`load_plan`'s plan)."""
    plan = load_plan(url, spec, shape, max_inflight)
    if shards is None and plan.engine not in SELF_PACED:
        return await run_plan(plan, recorder, t0)
    stop = threading.Event()
    try:
        if shards is not None:
            return await asyncio.to_thread(shards.run, recorder, t0, stop=stop)
        return await asyncio.to_thread(run_recorded, plan, recorder, t0, None, stop)
    finally:
        # Cancelled (Ctrl-C, a failed fault): the thread stops sending and returns at once.
        stop.set()
