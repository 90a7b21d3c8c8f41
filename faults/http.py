"""HTTP faults in the stubs: what Toxiproxy cannot do (it is TCP only), such as 429 rate limits
and 5xx error bursts, switched on and off through a stub's fault control endpoint."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any, Protocol

_FIELDS = ("status", "rate", "latency_ms", "retry_after_s")


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
        _send(control.stub_url(self.target), "PUT", body)

    def revert(self, control: StubControl, name: str) -> None:
        _send(control.stub_url(self.target), "DELETE", None)

    def describe(self) -> str:
        return f"{self.target} answers {self.fault.rate:.0%} of calls with {self.fault.status}"


def _send(stub_url: str, method: str, body: bytes | None) -> None:
    request = urllib.request.Request(
        f"{stub_url}/_chaos/faults",
        data=body,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5.0) as response:
        response.read()


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number for {name} but got {name}={value!r}")
    return float(value)
