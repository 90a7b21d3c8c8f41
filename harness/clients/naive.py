"""The naive client: a new connection for every call and no retry.

What it shows: the cost of not pooling (a TCP handshake per call, a socket left in TIME_WAIT
after it) and a client that passes every shed (429) and outage (503/504) straight to its
caller. ``Connection: close`` makes the one-connection-per-call explicit instead of leaving it
to ``requests.post`` throwing its private session away.
"""

from __future__ import annotations

from typing import Any

import requests

__all__ = ["call"]

# (connect, read) in seconds: a call never hangs on a dead endpoint.
TIMEOUT_S = (1.0, 5.0)


def call(url: str, payload: dict[str, Any]) -> Any:
    """POST ``payload`` as JSON once; the decoded answer, or the HTTP or connection error."""
    response = requests.post(url, json=payload, headers={"Connection": "close"}, timeout=TIMEOUT_S)
    response.raise_for_status()
    return response.json()
