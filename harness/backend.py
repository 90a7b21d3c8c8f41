"""Where a topology's services run: ``process`` (child processes) or ``docker`` (containers),
and ``auto``, which takes docker when an engine answers and processes otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.scenario import EndpointSpec, ExternalTarget
    from harness.topology import Topology

BACKENDS = ("auto", "process", "docker")


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise UsageError(f"expected backend in {list(BACKENDS)} but got backend={name!r}")
    return name


def resolve_backend(name: str) -> str:
    """The concrete backend for ``name``; asks the Docker engine only for ``auto``."""
    if check_backend(name) != "auto":
        return name
    from harness.backends import unavailable_reason

    return "docker" if unavailable_reason(timeout_s=3.0) is None else "process"


@contextmanager
def start_topology(
    endpoint: EndpointSpec,
    backend: str,
    *,
    custom: ExternalTarget | None = None,
    compose: Path | None = None,
) -> Iterator[Topology]:
    """Bring the topology up on ``backend`` (already resolved) and always take it down;
    ``custom`` replaces the reference endpoint with a command or an image of the user's, and
    ``compose`` a compose file giving the services' limits and environment (containers have
    limits, processes do not: the process backend leaves it aside)."""
    if check_backend(backend) == "docker":
        from harness.backends import docker_topology
        from harness.backends.compose import load_compose

        read = load_compose(compose) if compose is not None else None
        with docker_topology(endpoint, custom=custom, compose=read) as topology:
            yield topology
    elif backend == "process":
        from harness.topology import process_topology

        with process_topology(endpoint, custom=custom) as topology:
            yield topology
    else:
        raise UsageError(f"resolve backend {backend!r} before starting a topology")
