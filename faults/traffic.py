"""Traffic faults: a sudden surge of requests, the way a launch or a retry storm arrives."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Surge"]


@dataclass(frozen=True, slots=True)
class Surge:
    """The offered rate climbs to ``factor`` x within ``rise_s`` seconds, holds, and drops back.

    The load schedule carries the surge (it is planned before the run starts), so applying and
    reverting only mark the window for phase budgets.
    """

    target: str
    factor: float
    rise_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"expected factor > 0 but got factor={self.factor!r}")
        if not (math.isfinite(self.rise_s) and self.rise_s >= 0):
            raise ValueError(f"expected rise_s >= 0 but got rise_s={self.rise_s!r}")

    def apply(self, control: Any, name: str) -> None:
        return None

    def revert(self, control: Any, name: str) -> None:
        return None

    def describe(self) -> str:
        return f"traffic x{self.factor:g} to {self.target} (rise {self.rise_s:g}s)"
