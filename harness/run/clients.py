"""A client under test driven open loop: the user's callable called once per arrival of the
scenario's shape, each call's outcome recorded from its intended start.

A callable that returns an iterator (or async iterator) of chunks, as a streaming client does
(an OpenAI SDK's ``stream=True``, or an SSE reader of one's own), or that is an async generator,
is consumed by the harness, which times each chunk as it comes: the first chunk is the first
token, every gap an inter-token gap, and an exception before the end a cut stream; the call
ends when its iterator does.

Async callables run as tasks on the runner's event loop; sync ones on daemon threads, at most
``max_in_flight`` at once (a call that would exceed it is dropped and counted, never delayed).
A call still running ``timeout_s`` after its intended start is recorded as a ``timeout``; a
sync call that never returns keeps its thread, which cannot block the harness's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import itertools
import json
import queue
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from harness.loadgen.payloads import RecordsBody
from harness.loadgen.recorder import Recorder
from harness.loadgen.shapes import Shape
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.streams import StreamSlo, StreamTimes
from harness.scenario.clients import ClientCallable
from harness.servers.front.ledger import CALL_PREFIX as TAG

__all__ = ["CALL_PREFIX", "ClientRun", "drive_client", "outcome_of", "payloads_for"]

# What the harness puts before the endpoint's path in each call's URL, so the HTTP fault layer
# can tie every attempt to its logical call (and strips it before forwarding).
CALL_PREFIX = TAG.decode()
_MESSAGES_PER_CLASS = 3
_SUCCESS = 200


@dataclass(slots=True)
class ClientRun:
    """What driving the client produced besides the recorded outcomes."""

    stats: GeneratorStats = field(default_factory=GeneratorStats)
    calls: int = 0
    in_flight: int = 0
    # Indexes of the calls that succeeded, for the cache hit rate.
    succeeded: list[int] = field(default_factory=list)
    # A few messages per failure class, for the report.
    messages: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def note(self, failure: str, message: str) -> None:
        seen = self.messages[failure]
        if len(seen) < _MESSAGES_PER_CLASS and message not in seen:
            seen.append(message[:300])


def outcome_of(exc: BaseException) -> tuple[int | None, str]:
    """The HTTP status an exception carries, where it carries one, and its class name: the
    requests/httpx ``.response.status_code``, aiohttp's ``.status``, urllib's ``.code``."""
    for candidate in (
        getattr(getattr(exc, "response", None), "status_code", None),
        getattr(exc, "status", None),
        getattr(exc, "status_code", None),
        getattr(exc, "code", None),
    ):
        if (
            isinstance(candidate, int)
            and not isinstance(candidate, bool)
            and 100 <= candidate < 600
        ):
            return candidate, type(exc).__name__
    return None, type(exc).__name__


def payloads_for(
    body: bytes | None, records: int, keyspace: int, samples: Sequence[bytes] = ()
) -> Callable[[int], Any]:
    """Call ``i``'s payload: the scenario's samples in turn, its own body, or MLflow records as
    the raw engine sends."""
    if samples:
        return lambda index: json.loads(samples[index % len(samples)])
    if body is not None:
        fixed = json.loads(body)
        return lambda index: json.loads(json.dumps(fixed))
    rows = RecordsBody(records, keyspace)
    return lambda index: json.loads(rows(index))


async def drive_client(
    function: ClientCallable,
    shape: Shape,
    recorder: Recorder,
    *,
    t0: float,
    url_for: Callable[[int], str],
    payload_for: Callable[[int], Any],
    max_in_flight: int,
    timeout_s: float,
    slo: StreamSlo | None = None,
) -> ClientRun:
    """Call ``function`` on ``shape``'s schedule from ``t0``; returns when every call ended or
    timed out. ``slo``: what a streamed call must meet to count towards goodput."""
    run = ClientRun()
    loop = asyncio.get_running_loop()
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    threads = None if is_async else _Threads(function, max_in_flight)
    objectives = slo or StreamSlo()
    pending: set[asyncio.Future[None]] = set()

    try:
        for index, offset in enumerate(shape.offsets()):
            delay = t0 + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            run.stats.scheduled += 1
            recorder.offered(offset)
            if run.in_flight >= max_in_flight:
                run.stats.dropped += 1
                continue
            run.stats.record_lag(max(time.monotonic() - (t0 + offset), 0.0))
            run.stats.sent += 1
            run.in_flight += 1
            sent = time.monotonic() - t0
            call = _Call(recorder, run, index, offset, sent, t0, loop.create_future(), objectives)
            url, payload = url_for(index), payload_for(index)
            if threads is not None:
                threads.submit(url, payload, t0 + offset, _from_thread(loop, call))
            else:
                task = asyncio.ensure_future(_call_async(function, url, payload, t0 + offset))
                task.add_done_callback(call.finish_task)
            expired = (None, "timeout", f"no answer within {timeout_s:g}s", None)
            call.timer = loop.call_at(
                loop.time() + max(t0 + offset + timeout_s - time.monotonic(), 0.0),
                partial(call.finish, expired),
            )
            done = call.done
            done.add_done_callback(lambda _: _left(run))
            pending.add(done)
            done.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(set(pending))
    finally:
        run.calls = run.stats.sent
        if threads is not None:
            threads.close()
        if is_async:
            await _close_module(function)
    return run


def _from_thread(loop: asyncio.AbstractEventLoop, call: _Call) -> Callable[[Outcome], None]:
    """How a thread hands a call's outcome to the loop that records it."""

    def report(result: Outcome) -> None:
        # A call that outlived its run (recorded as a timeout) has no loop to report to.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(call.finish, result)

    return report


