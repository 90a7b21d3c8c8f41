"""Provisioned concurrency: a number of slots, each serving one request at a time, in front of
a bounded FIFO queue that turns callers away at once when it is full."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["Admission", "QueueFull", "QueueTimeout"]


class QueueFull(Exception):
    """Every slot is busy and the queue holds its limit; the caller should be turned away."""


class QueueTimeout(Exception):
    """The caller waited in the queue longer than the queue timeout allows."""


class Admission:
    """Slots and the queue in front of them; the capacity may change while requests run.

    A shrink never interrupts running requests: surplus slots retire as their holders finish.
    """

    def __init__(self, concurrency: int, max_queue: int, *, queue_timeout_s: float = 0.0) -> None:
        if concurrency < 0:
            raise ValueError(f"expected concurrency >= 0 but got concurrency={concurrency}")
        if max_queue < 0:
            raise ValueError(f"expected max_queue >= 0 but got max_queue={max_queue}")
        self.concurrency = concurrency
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self._busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    @property
    def inflight(self) -> int:
        return self._busy

    def resize(self, concurrency: int) -> None:
        """Change the number of slots; new ones go to waiting callers at once."""
        if concurrency < 0:
            raise ValueError(f"expected concurrency >= 0 but got concurrency={concurrency}")
        self.concurrency = concurrency
        self._dispatch()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """Hold one slot for the body of the `async with`.

        Raises QueueFull without waiting, or QueueTimeout after waiting `queue_timeout_s`.
        """
        await self.enter()
        try:
            yield
        finally:
            self.leave()

    def try_enter(self) -> bool:
        """Take a slot if one is free now; the caller must `leave` once done with it."""
        # Newcomers never overtake the queue, even when a slot has just come free.
        if self._busy < self.concurrency and not self._waiters:
            self._busy += 1
            return True
        return False

    async def enter(self) -> None:
        """Take a slot, queueing for it if none is free; the caller must `leave` afterwards.

        Raises QueueFull without waiting, or QueueTimeout after waiting `queue_timeout_s`.
        """
        if self.try_enter():
            return
        if len(self._waiters) >= self.max_queue:
            raise QueueFull
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if self.queue_timeout_s > 0:
                async with asyncio.timeout(self.queue_timeout_s):
                    await waiter
            else:
                await waiter
        except TimeoutError:
            self._abandon(waiter)
            raise QueueTimeout from None
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise

    def leave(self) -> None:
        """Give back a slot taken with `enter` or `try_enter`."""
        self._busy -= 1
        # With nobody waiting there is nothing to hand over: the common case skips the call.
        if self._waiters:
            self._dispatch()

    def _abandon(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done() and not waiter.cancelled():
            # The slot was handed over just as the caller went away: pass it on.
            self.leave()
        elif waiter in self._waiters:
            # A dispatch may already have dropped the cancelled waiter from the queue.
            self._waiters.remove(waiter)

    def _dispatch(self) -> None:
        # Hand free slots straight to the oldest waiters so nobody can slip in between.
        while self._busy < self.concurrency and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._busy += 1
