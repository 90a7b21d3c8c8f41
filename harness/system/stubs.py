"""What the wiring tells a running stub and asks back from it: its spec (sent over HTTP, the
same way for a process and a container), and a ``proxy`` stub's recording at the end."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path

from harness.errors import TopologyError, transport_cause

__all__ = ["CONTROL_TIMEOUT_S", "put_stub_spec", "save_recording"]

CONTROL_TIMEOUT_S = 10.0
_ERRORS = (OSError, http.client.HTTPException, ValueError)
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def put_stub_spec(name: str, stub_url: str, spec: str) -> None:
    """Configure the stub ``name`` as ``spec`` (its JSON) says."""
    _call(name, f"{stub_url}/_chaos/spec", "PUT", spec.encode(), "take its spec")


def save_recording(name: str, stub_url: str, path: str) -> None:
    """Write what the recording stub ``name`` saw to ``path`` (parents made as needed)."""
    body = _call(name, f"{stub_url}/_chaos/recording", "GET", None, "hand over its recording")
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    except OSError as exc:
        raise TopologyError(
            f"stub {name!r}: could not write its recording to {path}: {exc.strerror}"
        ) from exc


def _call(name: str, url: str, method: str, body: bytes | None, action: str) -> bytes:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with _DIRECT.open(request, timeout=CONTROL_TIMEOUT_S) as response:
            answer: bytes = response.read()
            return answer
    except _ERRORS as exc:
        raise TopologyError(
            f"stub {name!r} at {url}: could not {action} (caused by {_cause(exc)})"
        ) from exc


def _cause(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        with exc:
            text = exc.read().decode(errors="replace")
        try:
            reason = json.loads(text).get("error", text)
        except (ValueError, AttributeError):
            reason = text
        return f"HTTP {exc.code}: {reason or exc.reason}"
    return transport_cause(exc, CONTROL_TIMEOUT_S)
