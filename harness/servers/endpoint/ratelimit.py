"""The front door's requests-per-second limit, as a platform applies it per endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Refills `rate` tokens per second up to `burst`; each admitted request takes one.

    The burst is one second's worth, so a limit of 200 QPS admits 200 requests at once after a
    quiet second, as a platform's per-second quota would.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"expected rate > 0 but got rate={rate}")
        self.rate = rate
        self.burst = max(1.0, rate)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()

    def take(self) -> float:
        """Take a token; returns 0.0 on success, else the seconds until one will be there."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate
