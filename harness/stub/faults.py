"""HTTP-level faults a test can switch on and off while the stub keeps running.

Toxiproxy works on TCP and cannot answer 429 or 5xx, so status-code faults live here.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

_FIELDS = ("status", "rate", "latency_ms", "retry_after_s")


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


class FaultSwitch:
    """The stub's current fault, if any, and the seeded dice that decide which calls it hits."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._fault: HttpFault | None = None
        self._dice = random.Random(seed)

    @property
    def current(self) -> HttpFault | None:
        return self._fault

    def set(self, fault: HttpFault) -> None:
        # Reseeding on every change makes the hit pattern after a PUT reproducible across runs.
        self._fault = fault
        self._dice = random.Random(self._seed)

    def clear(self) -> None:
        self._fault = None

    def roll(self) -> bool:
        """True when the next call should be answered with the fault's status."""
        fault = self._fault
        if fault is None or fault.rate <= 0.0:
            return False
        return fault.rate >= 1.0 or self._dice.random() < fault.rate


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number for {name} but got {name}={value!r}")
    return float(value)
