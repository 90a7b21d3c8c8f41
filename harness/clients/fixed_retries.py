"""The retry storm: a pooled client that retries every failure at once, three times.

What it shows: immediate retries without backoff or a budget multiply the load on an endpoint
exactly when it is shedding (429) or down (503/504): every failing call becomes four requests
back to back, so an overload feeds itself. Connections are pooled, so the only thing wrong is
the retry policy.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

__all__ = ["call"]

ATTEMPTS = 4
# Bounded even without a wait: no call retries past this many seconds from its start.
MAX_TOTAL_S = 10.0
TIMEOUT_S = (1.0, 5.0)

# One pool for every thread: urllib3's pool is thread-safe, and 64 connections cover the
# concurrency the harness drives without discarding connections.
_SESSION = requests.Session()
_SESSION.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=64))
_SESSION.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=64))


def call(url: str, payload: dict[str, Any]) -> Any:
    """POST ``payload`` up to ``ATTEMPTS`` times, again at once on a connection error, a 5xx
    or a 429; the decoded answer, or the last attempt's error."""
    deadline = time.monotonic() + MAX_TOTAL_S
    for _ in range(ATTEMPTS - 1):
        if time.monotonic() >= deadline:
            break
        try:
            response = _SESSION.post(url, json=payload, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout):
            continue
        if response.status_code != 429 and response.status_code < 500:
            return _decoded(response)
    # The last attempt's error is the caller's, whatever it is.
    return _decoded(_SESSION.post(url, json=payload, timeout=TIMEOUT_S))


def _decoded(response: requests.Response) -> Any:
    response.raise_for_status()
    return response.json()
