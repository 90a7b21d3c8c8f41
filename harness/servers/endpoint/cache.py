"""A TTL cache of upstream answers with single-flight loading.

Single-flight means concurrent misses for one key share one upstream call, so an expiring hot
key does not send a stampede of identical calls to a struggling upstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["MAX_ENTRIES", "LookupCache", "V"]

V = TypeVar("V")

# Bounds memory under a keyspace scan; the oldest entry goes first.
MAX_ENTRIES = 100_000


class LookupCache(Generic[V]):
    """`ttl_s=0` turns the cache off, single-flight included, so every lookup calls upstream;
    `single_flight=False` keeps the cache but lets every miss call upstream.

    `record` is told "hit", "miss" or "shared" (a miss that joined a call already in flight).
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        single_flight: bool,
        record: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.single_flight = single_flight
        self._record = record
        self._clock = clock
        self._entries: dict[str, tuple[float, V]] = {}
        self._flights: dict[str, asyncio.Task[V]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        if self.ttl_s <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            self._record("hit")
            return entry[1]
        if not self.single_flight:
            self._record("miss")
            return self._store(key, await load())
        flight = self._flights.get(key)
        if flight is None:
            self._record("miss")
            flight = asyncio.ensure_future(self._load(key, load))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._land(key, done))
        else:
            self._record("shared")
        # The flight belongs to every caller waiting on it: one caller leaving must not end it.
        return await asyncio.shield(flight)

    async def _load(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        return self._store(key, await load())

    def _land(self, key: str, flight: asyncio.Task[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            # Retrieved here so a flight whose callers all left logs no "never retrieved".
            flight.exception()

    def _store(self, key: str, value: V) -> V:
        if self.ttl_s > 0:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock() + self.ttl_s, value)
            if len(self._entries) > MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
        return value
