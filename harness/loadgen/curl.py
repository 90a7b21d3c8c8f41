"""The libcurl engine: pycurl's CurlMulti driving many keep-alive handles from one thread.

It pays at high rates, where aiohttp's per-request Python overhead makes the generator itself the
bottleneck. pycurl is optional: it is imported only when this engine is chosen, and
:func:`curl_available` lets callers fall back to aiohttp.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections import deque
from collections.abc import Iterator
from io import BytesIO
from typing import Any

from harness.errors import UsageError
from harness.loadgen.engine import Plan, Sink
from harness.loadgen.shapes import peak_rate, take_share
from harness.loadgen.stats import GeneratorStats

# libcurl error numbers the report names; the rest are reported as "curl_<n>".
_FAILURES = {28: "timeout", 7: "connection", 52: "connection", 55: "connection", 56: "connection"}
# Upper bound on one wait for socket activity, so libcurl's own timers are served in time.
_MAX_WAIT_S = 0.001
# Upper bound on one idle sleep (nothing in flight), so the end of the run is noticed.
_MAX_IDLE_S = 0.05


def curl_available() -> bool:
    return importlib.util.find_spec("pycurl") is not None


def _import_pycurl() -> Any:
    try:
        # Imported by name: pycurl is optional and ships no type information.
        return importlib.import_module("pycurl")
    except ImportError as exc:
        raise UsageError(
            "expected pycurl for --engine curl but it is not installed; "
            "`pip install pycurl` or use --engine aiohttp"
        ) from exc


class _Handles:
    """A pool of reusable easy handles: reusing one keeps its connection alive."""

    def __init__(self, pycurl: Any, plan: Plan) -> None:
        self._pycurl = pycurl
        self._plan = plan
        self.free = [self._new() for _ in range(plan.target.max_connections)]

    def _new(self) -> Any:
        pycurl, target = self._pycurl, self._plan.target
        handle = pycurl.Curl()
        handle.setopt(pycurl.URL, target.url)
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.TIMEOUT_MS, int(target.timeout_s * 1000))
        handle.setopt(pycurl.HTTPHEADER, [f"Content-Type: {target.content_type}", "Expect:"])
        handle.setopt(pycurl.CUSTOMREQUEST, target.method)
        if target.method == "HEAD":
            handle.setopt(pycurl.NOBODY, 1)
        return handle

    def prepare(self, handle: Any, index: int, intended: float) -> None:
        body = self._plan.target.body(index)
        if body:
            handle.setopt(self._pycurl.POSTFIELDS, body)
        buffer = BytesIO()
        handle.setopt(self._pycurl.WRITEDATA, buffer)
        handle.meta = (intended, time.monotonic(), buffer)


def run_curl(plan: Plan, sink: Sink, t0: float) -> GeneratorStats:
    """Same contract as the asyncio engine's ``run_plan``, on libcurl."""
    pycurl = _import_pycurl()
    multi = pycurl.CurlMulti()
    handles = _Handles(pycurl, plan)
    stats = GeneratorStats()
    if plan.open_loop:
        schedule = take_share(plan.shape.offsets(), plan.worker, plan.workers)
        _open(plan, sink, t0, pycurl, multi, handles, schedule, stats)
    else:
        _closed(plan, sink, t0, pycurl, multi, handles, stats)
    for handle in handles.free:
        handle.close()
    multi.close()
    return stats


def _start(multi: Any, handles: _Handles, index: int, intended: float) -> None:
    handle = handles.free.pop()
    handles.prepare(handle, index, intended)
    multi.add_handle(handle)


def _reap(plan: Plan, sink: Sink, t0: float, multi: Any, pycurl: Any, handles: _Handles) -> int:
    """Finish every completed transfer; how many finished."""
    finished = 0
    while True:
        queued, ok, failed = multi.info_read()
        done = time.monotonic()
        for handle in ok:
            intended, sent, buffer = handle.meta
            status, failure = plan.target.outcome(
                handle.getinfo(pycurl.RESPONSE_CODE), buffer.getvalue()
            )
            sink.completed(intended - t0, sent - t0, done - t0, status=status, failure=failure)
        for handle, errno, _ in failed:
            intended, sent, _ = handle.meta
            failure = _FAILURES.get(errno, f"curl_{errno}")
            sink.completed(intended - t0, sent - t0, done - t0, status=None, failure=failure)
        for handle in (*ok, *(f[0] for f in failed)):
            multi.remove_handle(handle)
            handles.free.append(handle)
        finished += len(ok) + len(failed)
        if not queued:
            return finished


def _pump(multi: Any, pycurl: Any, wait_s: float, active: int) -> None:
    # multi.select returns at once when libcurl has no socket to watch, so with nothing in
    # flight it would spin a core (competing with the server under test); sleep instead.
    # Both wait with microsecond precision, unlike an event loop's millisecond timers.
    if wait_s > 0:
        if active:
            multi.select(min(wait_s, _MAX_WAIT_S))
        else:
            time.sleep(min(wait_s, _MAX_IDLE_S))
    while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
        pass


def _open(
    plan: Plan,
    sink: Sink,
    t0: float,
    pycurl: Any,
    multi: Any,
    handles: _Handles,
    schedule: Iterator[tuple[int, float]],
    stats: GeneratorStats,
) -> None:
    # Requests due while every handle is busy wait here (their latency still counts from their
    # intended start); past the ceiling they are dropped and counted.
    waiting: deque[tuple[int, float]] = deque()
    ceiling = plan.inflight_ceiling(peak_rate(plan.shape))
    active = 0
    upcoming = next(schedule, None)
    deadline = t0 + plan.shape.duration_s + plan.target.timeout_s + 1.0
    while upcoming is not None or waiting or active:
        now = time.monotonic()
        while upcoming is not None and t0 + upcoming[1] <= now:
            index, offset = upcoming
            stats.scheduled += 1
            sink.offered(offset)
            if active + len(waiting) >= ceiling:
                stats.dropped += 1
            else:
                waiting.append((index, t0 + offset))
            upcoming = next(schedule, None)
        while waiting and handles.free:
            index, intended = waiting.popleft()
            stats.record_lag(time.monotonic() - intended)
            stats.sent += 1
            _start(multi, handles, index, intended)
            active += 1
        wait = (t0 + upcoming[1] - time.monotonic()) if upcoming is not None else _MAX_WAIT_S
        _pump(multi, pycurl, wait, active)
        active -= _reap(plan, sink, t0, multi, pycurl, handles)
        if upcoming is None and time.monotonic() > deadline:
            break


def _closed(
    plan: Plan,
    sink: Sink,
    t0: float,
    pycurl: Any,
    multi: Any,
    handles: _Handles,
    stats: GeneratorStats,
) -> None:
    users = len(range(plan.worker, plan.concurrency or 1, plan.workers))
    if users > len(handles.free):
        raise UsageError(f"expected --connections >= closed-loop users but got {users}")
    end = t0 + plan.shape.duration_s
    counter = iter(range(plan.worker, 1 << 62, plan.workers))
    while time.monotonic() < t0:
        time.sleep(min(t0 - time.monotonic(), 0.01))
    active = 0
    while active or time.monotonic() < end:
        while time.monotonic() < end and active < users:
            now = time.monotonic()
            sink.offered(now - t0)
            stats.scheduled += 1
            stats.sent += 1
            stats.record_lag(0.0)
            _start(multi, handles, next(counter), now)
            active += 1
        _pump(multi, pycurl, _MAX_WAIT_S, active)
        active -= _reap(plan, sink, t0, multi, pycurl, handles)
