"""How well the generator kept its own schedule, so a slow generator is never read as a slow
endpoint. k6 counts dropped iterations the same way; here lateness is measured too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.loadgen.histograms import Floats, new_histogram, record_many, record_micros

__all__ = ["MAX_LAG_S", "GeneratorStats"]

# A request that leaves more than this after its intended start was sent late: the generator,
# not the endpoint, added that time. Also the lag p99 above which a run is invalid.
MAX_LAG_S = 0.002


@dataclass(slots=True)
class GeneratorStats:
    scheduled: int = 0
    sent: int = 0
    dropped: int = 0
    late: int = 0
    lag: HdrHistogram = field(default_factory=new_histogram)

    def record_lag(self, lag_s: float) -> None:
        record_micros(self.lag, int(lag_s * 1_000_000))
        if lag_s > MAX_LAG_S:
            self.late += 1

    def record_lags(self, lags_s: Floats) -> None:
        """:meth:`record_lag` for an array of lags, recorded with numpy."""
        record_many(self.lag, (lags_s * 1_000_000).astype(np.int64))
        self.late += int(np.count_nonzero(lags_s > MAX_LAG_S))

    @property
    def lag_p99_ms(self) -> float:
        return self.lag.get_value_at_percentile(99) / 1000.0 if self.sent else 0.0

    def problems(self, *, open_loop: bool = True) -> list[str]:
        """Why these numbers describe the generator rather than the endpoint; empty if none."""
        if not open_loop:
            return []
        notes = []
        if self.dropped:
            notes.append(f"generator dropped {self.dropped} of {self.scheduled} scheduled requests")
        if self.lag_p99_ms > MAX_LAG_S * 1000:
            notes.append(
                f"generator fell behind its schedule: lag p99 {self.lag_p99_ms:.2f} ms "
                f"> {MAX_LAG_S * 1000:g} ms ({self.late} requests started late)"
            )
        return notes

    def merge(self, other: GeneratorStats) -> None:
        self.scheduled += other.scheduled
        self.sent += other.sent
        self.dropped += other.dropped
        self.late += other.late
        self.lag.add(other.lag)

    def encode(self) -> dict[str, Any]:
        return {
            "scheduled": self.scheduled,
            "sent": self.sent,
            "dropped": self.dropped,
            "late": self.late,
            "lag": self.lag.encode(),
        }

    @classmethod
    def decode(cls, encoded: dict[str, Any]) -> GeneratorStats:
        stats = cls(encoded["scheduled"], encoded["sent"], encoded["dropped"], encoded["late"])
        stats.lag.add(HdrHistogram.decode(encoded["lag"]))
        return stats

    def to_json(self) -> dict[str, float | int]:
        return {
            "scheduled": self.scheduled,
            "sent": self.sent,
            "dropped": self.dropped,
            "late": self.late,
            "lag_p99_ms": round(self.lag_p99_ms, 3),
            "lag_max_ms": round(self.lag.get_max_value() / 1000.0, 3) if self.sent else 0.0,
        }
