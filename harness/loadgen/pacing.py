"""Open- and closed-loop pacing over a single-threaded event loop: shared by the curl and http1
engines (the self-paced ones), which differ only in how a request goes out and its answer comes
back.

An :class:`EventLoop` starts a request now (:meth:`EventLoop.start`) and serves its sockets and
timers until a deadline (:meth:`EventLoop.serve`), calling back whenever the schedule is due so
that a burst of answers can never hold up the next send.
"""

from __future__ import annotations

import gc
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from harness.errors import UsageError
from harness.loadgen.batch import Batch
from harness.loadgen.engine import Plan, SecondTick, Sink, connections_ahead
from harness.loadgen.recorder import Recorder
from harness.loadgen.shapes import peak_rate, take_share
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.timer_slack import fine_timers

__all__ = [
    "LAG_BATCH",
    "MAX_IDLE_S",
    "NEVER",
    "EventLoop",
    "run_paced",
    "run_recorded",
]

NEVER = float("inf")
# The longest single wait while idle, so a run that has nothing left to do notices its end.
MAX_IDLE_S = 0.05

# Lags are recorded into the generator's histogram this many at a time, with numpy.
LAG_BATCH = 4096


class EventLoop(Protocol):
    inflight: int
    # Set by a schedule with requests waiting for a connection: the next completion wakes it.
    blocked: bool

    @property
    def capacity(self) -> int:
        """The most requests it can carry at once."""
        ...

    @property
    def can_start(self) -> bool:
        """Whether :meth:`start` may be called now."""
        ...

    def prepare(self, connections: int) -> None:
        """Get ready to carry about ``connections`` requests at once, before the first."""
        ...

    def start(self, index: int, intended: float) -> float:
        """Send request ``index`` now; its send time, in monotonic seconds."""
        ...

    def serve(self, until: float, due: float, send_due: Callable[[], float]) -> float:
        """Serve answers for one wake-up, waiting at most until ``until`` or ``due``;
        ``send_due`` runs whenever ``due`` passes and returns the next due time, as does this."""
        ...

    def close(self) -> None: ...


def run_paced(
    plan: Plan,
    sink: Sink,
    t0: float,
    tick: SecondTick | None = None,
    stop: threading.Event | None = None,
) -> GeneratorStats:
    """Run ``plan`` on its self-paced engine (curl, http1 or native): the same contract as the
    asyncio engine's ``run_plan``. Setting ``stop`` (from another thread) ends the run early:
    nothing more is sent and nothing more awaited."""
    if plan.engine == "native":
        from harness.loadgen.native import run_native

        return run_native(plan, sink, t0, tick, stop)
    loop = _event_loop(plan, sink, t0)
    ticker = _Ticker(t0, tick, stop)
    try:
        loop.prepare(connections_ahead(plan))
        # Everything alive now lives for the whole run: out of the collector's sight, its full
        # collections stay short instead of stalling the schedule for milliseconds.
        gc.freeze()
        try:
            with fine_timers():
                if plan.open_loop:
                    return _OpenLoop(plan, sink, t0, loop, ticker).run()
                return _ClosedLoop(plan, sink, t0, loop, ticker).run()
        finally:
            gc.unfreeze()
    finally:
        loop.close()


def _event_loop(plan: Plan, sink: Sink, t0: float) -> EventLoop:
    if plan.engine == "curl":
        from harness.loadgen.curl import curl_loop

        return curl_loop(plan.target, sink, t0)
    if plan.engine == "http1":
        from harness.loadgen.http1 import Http1Loop

        return Http1Loop(plan.target, sink, t0)
    raise ValueError(f"not a self-paced engine: {plan.engine!r}")


def run_recorded(
    plan: Plan,
    recorder: Recorder,
    t0: float,
    tick: SecondTick | None = None,
    stop: threading.Event | None = None,
) -> GeneratorStats:
    """:func:`run_paced` into ``recorder`` through a :class:`Batch`, flushed as each second
    ends (before ``tick``) and at the end."""
    batch = Batch(recorder)

    def flushed(second: int, inflight: int) -> None:
        batch.flush()
        if tick is not None:
            tick(second, inflight)

    try:
        return run_paced(plan, batch, t0, flushed, stop)
    finally:
        batch.flush()


class _Ticker:
    """Called between rounds of the event loop, which never sleeps longer than MAX_IDLE_S:
    calls ``tick`` as each second of the run ends (at most that late) and says whether the run
    goes on."""

    def __init__(self, t0: float, tick: SecondTick | None, stop: threading.Event | None) -> None:
        self._t0, self._tick, self._second = t0, tick, 1
        self._stopped = stop.is_set if stop is not None else lambda: False

    def __call__(self, inflight: int) -> bool:
        if self._tick is not None and time.monotonic() >= self._t0 + self._second:
            self._tick(self._second, inflight)
            self._second += 1
        return not self._stopped()


