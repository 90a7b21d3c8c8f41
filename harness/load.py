"""Open-loop constant-rate load: requests start on schedule whether or not earlier ones finished.

Latency is measured from each request's *intended* start, so a stalled server cannot hide behind
a generator that waited for it (coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from hdrh.histogram import HdrHistogram

from harness.recorder import Recorder, new_histogram
from harness.scenario import LoadSpec

BodyFactory = Callable[[int], bytes]


def records_body(records_per_request: int, keyspace: int) -> BodyFactory:
    """Request ``i`` carries ``records_per_request`` records; entity keys cycle the keyspace."""

    def body(i: int) -> bytes:
        first = i * records_per_request
        records = [
            {"entity_id": f"user-{(first + k) % keyspace}", "amount": float((first + k) % 97)}
            for k in range(records_per_request)
        ]
        return json.dumps({"dataframe_records": records}).encode()

    return body


@dataclass(slots=True)
class GeneratorStats:
    """How well the generator kept its own schedule."""

    scheduled: int
    sent: int
    dropped: int
    lag: HdrHistogram

    @property
    def lag_p99_ms(self) -> float:
        return self.lag.get_value_at_percentile(99) / 1000.0 if self.sent else 0.0

    def to_json(self) -> dict[str, float | int]:
        return {
            "scheduled": self.scheduled,
            "sent": self.sent,
            "dropped": self.dropped,
            "lag_p99_ms": round(self.lag_p99_ms, 3),
        }


def _failure_name(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return "connection"
    return type(exc).__name__


async def run_open_loop(
    url: str,
    spec: LoadSpec,
    recorder: Recorder,
    *,
    body: BodyFactory,
    t0: float,
    max_inflight: int | None = None,
) -> GeneratorStats:
    """Send ``rate x duration`` requests to ``url`` on schedule from monotonic time ``t0``.

    Bounded in count (the schedule) and in time (each request's timeout; stragglers are
    cancelled ``timeout_s`` after the last send). Past ``max_inflight`` outstanding requests a
    scheduled request is dropped and counted, never queued behind the others.
    """
    total = max(int(spec.rate * spec.duration_s), 1)
    interval = 1.0 / spec.rate
    ceiling = max_inflight or max(int(spec.rate * spec.timeout_s) + 1, 1)
    lag = new_histogram()
    stats = GeneratorStats(scheduled=total, sent=0, dropped=0, lag=lag)
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    connector = aiohttp.TCPConnector(limit=spec.max_connections, force_close=False)
    headers = {"Content-Type": "application/json"}
    pending: set[asyncio.Task[None]] = set()

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(intended: float, payload: bytes) -> None:
            sent = time.monotonic()
            try:
                async with session.post(url, data=payload, headers=headers) as response:
                    await response.read()
                    status: int | None = response.status
                    failure = None
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, failure = None, _failure_name(exc)
            done = time.monotonic()
            recorder.completed(intended - t0, sent - t0, done - t0, status=status, failure=failure)

        for i in range(total):
            intended = t0 + i * interval
            delay = intended - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            recorder.offered(intended - t0)
            if len(pending) >= ceiling:
                stats.dropped += 1
                continue
            lag.record_value(max(int((time.monotonic() - intended) * 1_000_000), 1))
            task = asyncio.create_task(one(intended, body(i)))
            pending.add(task)
            task.add_done_callback(pending.discard)
            stats.sent += 1
        if pending:
            _, late = await asyncio.wait(pending, timeout=spec.timeout_s + 1.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
    return stats
