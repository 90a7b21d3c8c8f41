"""Provisioned concurrency: a fixed number of units, each serving one request at a time,
in front of a bounded FIFO queue that turns callers away at once when it is full."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class QueueFull(Exception):
    """Every unit is busy and the queue holds its limit; the caller should be turned away."""


class Admission:
    def __init__(self, concurrency: int, max_queue: int) -> None:
        if concurrency < 1:
            raise ValueError(f"expected concurrency >= 1 but got concurrency={concurrency}")
        if max_queue < 0:
            raise ValueError(f"expected max_queue >= 0 but got max_queue={max_queue}")
        self.concurrency = concurrency
        self.max_queue = max_queue
        self._free = concurrency
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    @property
    def inflight(self) -> int:
        return self.concurrency - self._free

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """Hold one unit for the body of the `async with`; raises QueueFull without waiting."""
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        # Newcomers never overtake the queue, even when a unit has just come free.
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        if len(self._waiters) >= self.max_queue:
            raise QueueFull
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The unit was handed over just as the caller went away: pass it on.
                self._release()
            elif waiter in self._waiters:
                # A release may already have dropped the cancelled waiter from the queue.
                self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        # Hand the unit straight to the oldest waiter so nobody can slip in between.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
