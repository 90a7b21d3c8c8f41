"""The fault vocabulary: what can go wrong, on which target, and when."""

from faults.container import Crash, Pause, ResourceLimit, Stop
from faults.http import HttpError
from faults.network import TOXIC_ATTRIBUTES, ProxyDown, Toxic, ToxicControl
from faults.schedule import Fault, FaultControl, FaultWindow, ScheduledFault
from faults.traffic import Surge

__all__ = [
    "TOXIC_ATTRIBUTES",
    "Crash",
    "Fault",
    "FaultControl",
    "FaultWindow",
    "HttpError",
    "Pause",
    "ProxyDown",
    "ResourceLimit",
    "ScheduledFault",
    "Stop",
    "Surge",
    "Toxic",
    "ToxicControl",
]
