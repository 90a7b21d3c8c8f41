"""The system under test brought up: one description of services, dependencies and proxies,
one wiring sequence, and backends that only know how to start a service and wait for it.

Names load on first use, so the pytest plugin can read the backend names for free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.system.backends import backend_for, open_backend, resolve_backend
    from harness.system.settings import HostSettings
    from harness.system.spec import Dependency, ExternalTarget, SystemSpec
    from harness.system.topology import Topology
    from harness.system.wiring import bring_up

_LAZY = {
    "Dependency": "harness.system.spec",
    "ExternalTarget": "harness.system.spec",
    "HostSettings": "harness.system.settings",
    "SystemSpec": "harness.system.spec",
    "Topology": "harness.system.topology",
    "backend_for": "harness.system.backends",
    "bring_up": "harness.system.wiring",
    "open_backend": "harness.system.backends",
    "resolve_backend": "harness.system.backends",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.system' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Dependency",
    "ExternalTarget",
    "HostSettings",
    "SystemSpec",
    "Topology",
    "backend_for",
    "bring_up",
    "open_backend",
    "resolve_backend",
]
