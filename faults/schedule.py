"""When faults happen: planned windows relative to the start of load, and what really happened."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from faults.container import ContainerControl
from faults.http import HttpControl
from faults.network import ToxicControl

__all__ = ["Fault", "FaultControl", "FaultWindow", "ScheduledFault"]


class FaultControl(ToxicControl, ContainerControl, HttpControl, Protocol):
    """Everything a fault may act on: Toxiproxy, service containers, the HTTP hops. fault controls.
    A running ``harness.system.topology.Topology`` is one."""


class Fault(Protocol):
    @property
    def target(self) -> str: ...

    def apply(self, control: FaultControl, name: str) -> None: ...

    def revert(self, control: FaultControl, name: str) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """``fault`` is active from ``start_s`` for ``duration_s`` seconds after load starts."""

    name: str
    fault: Fault
    start_s: float
    duration_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.duration_s)):
            raise ValueError(
                f"expected finite times but got start_s={self.start_s!r}, "
                f"duration_s={self.duration_s!r}"
            )
        if self.start_s < 0:
            raise ValueError(f"expected start_s >= 0 but got start_s={self.start_s!r}")
        if self.duration_s <= 0:
            raise ValueError(f"expected duration_s > 0 but got duration_s={self.duration_s!r}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault as it was applied: planned and actual times in seconds since load started."""

    name: str
    target: str
    description: str
    planned_start_s: float
    planned_end_s: float
    actual_start_s: float
    actual_end_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "description": self.description,
            "planned_start_s": round(self.planned_start_s, 3),
            "planned_end_s": round(self.planned_end_s, 3),
            "actual_start_s": round(self.actual_start_s, 4),
            "actual_end_s": None if self.actual_end_s is None else round(self.actual_end_s, 4),
        }
