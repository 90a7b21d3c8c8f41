"""HTTP faults in the stubs: what Toxiproxy cannot do (it is TCP only), such as 429 rate limits
and 5xx error bursts, switched on and off through a stub's fault control endpoint."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from harness.errors import TopologyError, transport_cause

__all__ = ["CONTROL_TIMEOUT_S", "HttpError", "HttpFault", "StubControl", "clear_stub_fault"]

_FIELDS = ("status", "rate", "latency_ms", "retry_after_s")
CONTROL_TIMEOUT_S = 5.0
# A broken exchange: refused, reset, timed out, an HTTP error status, a malformed answer or URL.
_CONTROL_ERRORS = (OSError, http.client.HTTPException, ValueError)
# A stub is a local service: an HTTP_PROXY meant for the outside world must not see its controls.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StubControl(Protocol):
    def stub_url(self, stub: str) -> str: ...


@dataclass(frozen=True, slots=True)
class HttpFault:
    """Answer a fraction `rate` of calls with `status`; delay every call by `latency_ms`."""

    status: int = 503
    rate: float = 1.0
    latency_ms: float = 0.0
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"expected status in 400..599 but got status={self.status}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"expected rate in 0..1 but got rate={self.rate}")
        if self.latency_ms < 0:
            raise ValueError(f"expected latency_ms >= 0 but got latency_ms={self.latency_ms}")
        if self.retry_after_s is not None and self.retry_after_s < 0:
            raise ValueError(
                f"expected retry_after_s >= 0 but got retry_after_s={self.retry_after_s}"
            )

    @classmethod
    def from_json(cls, body: object) -> HttpFault:
        """Build a fault from a decoded JSON body, rejecting unknown keys and wrong types."""
        if not isinstance(body, dict):
            raise ValueError(f"expected a JSON object but got body={body!r}")
        unknown = sorted(set(body) - set(_FIELDS))
        if unknown:
            raise ValueError(f"expected keys among {list(_FIELDS)} but got unknown={unknown}")
        status = body.get("status", 503)
        if isinstance(status, bool) or not isinstance(status, int):
            raise ValueError(f"expected an integer status but got status={status!r}")
        has_retry_after = body.get("retry_after_s") is not None
        return cls(
            status=status,
            rate=_number(body, "rate", 1.0),
            latency_ms=_number(body, "latency_ms", 0.0),
            retry_after_s=_number(body, "retry_after_s", 0.0) if has_retry_after else None,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HttpError:
    """The stub ``target`` misbehaves as ``fault`` says while the fault is active."""

    target: str
    fault: HttpFault

    def apply(self, control: StubControl, name: str) -> None:
        body = json.dumps(self.fault.to_json()).encode()
        _send(self.target, control.stub_url(self.target), "PUT", body)

    def revert(self, control: StubControl, name: str) -> None:
        clear_stub_fault(self.target, control.stub_url(self.target))

    def describe(self) -> str:
        return f"{self.target} answers {self.fault.rate:.0%} of calls with {self.fault.status}"


def clear_stub_fault(stub: str, stub_url: str) -> None:
    """Switch off whatever HTTP fault the stub ``stub`` at ``stub_url`` has on."""
    _send(stub, stub_url, "DELETE", None)


def _send(stub: str, stub_url: str, method: str, body: bytes | None) -> None:
    url = f"{stub_url}/_chaos/faults"
    action = "switch on its HTTP fault" if method == "PUT" else "switch off its HTTP fault"
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with _DIRECT.open(request, timeout=CONTROL_TIMEOUT_S) as response:
            response.read()
    except _CONTROL_ERRORS as exc:
        cause = _cause(exc)
        raise TopologyError(
            f"stub {stub!r} at {url}: could not {action} (caused by {cause})"
        ) from exc


def _cause(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        with exc:
            return f"HTTP {exc.code}: {_reason(exc)}"
    return transport_cause(exc, CONTROL_TIMEOUT_S)


def _reason(exc: urllib.error.HTTPError) -> str:
    """The stub's own reason ({"error": ...}) when it gives one, else the HTTP phrase."""
    try:
        decoded = json.loads(exc.read())
    except _CONTROL_ERRORS:
        decoded = None
    reason = decoded.get("error") if isinstance(decoded, dict) else None
    return reason if isinstance(reason, str) and reason else str(exc.reason)


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number for {name} but got {name}={value!r}")
    return float(value)
