"""Settings of one stub process: where it listens, what it answers as, and its seed."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_NAME", "StubConfig"]

# The name a stub answers as when none is given: the reference endpoint's feature store.
DEFAULT_NAME = "feature-store"


@dataclass(frozen=True, slots=True)
class StubConfig:
    """Where the stub listens, the name it answers ``/health`` with, and the seed of its dice
    (faults, route latencies, and the default feature store's features)."""

    host: str = "127.0.0.1"
    port: int = 8081
    seed: int = 0
    name: str = DEFAULT_NAME

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"expected a port in 0..65535 but got port={self.port}")
        if not self.name:
            raise ValueError(f"expected a non-empty name but got name={self.name!r}")
