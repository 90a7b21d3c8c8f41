"""The request/response contract every HTTP engine honours, so faults, clients and budgets never
care whether aiohttp or libcurl sent the request.

An engine takes a :class:`Plan` and reports each request to a :class:`Sink` with its intended
start, actual send and completion times (monotonic seconds since ``t0``), an outcome: a status
code, or a failure name (``timeout``, ``connection``, ``invalid_body``, ...), and the bytes of
its request body and of the response body it got (None when there was no response).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import UsageError
from harness.loadgen.native_support import INSTALL_HINT, native_available, unsupported
from harness.loadgen.payloads import AcceptAny, BodySource, FixedBody, Validator
from harness.loadgen.shapes import Shape, peak_rate
from harness.loadgen.streams import StreamArrays, StreamSlo, StreamTimes

__all__ = [
    "ENGINES",
    "METHODS",
    "SELF_PACED",
    "STREAM_ENGINES",
    "Plan",
    "SecondTick",
    "Sink",
    "StreamSink",
    "StreamsTo",
    "Target",
    "connections_ahead",
    "stream_recording",
    "stream_sink",
]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
ENGINES = ("aiohttp", "curl", "http1", "native")
# Engines that read streamed answers event by event (the others read each answer whole).
STREAM_ENGINES = ("aiohttp", "http1", "native")
# Engines with their own event loop (harness.loadgen.pacing) rather than asyncio's.
SELF_PACED = ("curl", "http1", "native")


class Sink(Protocol):
    def offered(self, intended: float) -> None: ...

    def completed(
        self,
        intended: float,
        sent: float,
        done: float,
        *,
        status: int | None,
        failure: str | None,
        request_bytes: int | None = None,
        response_bytes: int | None = None,
    ) -> None: ...


class StreamSink(Protocol):
    """A sink that also takes how a streamed answer's tokens arrived (times from ``t0``)."""

    def streamed(self, intended: float, times: StreamTimes, good: bool) -> None: ...


# Where many streams' timings go at once: intended starts (seconds since t0), the streams, and
# which of them met the run's objectives.
StreamsTo = Callable[[Any, StreamArrays, Any], None]


def stream_recording(sink: Sink) -> StreamsTo:
    """Where ``sink`` takes arrays of streams: its own ``streamed_many`` or that of the recorder
    behind it, else its ``streamed`` called for each stream in turn."""
    for holder in (sink, getattr(sink, "recorder", None)):
        found: StreamsTo | None = getattr(holder, "streamed_many", None)
        if found is not None:
            return found
    streamed = stream_sink(sink)

    def each(intended: Any, streams: StreamArrays, good: Any) -> None:
        rows = zip(intended.tolist(), streams.each(), good.tolist(), strict=True)
        for when, times, met in rows:
            streamed(when, times, met)

    return each


def stream_sink(sink: Sink) -> Callable[[float, StreamTimes, bool], None]:
    """Where ``sink`` takes streamed answers' timings: its own ``streamed``, or that of the
    recorder behind it (a batch of outcomes in front of a recorder)."""
    found: Callable[[float, StreamTimes, bool], None] | None = getattr(sink, "streamed", None)
    if found is None:
        found = getattr(getattr(sink, "recorder", None), "streamed", None)
    if found is None:
        raise UsageError(
            "streamed answers need a recorder that takes their token timings (in-process or "
            "worker processes)"
        )
    return found


@dataclass(frozen=True, slots=True)
class Target:
    """Where requests go and how: one request shape for every engine."""

    url: str
    method: str = "POST"
    body: BodySource = field(default_factory=FixedBody)
    validator: Validator = field(default_factory=AcceptAny)
    content_type: str = "application/json"
    timeout_s: float = 10.0
    max_connections: int = 256
    # Answers are server-sent event streams, timed token by token (STREAM_ENGINES);
    # ``slo`` the objectives a stream must meet to count towards goodput.
    stream: bool = False
    slo: StreamSlo = field(default_factory=StreamSlo)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise UsageError(f"expected an http:// or https:// URL but got url={self.url!r}")
        if self.method not in METHODS:
            raise UsageError(f"expected method in {list(METHODS)} but got method={self.method!r}")
        if self.timeout_s <= 0:
            raise UsageError(f"expected timeout > 0 but got timeout={self.timeout_s!r}")
        if self.max_connections < 1:
            raise UsageError(f"expected connections >= 1 but got {self.max_connections!r}")

    def outcome(self, status: int, body: bytes) -> tuple[int | None, str | None]:
        """A 2xx whose body fails validation is an error, not a success."""
        failure = self.validator(status, body)
        return (None, failure) if failure else (status, None)


@dataclass(frozen=True, slots=True)
class Plan:
    """One worker's part of a run.

    Open loop (``concurrency`` is None): requests start at the shape's offsets, this worker taking
    every ``workers``-th one, and latency counts from the intended start. Closed loop:
    ``concurrency`` users each send, wait, and send again for the shape's duration; latency is
    then service time, which is exactly what hides a stall, and outputs say so.
    """

    target: Target
    shape: Shape
    worker: int = 0
    workers: int = 1
    concurrency: int | None = None
    max_inflight: int | None = None
    engine: str = "aiohttp"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise UsageError(f"expected engine in {list(ENGINES)} but got {self.engine!r}")
        if self.engine == "http1" and not self.target.url.startswith("http://"):
            raise UsageError(
                f"expected an http:// URL for the http1 engine but got {self.target.url!r}; "
                "the curl and aiohttp engines speak https"
            )
        if self.target.stream and self.engine not in STREAM_ENGINES:
            raise UsageError(
                f"expected an engine that reads streamed answers ({', '.join(STREAM_ENGINES)}) "
                f"but got engine={self.engine!r}: it reads each answer whole"
            )
        if self.engine == "native":
            reason = unsupported(self.target) if native_available() else INSTALL_HINT
            if reason is not None:
                raise UsageError(reason)

    @property
    def open_loop(self) -> bool:
        return self.concurrency is None

    def inflight_ceiling(self, rate: float) -> int:
        # Past this many outstanding requests, new ones are dropped and counted, never queued.
        if self.max_inflight is not None:
            return self.max_inflight
        share = rate / self.workers
        return max(int(share * self.target.timeout_s) + 1, self.target.max_connections, 1)


# Told once per whole second of the run: which second ended and how many requests are in flight.
SecondTick = Callable[[int, int], None]


def connections_ahead(plan: Plan) -> int:
    """Connections worth opening before the first request: the users of a closed loop, or what
    the peak rate keeps busy if answers took 10 ms (at least a few). Opening them mid-run is
    what hurts: a short hiccup on either side leaves no connection free, each late request then
    opens one, which costs more time, and the generator falls further behind."""
    if not plan.open_loop:
        return len(range(plan.worker, plan.concurrency or 1, plan.workers))
    return max(4, math.ceil(peak_rate(plan.shape) / plan.workers * 0.010))
