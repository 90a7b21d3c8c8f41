"""Network faults: real Toxiproxy toxics on one proxy, and a proxy taken down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

__all__ = ["STREAMS", "TOXIC_ATTRIBUTES", "ProxyDown", "Toxic", "ToxicControl"]

# Toxiproxy 2.12.0 toxic types and the attributes each one reads (all integers).
TOXIC_ATTRIBUTES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "latency": frozenset({"latency", "jitter"}),
        "bandwidth": frozenset({"rate"}),
        "slow_close": frozenset({"delay"}),
        "timeout": frozenset({"timeout"}),
        "reset_peer": frozenset({"timeout"}),
        "slicer": frozenset({"average_size", "size_variation", "delay"}),
        "limit_data": frozenset({"bytes"}),
    }
)
STREAMS = ("downstream", "upstream")


class ToxicControl(Protocol):
    """What a network fault needs from a Toxiproxy client."""

    def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        attributes: dict[str, int],
        stream: str = ...,
        toxicity: float = ...,
    ) -> None: ...

    def remove_toxic(self, proxy: str, name: str) -> None: ...

    def set_enabled(self, proxy: str, enabled: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class Toxic:
    """One Toxiproxy toxic on the proxy ``target`` while the fault is active."""

    type: str
    target: str
    attributes: Mapping[str, int] = field(default_factory=dict)
    stream: str = "downstream"
    toxicity: float = 1.0

    def __post_init__(self) -> None:
        known = TOXIC_ATTRIBUTES.get(self.type)
        if known is None:
            raise ValueError(
                f"expected one of {sorted(TOXIC_ATTRIBUTES)} but got type={self.type!r}"
            )
        unknown = set(self.attributes) - known
        if unknown:
            raise ValueError(
                f"expected attributes among {sorted(known)} for a {self.type} toxic "
                f"but got {sorted(unknown)}"
            )
        for key, value in self.attributes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"expected a non-negative integer but got {key}={value!r}")
        if self.stream not in STREAMS:
            raise ValueError(f"expected stream in {list(STREAMS)} but got stream={self.stream!r}")
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(f"expected 0 <= toxicity <= 1 but got toxicity={self.toxicity!r}")
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    def apply(self, control: ToxicControl, name: str) -> None:
        control.add_toxic(
            self.target,
            name=name,
            type=self.type,
            attributes=dict(self.attributes),
            stream=self.stream,
            toxicity=self.toxicity,
        )

    def revert(self, control: ToxicControl, name: str) -> None:
        control.remove_toxic(self.target, name)

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return f"{self.type}({attrs}) on {self.target} {self.stream}"


@dataclass(frozen=True, slots=True)
class ProxyDown:
    """The proxy ``target`` stops listening and drops its connections: the dependency is gone."""

    target: str

    def apply(self, control: ToxicControl, name: str) -> None:
        control.set_enabled(self.target, False)

    def revert(self, control: ToxicControl, name: str) -> None:
        control.set_enabled(self.target, True)

    def describe(self) -> str:
        return f"{self.target} down"
