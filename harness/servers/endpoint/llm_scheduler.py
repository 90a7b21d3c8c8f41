"""Sequence capacity of the LLM mode: a number of sequences generating at once and a KV-cache
budget in tokens, in front of a bounded FIFO queue, as vLLM's and TGI's schedulers admit work."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = ["SequenceScheduler", "SequenceWaitTimeout", "SequencesFull"]


class SequencesFull(Exception):
    """No sequence or KV cache is free and the queue holds its limit."""


class SequenceWaitTimeout(Exception):
    """The caller waited for a sequence longer than the queue timeout allows."""


# Compared by identity: two waiters for the same size are still two callers.
@dataclass(slots=True, eq=False)
class _Waiter:
    tokens: int
    future: asyncio.Future[None]


class SequenceScheduler:
    """Running sequences and the queue of requests waiting to start one.

    A sequence reserves its prompt plus its `max_tokens` of the KV cache for as long as it
    runs (no preemption, no paging: the budget is what could be needed, not what is used so
    far). The queue is strictly first come, first served: a request at its head that needs
    more cache than is free holds back smaller ones behind it, as vLLM's FCFS policy does.
    """

    def __init__(
        self,
        max_sequences: int,
        *,
        kv_cache_tokens: int = 0,
        max_waiting: int = 0,
        queue_timeout_s: float = 0.0,
    ) -> None:
        if max_sequences < 1:
            raise ValueError(f"expected max_sequences >= 1 but got max_sequences={max_sequences}")
        if kv_cache_tokens < 0:
            raise ValueError(
                f"expected kv_cache_tokens >= 0 but got kv_cache_tokens={kv_cache_tokens}"
            )
        if max_waiting < 0:
            raise ValueError(f"expected max_waiting >= 0 but got max_waiting={max_waiting}")
        self.max_sequences = max_sequences
        self.kv_cache_tokens = kv_cache_tokens
        self.max_waiting = max_waiting
        self.queue_timeout_s = queue_timeout_s
        self._running = 0
        self._kv_used = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def kv_used(self) -> int:
        """KV-cache tokens reserved by running sequences."""
        return self._kv_used

    def fits(self, tokens: int) -> bool:
        """Whether a sequence of ``tokens`` could ever run (0 is no budget)."""
        return self.kv_cache_tokens == 0 or tokens <= self.kv_cache_tokens

    @asynccontextmanager
    async def sequence(self, tokens: int) -> AsyncIterator[None]:
        """Hold a sequence of ``tokens`` KV-cache tokens for the body of the `async with`."""
        await self.admit(tokens)
        try:
            yield
        finally:
            self.release(tokens)

    def try_admit(self, tokens: int) -> bool:
        """Start a sequence if there is room now; the caller must `release` it once done."""
        # Newcomers never overtake the queue, even when room has just come free.
        if not self._waiters and self._room(tokens):
            self._take(tokens)
            return True
        return False

    async def admit(self, tokens: int) -> None:
        """Start a sequence, queueing for room; the caller must `release` it afterwards.

        Raises SequencesFull without waiting, or SequenceWaitTimeout after waiting
        `queue_timeout_s`; raises ValueError for a sequence larger than the whole KV cache.
        """
        if not self.fits(tokens):
            raise ValueError(
                f"expected at most kv_cache_tokens={self.kv_cache_tokens} but got {tokens=}"
            )
        if self.try_admit(tokens):
            return
        if len(self._waiters) >= self.max_waiting:
            raise SequencesFull
        waiter = _Waiter(tokens, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            if self.queue_timeout_s > 0:
                async with asyncio.timeout(self.queue_timeout_s):
                    await waiter.future
            else:
                await waiter.future
        except TimeoutError:
            self._abandon(waiter)
            raise SequenceWaitTimeout from None
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise

    def release(self, tokens: int) -> None:
        """End a sequence started with `admit` or `try_admit`."""
        self._running -= 1
        self._kv_used -= tokens
        self._dispatch()

    def _room(self, tokens: int) -> bool:
        if self._running >= self.max_sequences:
            return False
        return self.kv_cache_tokens == 0 or self._kv_used + tokens <= self.kv_cache_tokens

    def _take(self, tokens: int) -> None:
        self._running += 1
        self._kv_used += tokens

    def _abandon(self, waiter: _Waiter) -> None:
        if waiter.future.done() and not waiter.future.cancelled():
            # Room was handed over just as the caller went away: give it back.
            self.release(waiter.tokens)
        elif waiter in self._waiters:
            self._waiters.remove(waiter)
            # The head may have been what held the rest back.
            self._dispatch()

    def _dispatch(self) -> None:
        # Hand room straight to the oldest waiters so nobody can slip in between.
        while self._waiters and self._room(self._waiters[0].tokens):
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_result(None)
                self._take(waiter.tokens)
