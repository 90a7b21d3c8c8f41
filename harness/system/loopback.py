"""HTTP to the services of a running system on loopback: never through a proxy set for outside
traffic, always within a timeout, and a failure that says who was asked to do what, and why
it could not."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from harness.errors import TopologyError, transport_cause

__all__ = ["CONTROL_ERRORS", "DIRECT", "control", "fetch", "scrape"]

_T = TypeVar("_T")

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# A broken exchange: refused, reset, timed out, an HTTP error status, a malformed answer or URL.
CONTROL_ERRORS = (OSError, http.client.HTTPException, ValueError)


def control(
    who: str, url: str, action: str, *, method: str = "GET", body: bytes | None = None,
    timeout_s: float,
) -> bytes:  # fmt: skip
    """Ask ``who`` at ``url`` to do ``action``; its answer's body, or a TopologyError
    "``who`` at ``url``: could not ``action`` (caused by ...)"."""
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with DIRECT.open(request, timeout=timeout_s) as response:
            answer: bytes = response.read()
            return answer
    except CONTROL_ERRORS as exc:
        raise TopologyError(
            f"{who} at {url}: could not {action} (caused by {_cause(exc, timeout_s)})"
        ) from exc


def fetch(url: str, *, method: str = "GET", timeout_s: float) -> bytes | None:
    """``url``'s body, or None when it did not answer 2xx in time: for what a run reads
    along the way (metrics, ledgers), where a silent service is a finding, not an error."""
    request = urllib.request.Request(url, method=method)
    try:
        with DIRECT.open(request, timeout=timeout_s) as response:
            answer: bytes = response.read()
            return answer
    except CONTROL_ERRORS:
        return None


def scrape(url: str, parse: Callable[[str], _T], *, timeout_s: float) -> _T | None:
    """``url``'s text (a /metrics page, say) as ``parse`` reads it; None when it did not
    answer (as :func:`fetch`) or ``parse`` raised ValueError on it."""
    body = fetch(url, timeout_s=timeout_s)
    if body is None:
        return None
    try:
        return parse(body.decode())
    except ValueError:
        return None


def _cause(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        with exc:
            return f"HTTP {exc.code}: {_reason(exc)}"
    return transport_cause(exc, timeout_s)


def _reason(exc: urllib.error.HTTPError) -> str:
    """The service's own reason ({"error": ...}) when it gives one, else the HTTP phrase."""
    try:
        decoded = json.loads(exc.read())
    except CONTROL_ERRORS:
        decoded = None
    reason = decoded.get("error") if isinstance(decoded, dict) else None
    return reason if isinstance(reason, str) and reason else str(exc.reason)
