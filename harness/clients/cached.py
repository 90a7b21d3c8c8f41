"""The caching client: answers a payload seen in the last ``TTL_S`` seconds from memory, and
asks ``resilient.call`` otherwise.

What it shows: how much of the load a client can take off an endpoint when callers repeat
themselves, and what a cache hides (a hit succeeds however sick the endpoint is). The key is
the payload's canonical JSON, never the URL, which differs per call. The cache holds at most
``MAX_ENTRIES`` answers, dropping the least recently used first; failures are not cached.
There is no single-flight: concurrent misses on one payload each call the endpoint.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from harness.clients import resilient

__all__ = ["TTLCache", "call", "clear_cache"]

TTL_S = 30.0
MAX_ENTRIES = 10_000


class TTLCache:
    """A bounded map whose entries expire ``ttl_s`` after they were put; safe from any thread.
    Its contents change with every call."""

    def __init__(
        self,
        *,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"expected max_entries >= 1 but got max_entries={max_entries!r}")
        self._ttl_s, self._max_entries, self._clock = ttl_s, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` for a live entry, ``(False, None)`` otherwise."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if entry[0] <= self._clock():
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, entry[1]

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = TTLCache()


def clear_cache() -> None:
    """Forget every cached answer (for tests: no test sees an earlier test's answers)."""
    _CACHE.clear()


def call(url: str, payload: dict[str, Any]) -> Any:
    """The answer to ``payload``: from the cache while fresh, else from ``resilient.call``."""
    key = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    hit, value = _CACHE.get(key)
    if not hit:
        value = resilient.call(url, payload)
        _CACHE.put(key, value)
    # A copy each time: a caller changing its answer must not change the next caller's.
    return copy.deepcopy(value)
