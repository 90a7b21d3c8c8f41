"""The load engine: arrival shapes, payloads, HTTP engines, worker processes and results."""

from harness.loadgen.engine import Plan, Sink, Target
from harness.loadgen.fanout import run_processes
from harness.loadgen.payloads import (
    AcceptAny,
    FixedBody,
    PredictionsPerRecord,
    RecordsBody,
    SampleBodies,
)
from harness.loadgen.shapes import (
    Constant,
    Poisson,
    Ramp,
    Rates,
    Replay,
    Shape,
    Sine,
    Spike,
    Step,
    take_share,
)
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.summary import LoadResult
from harness.loadgen.trace import read_trace
from harness.loadgen.worker import run_plan

__all__ = [
    "AcceptAny",
    "Constant",
    "FixedBody",
    "GeneratorStats",
    "LoadResult",
    "Plan",
    "Poisson",
    "PredictionsPerRecord",
    "Ramp",
    "Rates",
    "RecordsBody",
    "Replay",
    "SampleBodies",
    "Shape",
    "Sine",
    "Sink",
    "Spike",
    "Step",
    "Target",
    "read_trace",
    "run_plan",
    "run_processes",
    "take_share",
]