def _left(run: ClientRun) -> None:
    run.in_flight -= 1


# Status, failure, message, and how a streamed answer's chunks came (None: not a stream).
Outcome = tuple[int | None, str | None, str, StreamTimes | None]


@dataclass(slots=True)
class _Call:
    """One logical call: recorded once, by whichever comes first, its end or its timeout."""

    recorder: Recorder
    run: ClientRun
    index: int
    offset: float
    sent: float
    t0: float
    done: asyncio.Future[None]
    slo: StreamSlo
    timer: asyncio.TimerHandle | None = None

    def finish(self, result: Outcome) -> None:
        if self.done.done():
            return
        if self.timer is not None:
            # Cancelled at once, so a finished call is not kept until its timeout.
            self.timer.cancel()
        status, failure, message, times = result
        if times is not None:
            good = status is not None and status < 400 and self.slo.met(times)
            self.recorder.streamed(self.offset, times, good)
        if status is None and failure is not None:
            self.run.note(failure, message)
        elif status is not None and status >= 400:
            self.run.note(str(status), message)
        elif status is not None:
            self.run.succeeded.append(self.index)
        done_at = time.monotonic() - self.t0
        self.recorder.completed(
            self.offset, self.sent, done_at, status=status, failure=None if status else failure
        )
        self.done.set_result(None)

    def finish_task(self, task: asyncio.Future[Outcome]) -> None:
        self.finish(_task_result(task))


async def _call_async(function: ClientCallable, url: str, payload: Any, intended: float) -> Outcome:
    chunks: _Chunks | None = None
    try:
        result = function(url, payload)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, AsyncIterator):
            chunks = _Chunks(intended)
            async for _ in result:
                chunks.arrived()
        elif isinstance(result, Iterator):
            chunks = _Chunks(intended)
            for _ in result:
                chunks.arrived()
    except Exception as exc:  # the user's client failing is what is measured
        return _failed(exc, chunks)
    return _SUCCESS, None, "", None if chunks is None else chunks.times(complete=True)


def _task_result(task: asyncio.Future[Any]) -> Outcome:
    if task.cancelled():
        return None, "cancelled", "the call was cancelled", None
    result: Outcome = task.result()
    return result


def _call_sync(function: ClientCallable, url: str, payload: Any, intended: float) -> Outcome:
    chunks: _Chunks | None = None
    try:
        result = function(url, payload)
        if isinstance(result, Iterator):
            chunks = _Chunks(intended)
            for _ in result:
                chunks.arrived()
    except Exception as exc:  # the user's client failing is what is measured
        return _failed(exc, chunks)
    return _SUCCESS, None, "", None if chunks is None else chunks.times(complete=True)


def _failed(exc: Exception, chunks: _Chunks | None) -> Outcome:
    status, name = outcome_of(exc)
    times = None if chunks is None else chunks.times(complete=False)
    return status, None if status is not None else name, f"{name}: {exc}", times


class _Chunks:
    """When each chunk of a streamed answer reached the client's caller."""

    def __init__(self, intended: float) -> None:
        self._intended = intended
        self._arrivals: list[float] = []

    def arrived(self) -> None:
        self._arrivals.append(time.monotonic())

    def times(self, *, complete: bool) -> StreamTimes:
        arrivals, intended = self._arrivals, self._intended
        first = arrivals[0] - intended if arrivals else None
        return StreamTimes(
            first_byte_s=first,
            first_token_s=first,
            gaps_s=tuple(b - a for a, b in itertools.pairwise(arrivals)),
            tokens=len(arrivals),
            complete=complete,
            total_s=time.monotonic() - intended,
        )


async def _close_module(function: ClientCallable) -> None:
    """An async client's module may define ``aclose()``: awaited on the run's loop, so
    sessions bound to that loop close with it."""
    module = importlib.import_module(getattr(function, "__module__", "") or "builtins")
    close = getattr(module, "aclose", None)
    if inspect.iscoroutinefunction(close):
        await close()


class _Threads:
    """Daemon threads calling a sync client, started as needed up to ``limit``."""

    def __init__(self, function: ClientCallable, limit: int) -> None:
        self._function = function
        self._limit = limit
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def submit(
        self, url: str, payload: Any, intended: float, report: Callable[[Outcome], None]
    ) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            elif len(self._threads) < self._limit:
                thread = threading.Thread(target=self._serve, daemon=True, name="client-call")
                self._threads.append(thread)
                thread.start()
        self._work.put((url, payload, intended, report))

    def _serve(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            url, payload, intended, report = item
            report(_call_sync(self._function, url, payload, intended))
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        for _ in self._threads:
            self._work.put(None)
