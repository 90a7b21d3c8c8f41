"""The resilient client: pooled connections, backoff with full jitter, Retry-After, a retry budget.

What it shows: a client that helps an overloaded endpoint recover instead of piling on.

- Connections are pooled (one ``requests.Session`` for every thread; one aiohttp session per
  event loop for ``acall``), so a call costs no handshake.
- Only what a retry can fix is retried: a shed (429), an outage (503, 504), a connection error
  or a timeout. A 400 or a 500 is the same answer the next time, so it is raised at once.
- Waits are exponential with full jitter (tenacity's ``wait_random_exponential``), so clients
  that failed together do not come back together. A ``Retry-After`` (in seconds) is honoured
  when it is at most ``RETRY_AFTER_CAP_S``, with the jitter on top; a longer one ends the call,
  since retrying before the server said to is exactly the load it is shedding.
- A call makes at most ``MAX_ATTEMPTS`` attempts and starts none after ``MAX_TOTAL_S``.
- Retries are paid from a budget shared by every call of the process (``RetryBudget``), so
  when most calls fail, retries stay a fraction of the traffic instead of multiplying it.

``acall`` is the asyncio twin of ``call``; ``await aclose()`` before an event loop ends closes
that loop's session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import requests
from requests.adapters import HTTPAdapter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_random_exponential,
)

from harness.clients.sessions import LoopSessions

__all__ = ["RetryBudget", "acall", "aclose", "call", "reset_budget"]

RETRY_STATUSES = frozenset({429, 503, 504})
MAX_ATTEMPTS = 4
MAX_TOTAL_S = 10.0
RETRY_AFTER_CAP_S = 2.0
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 5.0
POOL_SIZE = 64
# Full-jitter windows of 0.1, 0.2, 0.4 s for the three retries: short next to an outage,
# long next to a request on loopback.
_BACKOFF = wait_random_exponential(multiplier=0.1, max=2.0)


class RetryBudget:
    """Retries as tokens, in the style of Finagle's RetryBudget and gRPC's retry throttling:
    every logical call deposits ``deposit`` tokens up to ``cap``, every retry withdraws one.
    Besides the bucket, ``min_per_s`` retries a second are allowed regardless, so a process
    with little traffic can still retry. The bucket starts full. Its state changes with every
    call; a lock makes it safe from any thread and any event loop."""

    def __init__(
        self,
        *,
        deposit: float = 0.2,
        cap: float = 20.0,
        min_per_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (("deposit", deposit), ("cap", cap), ("min_per_s", min_per_s)):
            if value < 0:
                raise ValueError(f"expected {name} >= 0 but got {name}={value!r}")
        self._deposit, self._cap, self._min_per_s, self._clock = deposit, cap, min_per_s, clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to a full bucket and a full second of minimum retries."""
        with self._lock:
            self._tokens = self._cap
            self._floor = self._min_per_s
            self._floor_at = self._clock()

    def on_call(self) -> None:
        """A logical call started: it earns a fraction of a retry."""
        with self._lock:
            self._tokens = min(self._cap, self._tokens + self._deposit)

    def try_retry(self) -> bool:
        """Whether a retry may go ahead; if so, it is paid for."""
        with self._lock:
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            now = self._clock()
            refill = (now - self._floor_at) * self._min_per_s
            self._floor = min(max(self._min_per_s, 1.0), self._floor + refill)
            self._floor_at = now
            if self._floor >= 1:
                self._floor -= 1
                return True
            return False


_BUDGET = RetryBudget()


def reset_budget() -> None:
    """Refill the process's retry budget (for tests: no run inherits an earlier run's debt)."""
    _BUDGET.reset()


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status
    return None


def _retryable(exc: BaseException) -> bool:
    status = _status(exc)
    if status is not None:
        return status in RETRY_STATUSES
    # ChunkedEncodingError and ClientPayloadError: the connection broke in the middle of a body.
    return isinstance(
        exc,
        requests.ConnectionError
        | requests.Timeout
        | requests.exceptions.ChunkedEncodingError
        | aiohttp.ClientConnectionError
        | aiohttp.ClientPayloadError
        | TimeoutError,
    )


def _retry_after_s(exc: BaseException | None) -> float | None:
    headers: Any = None
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        headers = exc.response.headers
    elif isinstance(exc, aiohttp.ClientResponseError):
        headers = exc.headers
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date, or junk: the backoff alone decides
        return None


def _wait(state: RetryCallState) -> float:
    jitter = _BACKOFF(state)
    retry_after = _retry_after_s(state.outcome.exception() if state.outcome else None)
    return jitter if retry_after is None else retry_after + jitter


def _stop(state: RetryCallState) -> bool:
    retry_after = _retry_after_s(state.outcome.exception() if state.outcome else None)
    return (
        state.attempt_number >= MAX_ATTEMPTS
        or (state.seconds_since_start or 0.0) + state.upcoming_sleep > MAX_TOTAL_S
        or (retry_after is not None and retry_after > RETRY_AFTER_CAP_S)
        # Last, because asking pays: only a retry that will happen spends a token.
        or not _BUDGET.try_retry()
    )


def _policy() -> dict[str, Any]:
    # reraise: the caller sees the last attempt's own error, never tenacity's RetryError.
    return {"stop": _stop, "wait": _wait, "retry": retry_if_exception(_retryable), "reraise": True}


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# Shared by every thread: urllib3's pool is thread-safe, and the calls set no cookies.
_SESSION = _pooled_session()


def _post(url: str, payload: dict[str, Any]) -> Any:
    response = _SESSION.post(url, json=payload, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    response.raise_for_status()
    return response.json()


def call(url: str, payload: dict[str, Any]) -> Any:
    """POST ``payload`` as JSON, retrying what a retry can fix within the budget; the decoded
    answer, or the last attempt's error."""
    _BUDGET.on_call()
    return Retrying(**_policy())(_post, url, payload)


_ASYNC_SESSIONS = LoopSessions(
    pool_size=POOL_SIZE, connect_s=CONNECT_TIMEOUT_S, read_s=READ_TIMEOUT_S
)


async def _apost(url: str, payload: dict[str, Any]) -> Any:
    async with _ASYNC_SESSIONS.get().post(url, json=payload) as response:
        response.raise_for_status()
        return await response.json(content_type=None)


async def acall(url: str, payload: dict[str, Any]) -> Any:
    """``call`` for asyncio, on the running loop's pooled session."""
    _BUDGET.on_call()
    return await AsyncRetrying(**_policy())(_apost, url, payload)


async def aclose() -> None:
    """Close the running loop's session, if ``acall`` opened one."""
    await _ASYNC_SESSIONS.aclose()
