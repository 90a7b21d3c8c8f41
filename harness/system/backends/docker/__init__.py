"""The docker backend: services as labelled containers on the host network, the serving image
built from the installed package, compose files read for limits, environment and healthchecks.

Names load on first use: the docker SDK is heavy, and most runs never need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.system.backends.docker.backend import (
        DockerBackend,
        DockerService,
        DockerSettings,
    )
    from harness.system.backends.docker.engine import connect, unavailable_reason
    from harness.system.backends.docker.images import ImageRecipe, ensure_serving_image
    from harness.system.backends.docker.labels import reap_dead_runs

_LAZY = {
    "DockerBackend": "harness.system.backends.docker.backend",
    "DockerService": "harness.system.backends.docker.backend",
    "DockerSettings": "harness.system.backends.docker.backend",
    "ImageRecipe": "harness.system.backends.docker.images",
    "connect": "harness.system.backends.docker.engine",
    "ensure_serving_image": "harness.system.backends.docker.images",
    "reap_dead_runs": "harness.system.backends.docker.labels",
    "unavailable_reason": "harness.system.backends.docker.engine",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.system.backends.docker' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DockerBackend",
    "DockerService",
    "DockerSettings",
    "ImageRecipe",
    "connect",
    "ensure_serving_image",
    "reap_dead_runs",
    "unavailable_reason",
]
