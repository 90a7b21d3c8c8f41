"""HTTP faults in the stubs: what Toxiproxy cannot do (it is TCP only), such as 429 rate limits
and 5xx error bursts, switched on and off through a stub's fault control endpoint."""

from __future__ import annotations

import json
import math
import urllib.request
from dataclasses import dataclass
from typing import Protocol


class StubControl(Protocol):
    def stub_url(self, stub: str) -> str: ...


@dataclass(frozen=True, slots=True)
class HttpError:
    """The stub ``target`` answers ``rate`` of its calls with ``status`` (after ``latency_ms``),
    with a Retry-After header when ``retry_after_s`` is set."""

    target: str
    status: int = 503
    rate: float = 1.0
    latency_ms: float = 0.0
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"expected a status in 400..599 but got status={self.status!r}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"expected 0 <= rate <= 1 but got rate={self.rate!r}")
        if not (math.isfinite(self.latency_ms) and self.latency_ms >= 0):
            raise ValueError(f"expected latency_ms >= 0 but got latency_ms={self.latency_ms!r}")
        if self.retry_after_s is not None and not self.retry_after_s >= 0:
            raise ValueError(
                f"expected retry_after_s >= 0 but got retry_after_s={self.retry_after_s!r}"
            )

    def body(self) -> dict[str, float | int]:
        fault: dict[str, float | int] = {
            "status": self.status,
            "rate": self.rate,
            "latency_ms": self.latency_ms,
        }
        if self.retry_after_s is not None:
            fault["retry_after_s"] = self.retry_after_s
        return fault

    def apply(self, control: StubControl, name: str) -> None:
        _send(control.stub_url(self.target), "PUT", json.dumps(self.body()).encode())

    def revert(self, control: StubControl, name: str) -> None:
        _send(control.stub_url(self.target), "DELETE", None)

    def describe(self) -> str:
        return f"{self.target} answers {self.rate:.0%} of calls with {self.status}"


def _send(stub_url: str, method: str, body: bytes | None) -> None:
    request = urllib.request.Request(
        f"{stub_url}/_chaos/faults",
        data=body,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5.0) as response:
        response.read()
