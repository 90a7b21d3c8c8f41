"""The native engine: the http1 engine's event loop in Rust (``native/``, built by
``make provision`` where cargo exists), for open-loop rates a Python loop cannot keep.

The loop runs on a thread of its own that never takes the GIL: sockets, pacing, HTTP/1.1
parsing (httparse), bodies and answer checks all happen there, by the http1 engine's rules.
This side hands it the schedule a chunk at a time (so memory stays flat however long the run)
and takes its outcomes every 50 ms as arrays, which go to the recorder through
``completed_many``: per-second buckets, phases, budgets and reports are recorded by the same
code whichever engine sent the requests.

It speaks ``http://`` and the bodies and checks the harness ships (fixed, samples, records;
any answer, predictions per record); anything else takes the http1 engine.

Streamed answers (server-sent events) are scanned in the loop as they arrive, by the Python
``StreamReader``'s rules: each request's first byte, first token, tokens, how the stream ended
and its malformed events come with its outcome, its inter-token gaps in one flat array, and go
to the recorder through ``streamed_many`` (goodput judged here, with numpy).
"""

from __future__ import annotations

import threading
import time
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import ChaosError, UsageError
from harness.loadgen import native_support
from harness.loadgen.batch import Batch, Recording
from harness.loadgen.engine import (
    Plan,
    SecondTick,
    Sink,
    Target,
    connections_ahead,
    stream_recording,
)
from harness.loadgen.histograms import Floats, Ints
from harness.loadgen.http1 import BODY_METHODS, request_start, resolve
from harness.loadgen.native_support import FAILURES, INSTALL_HINT, unsupported
from harness.loadgen.payloads import FixedBody, PredictionsPerRecord, RecordsBody, SampleBodies
from harness.loadgen.shapes import peak_rate
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.streams import StreamArrays, StreamSlo

if TYPE_CHECKING:
    from serving_chaos_native import Engine

__all__ = ["run_native"]

# How often outcomes are taken from the loop and recorded, and the schedule topped up: recording
# costs most per call, not per request (every 5 ms took 36 us of this thread per request at
# 5,000 req/s, every 50 ms 6.5 us), and the loop's thread never waits for it.
_TAKE_EVERY_S = 0.05
# Schedule entries kept handed over ahead of the loop (at 50,000 req/s, 1.3 s: this thread may
# be held up by a long recording or a collection without the loop running dry; 1 MB), and how
# many are made at a time.
_AHEAD = 65536
_CHUNK = 8192
# A second is ticked this long after it ends, once the loop has handed over its outcomes (it
# does every 10 ms).
_TICK_GRACE_S = 0.02


def run_native(
    plan: Plan,
    sink: Sink,
    t0: float,
    tick: SecondTick | None = None,
    stop: threading.Event | None = None,
) -> GeneratorStats:
    """Run ``plan`` on the native engine: the same contract as ``run_paced``."""
    recording = _recording(sink)
    streams = _Streams(sink, plan.target.slo) if plan.target.stream else None
    engine = _engine(plan, t0)
    schedule = _Schedule(plan) if plan.open_loop else None
    if schedule is not None:
        schedule.top_up(engine)
    stats = GeneratorStats()
    second = 1
    engine.start()
    try:
        while not engine.finished():
            if stop is not None and stop.is_set():
                break
            if schedule is not None:
                schedule.top_up(engine)
            _hand_over(engine, recording, stats, streams)
            while tick is not None and time.monotonic() >= t0 + second + _TICK_GRACE_S:
                tick(second, engine.inflight())
                second += 1
            time.sleep(_TAKE_EVERY_S)
    finally:
        # Stopped (or interrupted): nothing more is sent and nothing more awaited.
        if not engine.finished():
            engine.stop()
        engine.join()
    _hand_over(engine, recording, stats, streams)
    error = engine.error()
    if error is not None:
        raise ChaosError(error)
    stats.scheduled, stats.sent, stats.dropped = engine.counts()
    return stats


def _engine(plan: Plan, t0: float) -> Engine:
    native = native_support.NATIVE
    if native is None:
        raise UsageError(INSTALL_HINT)
    target = plan.target
    reason = unsupported(target)
    if reason is not None:
        raise UsageError(reason)
    _, address = resolve(target)
    if plan.open_loop:
        pacing: dict[str, Any] = {"ceiling": plan.inflight_ceiling(peak_rate(plan.shape))}
    else:
        users = len(range(plan.worker, plan.concurrency or 1, plan.workers))
        if users > target.max_connections:
            raise UsageError(
                f"expected --connections >= closed-loop users but got users={users} "
                f"connections={target.max_connections}"
            )
        pacing = {"users": users, "first": plan.worker, "step": plan.workers}
    engine: Engine = native.Engine(
        address=address[0],
        port=address[1],
        start_line=request_start(target),
        content_type=target.content_type,
        always_length=target.method in BODY_METHODS,
        head=target.method == "HEAD",
        timeout_s=target.timeout_s,
        max_connections=target.max_connections,
        t0=t0,
        duration_s=plan.shape.duration_s,
        prepare=connections_ahead(plan),
        stream=target.stream,
        **_bodies(target),
        **pacing,
    )
    return engine


