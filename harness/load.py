"""The runner's view of the load engine: a scenario's constant-rate LoadSpec, run in-process.

The runner keeps one in-process worker on purpose: its PhaseClock learns the faults' actual
apply and revert times as they happen, and attributes each request when it completes. Worker
processes would see those times late, and phase budgets would become approximate.
"""

from __future__ import annotations

from harness.loadgen.engine import Plan, Target
from harness.loadgen.payloads import BodySource, PredictionsPerRecord, RecordsBody
from harness.loadgen.shapes import Constant, Shape
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.worker import run_plan
from harness.recorder import Recorder
from harness.scenario import LoadSpec

__all__ = ["BodySource", "GeneratorStats", "records_body", "run_open_loop"]


def records_body(records_per_request: int, keyspace: int) -> BodySource:
    return RecordsBody(records_per_request, keyspace)


async def run_open_loop(
    url: str,
    spec: LoadSpec,
    recorder: Recorder,
    *,
    body: BodySource,
    t0: float,
    shape: Shape | None = None,
    max_inflight: int | None = None,
) -> GeneratorStats:
    """Requests to the invocations ``url`` on schedule from ``t0`` (``shape``, by default the
    spec's constant rate); a 200 without one prediction per record counts as an error."""
    target = Target(
        url,
        body=body,
        validator=PredictionsPerRecord(spec.records_per_request),
        timeout_s=spec.timeout_s,
        max_connections=spec.max_connections,
    )
    arrivals = shape if shape is not None else Constant(spec.rate, spec.duration_s)
    plan = Plan(target, arrivals, max_inflight=max_inflight)
    return await run_plan(plan, recorder, t0)
