"""Starting one labelled, hardened container on the host network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import TopologyError
from harness.system.backends.docker.labels import run_labels

__all__ = [
    "CPU_PERIOD_US",
    "TMPFS",
    "ServiceSpec",
    "hardening",
    "last_logs",
    "start_container",
]

CPU_PERIOD_US = 100_000
# Python and the servers need no more scratch space than this; it counts against the memory limit.
TMPFS = {"/tmp": "rw,nosuid,nodev,size=64m"}


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One container of a topology; ``command`` follows the image's entrypoint."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    memory_bytes: int | None = None
    # False only for an image that must write outside /tmp (which stays writable either way).
    read_only: bool = True


def hardening(service: ServiceSpec) -> dict[str, Any]:
    """What every container runs with: no capabilities (the services only bind loopback ports
    above 1024), no privilege gain through setuid binaries, no host mounts, and a read-only root.
    Pause, kill, stop, start and ``update`` of limits are engine operations and unaffected."""
    options: dict[str, Any] = {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "privileged": False,
    }
    if service.read_only:
        options["read_only"] = True
        options["tmpfs"] = dict(TMPFS)
    return options


def last_logs(container: Any, lines: int = 40) -> str:
    from docker.errors import APIError

    try:
        raw: bytes = container.logs(tail=lines)
    except APIError as exc:
        return f"<logs unavailable: {exc}>"
    return raw.decode(errors="replace").rstrip()


def start_container(client: Any, run_id: str, service: ServiceSpec) -> Any:
    """Run ``service`` detached with host networking; a missing image is a TopologyError."""
    from docker.errors import APIError, ImageNotFound

    limits: dict[str, Any] = {}
    if service.cpus is not None:
        # Period and quota rather than nano_cpus: the engine refuses to `update` the CPU limit
        # of a container started with nano_cpus, and container faults change it at run time.
        limits["cpu_period"] = CPU_PERIOD_US
        limits["cpu_quota"] = int(service.cpus * CPU_PERIOD_US)
    if service.memory_bytes is not None:
        limits["mem_limit"] = service.memory_bytes
    try:
        # Checked first: containers.run would otherwise try to pull from a registry.
        client.images.get(service.image)
        return client.containers.run(
            service.image,
            list(service.command) or None,
            name=f"serving-chaos-{run_id}-{service.name}",
            detach=True,
            network_mode="host",
            labels=run_labels(run_id, service.name),
            environment=service.environment,
            **hardening(service),
            **limits,
        )
    except ImageNotFound as exc:
        raise TopologyError(
            f"{service.name}: image {service.image!r} not found locally and no registry is used; "
            f"build it or run `bash scripts/provision_docker.sh` ({exc.explanation})"
        ) from exc
    except APIError as exc:
        raise TopologyError(f"{service.name}: docker could not start it: {exc}") from exc