class _OpenLoop:
    """Starts each request at its offset; one due while every connection is busy waits for one
    (its latency still counts from its intended start), and past the in-flight ceiling it is
    dropped and counted."""

    def __init__(self, plan: Plan, sink: Sink, t0: float, loop: EventLoop, ticker: _Ticker) -> None:
        self._plan, self._sink, self._t0, self._loop = plan, sink, t0, loop
        self._ticker = ticker
        self._schedule: Iterator[tuple[int, float]] = take_share(
            plan.shape.offsets(), plan.worker, plan.workers
        )
        self._upcoming = next(self._schedule, None)
        self._waiting: deque[tuple[int, float]] = deque()
        self._ceiling = plan.inflight_ceiling(peak_rate(plan.shape))
        self.stats = GeneratorStats()
        self._lags = array("d")

    def run(self) -> GeneratorStats:
        loop, plan = self._loop, self._plan
        due = self._send_due()
        going = True
        while going and (self._upcoming is not None or self._waiting):
            due = loop.serve(time.monotonic() + MAX_IDLE_S, due, self._send_due)
            going = self._ticker(loop.inflight)
        end = max(self._t0 + plan.shape.duration_s, time.monotonic())
        if going:
            _drain(loop, end + plan.target.timeout_s, self._send_due, self._ticker)
        _record_lags(self.stats, self._lags)
        return self.stats

    def _send_due(self) -> float:
        """Offer every request whose time has come and send as many as there are free
        connections for; when the next one is due."""
        loop, stats, waiting, t0 = self._loop, self.stats, self._waiting, self._t0
        upcoming = self._upcoming
        now = time.monotonic()
        while upcoming is not None and t0 + upcoming[1] <= now:
            index, offset = upcoming
            stats.scheduled += 1
            self._sink.offered(offset)
            if loop.inflight + len(waiting) >= self._ceiling:
                stats.dropped += 1
            else:
                waiting.append((index, t0 + offset))
            upcoming = next(self._schedule, None)
        # One pass only: sockets are served between passes, so answers keep freeing
        # connections even when sending alone would take all the time there is.
        lags = self._lags
        while waiting and loop.can_start:
            index, intended = waiting.popleft()
            lags.append(loop.start(index, intended) - intended)
            stats.sent += 1
        if len(lags) >= LAG_BATCH:
            _record_lags(stats, lags)
        self._upcoming = upcoming
        loop.blocked = bool(waiting)
        return NEVER if upcoming is None else t0 + upcoming[1]


class _ClosedLoop:
    """``concurrency`` users, this worker's share of them, each sending again as soon as its
    answer is back; latency is then service time, which is what hides a stall."""

    def __init__(self, plan: Plan, sink: Sink, t0: float, loop: EventLoop, ticker: _Ticker) -> None:
        self._plan, self._sink, self._t0, self._loop = plan, sink, t0, loop
        self._ticker = ticker
        self._users = len(range(plan.worker, plan.concurrency or 1, plan.workers))
        if self._users > loop.capacity:
            raise UsageError(
                f"expected --connections >= closed-loop users but got users={self._users} "
                f"connections={loop.capacity}"
            )
        self._counter = iter(range(plan.worker, 1 << 62, plan.workers))
        self._end = t0 + plan.shape.duration_s
        self.stats = GeneratorStats()
        self._lags = array("d")

    def run(self) -> GeneratorStats:
        loop, t0 = self._loop, self._t0
        while (wait := t0 - time.monotonic()) > 0:
            time.sleep(min(wait, MAX_IDLE_S))
        due = self._refill()
        going = True
        while going and time.monotonic() < self._end:
            due = loop.serve(min(self._end, time.monotonic() + MAX_IDLE_S), due, self._refill)
            going = self._ticker(loop.inflight)
        self._end = min(self._end, time.monotonic())
        if going:
            _drain(loop, self._end + self._plan.target.timeout_s, self._refill, self._ticker)
        _record_lags(self.stats, self._lags)
        return self.stats

    def _refill(self) -> float:
        # Closed loop's "intended" start is whenever the previous answer came back.
        loop, stats = self._loop, self.stats
        while loop.inflight < self._users and (now := time.monotonic()) < self._end:
            self._sink.offered(now - self._t0)
            stats.scheduled += 1
            stats.sent += 1
            self._lags.append(0.0)
            loop.start(next(self._counter), now)
        if len(self._lags) >= LAG_BATCH:
            _record_lags(stats, self._lags)
        # Users come back through completions, which wake this through ``blocked``.
        loop.blocked = time.monotonic() < self._end
        return NEVER


def _drain(
    loop: EventLoop, timeout_at: float, send_due: Callable[[], float], ticker: _Ticker
) -> None:
    """Await the requests still in flight after the last send, a second past the timeout of
    the last at most (engines time each out by themselves before)."""
    deadline = timeout_at + 1.0
    while loop.inflight and time.monotonic() < deadline:
        loop.serve(min(deadline, time.monotonic() + MAX_IDLE_S), NEVER, send_due)
        if not ticker(loop.inflight):
            return


def _record_lags(stats: GeneratorStats, lags: array[float]) -> None:
    stats.record_lags(np.frombuffer(lags, dtype=np.float64).copy())
    del lags[:]
