"""The one place a Docker client is made, and the reason when none can be."""

from __future__ import annotations

from typing import Any

from harness.errors import ProvisioningError

__all__ = ["connect", "unavailable_reason"]

_HINT = "run `bash scripts/provision_docker.sh` (installs docker.io and starts dockerd as root)"


def connect(timeout_s: float = 10.0) -> Any:
    """A ``docker.DockerClient`` for the engine named by the environment, checked with a ping.

    The docker SDK is imported here rather than at module import, so the process backend and the
    pytest plugin never pay for it.
    """
    from docker.client import DockerClient
    from docker.errors import DockerException

    try:
        client = DockerClient.from_env(timeout=int(timeout_s))
        client.ping()
    except DockerException as exc:
        raise ProvisioningError(f"no Docker engine answers ({exc}); {_HINT}") from exc
    return client


def unavailable_reason(timeout_s: float = 5.0) -> str | None:
    """None when an engine answers, otherwise why not (for skip messages and backend choice)."""
    try:
        connect(timeout_s).close()
    except ProvisioningError as exc:
        return str(exc)
    return None
