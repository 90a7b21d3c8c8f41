"""Server-side dynamic batching: requests that arrive close together share one model call,
so the fixed cost of a call is paid once per batch instead of once per request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from harness.servers.endpoint.records import Record

__all__ = ["Batcher", "Execute", "Vectors"]

Vectors = Sequence[Sequence[float]]
Execute = Callable[[list[Record], list[Sequence[float]]], Awaitable[list[float]]]


@dataclass(slots=True)
class _Job:
    records: list[Record]
    vectors: Vectors
    done: asyncio.Future[list[float]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher:
    """Runs a batch when `max_size` requests wait or the oldest has waited `max_delay_s`."""

    def __init__(self, max_size: int, max_delay_s: float, execute: Execute) -> None:
        if max_size < 1:
            raise ValueError(f"expected max_size >= 1 but got max_size={max_size}")
        self.max_size = max_size
        self.max_delay_s = max_delay_s
        self._execute = execute
        self._pending: list[_Job] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, records: list[Record], vectors: Vectors) -> list[float]:
        job = _Job(records, vectors)
        self._pending.append(job)
        if len(self._pending) >= self.max_size:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_delay_s, self._flush)
        try:
            return await job.done
        finally:
            # A caller that went away before its batch formed must not be scored.
            if job in self._pending:
                self._pending.remove(job)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending[: self.max_size], self._pending[self.max_size :]
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        if self._pending:
            self._timer = asyncio.get_running_loop().call_later(self.max_delay_s, self._flush)

    async def _run(self, batch: list[_Job]) -> None:
        records = [record for job in batch for record in job.records]
        vectors = [vector for job in batch for vector in job.vectors]
        try:
            predictions = await self._execute(records, vectors)
        except Exception as exc:
            for job in batch:
                if not job.done.done():
                    job.done.set_exception(exc)
            return
        start = 0
        for job in batch:
            end = start + len(job.records)
            if not job.done.done():
                job.done.set_result(predictions[start:end])
            start = end
