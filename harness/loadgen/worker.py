"""The asyncio engine: aiohttp requests started on schedule, or by closed-loop users.

Open loop never waits for an answer before starting the next request; a request whose turn
comes while ``ceiling`` others are outstanding is dropped and counted, so memory stays bounded
and the generator does not quietly turn into a closed loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp

from harness.errors import UsageError
from harness.loadgen.engine import Plan, Sink
from harness.loadgen.shapes import peak_rate, take_share
from harness.loadgen.stats import GeneratorStats
from harness.loadgen.streams import StreamReader

__all__ = ["run_closed", "run_open", "run_plan"]

# The shortest sleep asked of the event loop: its timers tick in whole milliseconds, so a
# shorter one would be rounded to zero (libuv) and spin, or to 1 ms anyway (epoll).
_MIN_SLEEP_S = 0.001


def _failure_name(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    # A body broken off part way (ClientPayloadError) is a connection failure too, as the
    # other engines name it.
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return "connection"
    return type(exc).__name__


def _session(plan: Plan) -> aiohttp.ClientSession:
    target = plan.target
    connector = aiohttp.TCPConnector(limit=target.max_connections, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=target.timeout_s),
        headers={"Content-Type": target.content_type},
        skip_auto_headers=("User-Agent",),
    )


def _sender(
    session: aiohttp.ClientSession, plan: Plan, sink: Sink, t0: float
) -> Callable[[int, float], Coroutine[Any, Any, None]]:
    target = plan.target
    streamed = getattr(sink, "streamed", None) if target.stream else None
    if target.stream and streamed is None:
        raise UsageError(
            "streamed answers need a recorder that takes their token timings (in-process or "
            "worker processes)"
        )

    async def send(index: int, intended: float) -> None:
        payload = target.body(index)
        received: int | None = None
        reader = StreamReader(intended) if streamed is not None else None
        sent = time.monotonic()
        try:
            async with session.request(target.method, target.url, data=payload or None) as answer:
                if reader is None:
                    body = await answer.read()
                else:
                    body = await _read_stream(answer, reader)
            received = reader.bytes if reader is not None else len(body)
            status, failure = target.outcome(answer.status, body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            status, failure = None, _failure_name(exc)
        if reader is not None and streamed is not None:
            times = reader.times()
            if status is not None and 200 <= status < 300 and not times.complete:
                # A stream that ended without [DONE] or a final event was cut short.
                status, failure = None, "stream_cut"
            good = status is not None and status < 400 and target.slo.met(times)
            streamed(intended - t0, times, good)
        sink.completed(
            intended - t0,
            sent - t0,
            time.monotonic() - t0,
            status=status,
            failure=failure,
            request_bytes=len(payload),
            response_bytes=received,
        )

    return send


async def _read_stream(answer: aiohttp.ClientResponse, reader: StreamReader) -> bytes:
    """A 2xx streamed answer fed to ``reader`` as it arrives (nothing kept); any other answer
    read whole, as its error body."""
    if not 200 <= answer.status < 300:
        body = await answer.read()
        reader.feed(body, time.monotonic())
        return body
    async for chunk in answer.content.iter_any():
        reader.feed(chunk, time.monotonic())
    return b""


async def run_open(
    plan: Plan, sink: Sink, t0: float, pending: set[asyncio.Task[None]]
) -> GeneratorStats:
    stats = GeneratorStats()
    ceiling = plan.inflight_ceiling(peak_rate(plan.shape))
    async with _session(plan) as session:
        send = _sender(session, plan, sink, t0)
        for index, offset in take_share(plan.shape.offsets(), plan.worker, plan.workers):
            intended = t0 + offset
            await _until(intended)
            stats.scheduled += 1
            sink.offered(offset)
            if len(pending) >= ceiling:
                stats.dropped += 1
                continue
            stats.record_lag(time.monotonic() - intended)
            task = asyncio.create_task(send(index, intended))
            pending.add(task)
            task.add_done_callback(pending.discard)
            stats.sent += 1
        await _finish(pending, plan.target.timeout_s)
    return stats


async def run_closed(
    plan: Plan, sink: Sink, t0: float, pending: set[asyncio.Task[None]]
) -> GeneratorStats:
    """``concurrency`` users, this worker's share of them, each in a send-wait loop."""
    stats = GeneratorStats()
    users = len(range(plan.worker, plan.concurrency or 1, plan.workers))
    end = t0 + plan.shape.duration_s
    counter = iter(range(plan.worker, 1 << 62, plan.workers))
    async with _session(plan) as session:
        send = _sender(session, plan, sink, t0)

        async def user() -> None:
            delay = t0 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            while (now := time.monotonic()) < end:
                # Closed loop's "intended" start is whenever the previous answer came back.
                sink.offered(now - t0)
                stats.scheduled += 1
                stats.sent += 1
                stats.record_lag(0.0)
                await send(next(counter), now)

        for _ in range(users):
            task = asyncio.create_task(user())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await _finish(pending, plan.shape.duration_s + plan.target.timeout_s)
    return stats


async def _until(when: float) -> None:
    # Sleep the whole way: a timer is at most ~1 ms late, inside the 2 ms lag budget. Waking
    # early and yielding until the mark spun a core for the last millisecond before every
    # request, which at a few hundred requests/s took most of a core from the server under test
    # and made the lag worse, not better. Requests already due start without yielding, so at
    # high rates one wake-up starts a whole batch.
    while True:
        remaining = when - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(max(remaining, _MIN_SLEEP_S))


async def _finish(pending: set[asyncio.Task[None]], grace_s: float) -> None:
    # Bounded in time: stragglers get one timeout's grace after the last send, then are cancelled.
    if not pending:
        return
    _, late = await asyncio.wait(set(pending), timeout=grace_s + 1.0)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)


async def run_plan(
    plan: Plan, sink: Sink, t0: float, pending: set[asyncio.Task[None]] | None = None
) -> GeneratorStats:
    """Run ``plan`` from monotonic time ``t0``; ``pending`` lets a caller watch the in-flight."""
    tasks = pending if pending is not None else set()
    if plan.open_loop:
        return await run_open(plan, sink, t0, tasks)
    return await run_closed(plan, sink, t0, tasks)