def _bodies(target: Target) -> dict[str, Any]:
    body, validator = target.body, target.validator
    found: dict[str, Any] = {"data": b"", "samples": [], "records": 0, "keyspace": 0}
    if isinstance(body, FixedBody):
        found.update(body="fixed", data=body.data)
    elif isinstance(body, SampleBodies):
        found.update(body="samples", samples=list(body.samples))
    elif isinstance(body, RecordsBody):
        found.update(body="records", records=body.records, keyspace=body.keyspace)
    found["predictions"] = (
        validator.records if isinstance(validator, PredictionsPerRecord) else None
    )
    return found


class _Schedule:
    """This worker's share of the shape's offsets (every ``workers``-th, as ``take_share``
    takes it), handed over a chunk at a time."""

    def __init__(self, plan: Plan) -> None:
        self._offsets = plan.shape.offsets()
        self._worker, self._workers = plan.worker, plan.workers
        self._next = 0
        self._done = False

    def top_up(self, engine: Engine) -> None:
        while not self._done and engine.queued() < _AHEAD:
            raw = np.fromiter(islice(self._offsets, _CHUNK * self._workers), np.float64)
            indices = np.arange(self._next, self._next + len(raw), dtype=np.int64)
            self._next += len(raw)
            mine = indices % self._workers == self._worker
            self._done = len(raw) < _CHUNK * self._workers
            engine.feed(indices[mine].tobytes(), raw[mine].tobytes(), self._done)


def _recording(sink: Sink) -> Recording:
    """Where the arrays go: the recorder behind a batch, a recorder, or each request in turn."""
    if isinstance(sink, Batch):
        return sink.recorder
    if hasattr(sink, "completed_many") and hasattr(sink, "offered_many"):
        found: Recording = sink  # type: ignore[assignment]
        return found
    return _OneByOne(sink)


class _Streams:
    """Where streams' timings go, and the objectives that judge their goodput."""

    def __init__(self, sink: Sink, slo: StreamSlo) -> None:
        self._to, self._slo = stream_recording(sink), slo

    def record(self, intended: Floats, codes: Ints, raw: tuple[bytes, ...]) -> None:
        streams = _stream_arrays(raw)
        self._to(intended, streams, streams.good(codes, self._slo))


def _hand_over(
    engine: Engine, recording: Recording, stats: GeneratorStats, streamed: _Streams | None
) -> None:
    outcomes, streams = engine.take()
    offered, intended, sent, done, codes, request, response, lags = outcomes
    if offered:
        recording.offered_many(np.frombuffer(offered, np.float64))
    if codes:
        when = np.frombuffer(intended, np.float64)
        statuses = np.frombuffer(codes, np.int64)
        recording.completed_many(
            when,
            np.frombuffer(sent, np.float64),
            np.frombuffer(done, np.float64),
            statuses,
            FAILURES,
            np.frombuffer(request, np.int64),
            np.frombuffer(response, np.int64),
        )
        if streamed is not None:
            streamed.record(when, statuses, streams)
    if lags:
        stats.record_lags(np.frombuffer(lags, np.float64))


def _stream_arrays(raw: tuple[bytes, ...]) -> StreamArrays:
    first_byte, first_token, total, tokens, complete, malformed, gap_counts, gaps = raw
    return StreamArrays(
        np.frombuffer(first_byte, np.float64),
        np.frombuffer(first_token, np.float64),
        np.frombuffer(total, np.float64),
        np.frombuffer(tokens, np.int64),
        np.frombuffer(complete, np.int64).astype(np.bool_),
        np.frombuffer(malformed, np.int64),
        np.frombuffer(gap_counts, np.int64),
        np.frombuffer(gaps, np.float64),
    )


class _OneByOne:
    """A :class:`Recording` over a plain :class:`Sink`: each request reported in turn."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def offered_many(self, intended: Any) -> None:
        for offset in intended.tolist():
            self._sink.offered(offset)

    def completed_many(
        self,
        intended: Any,
        sent: Any,
        done: Any,
        codes: Any,
        failures: Any,
        request_bytes: Any = None,
        response_bytes: Any = None,
    ) -> None:
        rows = zip(
            intended.tolist(),
            sent.tolist(),
            done.tolist(),
            codes.tolist(),
            request_bytes.tolist(),
            response_bytes.tolist(),
            strict=True,
        )
        for when, out, back, code, size, received in rows:
            self._sink.completed(
                when,
                out,
                back,
                status=code if code >= 0 else None,
                failure=failures[-1 - code] if code < 0 else None,
                request_bytes=size if size >= 0 else None,
                response_bytes=received if received >= 0 else None,
            )
