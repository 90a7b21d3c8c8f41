"""HTTP-level faults a test can switch on and off while the stub keeps running.

Toxiproxy works on TCP and cannot answer 429 or 5xx, so status-code faults live here.
"""

from __future__ import annotations

import random

from faults.http import HttpFault

__all__ = ["FaultSwitch", "HttpFault"]


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
