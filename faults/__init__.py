"""The fault vocabulary: what can go wrong, on which target, and when."""

from faults.network import TOXIC_ATTRIBUTES, ProxyDown, Toxic, ToxicControl
from faults.schedule import Fault, FaultWindow, ScheduledFault

__all__ = [
    "TOXIC_ATTRIBUTES",
    "Fault",
    "FaultWindow",
    "ProxyDown",
    "ScheduledFault",
    "Toxic",
    "ToxicControl",
]
