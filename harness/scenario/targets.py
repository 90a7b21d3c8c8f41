"""Which fault kinds aim at which names of a system: network faults at its proxies, HTTP
faults at its stubs, container faults at its services (Toxiproxy itself is never a target: it
is the instrument, not the system under test)."""

from __future__ import annotations

from collections.abc import Mapping

from faults import TOXIC_ATTRIBUTES
from harness.system.spec import ENDPOINT, SystemSpec

__all__ = ["ATTRIBUTES", "CONTAINER_KINDS", "FAULT_KINDS", "NETWORK_KINDS", "targets_of"]

NETWORK_KINDS = (*TOXIC_ATTRIBUTES, "down")
CONTAINER_KINDS = ("pause", "crash", "stop", "limit")
FAULT_KINDS = (*NETWORK_KINDS, "http_error", "surge", *CONTAINER_KINDS)
ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "http_error": frozenset({"status", "rate", "latency_ms", "retry_after_s"}),
    "surge": frozenset({"factor", "rise_s"}),
    "pause": frozenset(),
    "crash": frozenset({"signal"}),
    "stop": frozenset({"grace_s"}),
    "limit": frozenset({"cpus", "memory_mb"}),
}


def targets_of(kind: str, system: SystemSpec) -> tuple[str, ...]:
    """The names a fault of ``kind`` may aim at in ``system``."""
    if kind in NETWORK_KINDS:
        return system.proxies
    if kind == "http_error":
        return system.dependency_names
    if kind == "surge":
        return (ENDPOINT,)
    return system.services
