"""Settings of one feature-store stub process."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_NAME", "StubConfig"]

# The name a stub answers as when none is given: the reference endpoint's feature store.
DEFAULT_NAME = "feature-store"


@dataclass(frozen=True, slots=True)
class StubConfig:
    """Where the stub listens and how it derives its features."""

    host: str = "127.0.0.1"
    port: int = 8081
    n_features: int = 8
    seed: int = 0
    name: str = DEFAULT_NAME

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"expected a port in 0..65535 but got port={self.port}")
        if self.n_features < 1:
            raise ValueError(f"expected n_features >= 1 but got n_features={self.n_features}")
        if not self.name:
            raise ValueError(f"expected a non-empty name but got name={self.name!r}")
