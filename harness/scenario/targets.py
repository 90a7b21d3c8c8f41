"""Which fault kinds aim at which names of a system: network faults at its proxies, HTTP
faults at its HTTP hops (each stub, and the client's hop to the endpoint through the HTTP fault
layer), container faults at its services (Toxiproxy itself is never a target: it
is the instrument, not the system under test)."""

from __future__ import annotations

from collections.abc import Mapping

from faults import TOXIC_ATTRIBUTES
from faults.http import FIELDS as HTTP_FIELDS
from faults.http import HTTP_FAULT_KINDS
from harness.system.spec import ENDPOINT, SystemSpec

__all__ = [
    "ATTRIBUTES",
    "CONTAINER_KINDS",
    "FAULT_KINDS",
    "HTTP_KINDS",
    "NETWORK_KINDS",
    "targets_of",
]

NETWORK_KINDS = (*TOXIC_ATTRIBUTES, "down")
CONTAINER_KINDS = ("pause", "crash", "stop", "limit")
# ``http_error`` is the older name of ``abort`` (with an optional fixed delay).
HTTP_KINDS = (*HTTP_FAULT_KINDS, "http_error")
FAULT_KINDS = (*NETWORK_KINDS, *HTTP_KINDS, "surge", *CONTAINER_KINDS)
ATTRIBUTES: Mapping[str, frozenset[str]] = {
    **HTTP_FIELDS,
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
    if kind in HTTP_KINDS:
        return system.http_hops
    if kind == "surge":
        return (ENDPOINT,)
    return system.services
