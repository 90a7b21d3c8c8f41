"""Where services run, chosen in one place: ``process`` (child processes), ``docker``
(containers), ``url`` (the endpoint already runs; only Toxiproxy is started, as a process), and
``auto``, which takes docker when an engine answers and processes otherwise. A user's server
given as a command always runs as a process; on docker its stubs and proxies are containers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.system.backends.base import Backend, RunningService, Service

if TYPE_CHECKING:
    from harness.system.settings import HostSettings
    from harness.system.spec import SystemSpec

BACKENDS = ("auto", "process", "docker")

__all__ = [
    "BACKENDS",
    "Backend",
    "RunningService",
    "Service",
    "backend_for",
    "check_backend",
    "open_backend",
    "resolve_backend",
]


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise UsageError(f"expected backend in {list(BACKENDS)} but got backend={name!r}")
    return name


def resolve_backend(name: str) -> str:
    """The concrete backend for ``name``; asks the Docker engine only for ``auto``."""
    if check_backend(name) != "auto":
        return name
    from harness.system.backends.docker import unavailable_reason

    return "docker" if unavailable_reason(timeout_s=3.0) is None else "process"


def backend_for(system: SystemSpec, asked: str, *, needs_limits: bool = False) -> str:
    """The backend ``system`` runs on when the user asked for ``asked``, or a UsageError
    naming what it needs instead; ``needs_limits``: a fault changes CPU or memory limits."""
    if system.kind == "url":
        return "url"
    if system.kind == "command" and asked != "docker":
        # Processes only, unless asked: the stubs and proxies could run in containers.
        return "process"
    concrete = resolve_backend(asked)
    if system.kind == "image" and concrete != "docker":
        raise UsageError("a target image needs the docker backend, and no Docker engine answers")
    if concrete == "process" and needs_limits:
        raise UsageError(
            "limit faults change a container's CPU or memory and need the docker backend; "
            "run with --backend docker"
        )
    return concrete


def open_backend(name: str, settings: HostSettings, *, log_dir: Path | None = None) -> Backend:
    """A backend of the concrete kind ``name`` (see :func:`backend_for`), not yet entered."""
    if name in ("process", "url"):
        from harness.system.backends.process import ProcessBackend
        from harness.system.toxiproxy import find_toxiproxy_server

        binary = find_toxiproxy_server(dict(settings.toxiproxy_env))
        return ProcessBackend(binary, log_dir=log_dir, name=name)
    if name == "docker":
        from harness.system.backends.docker import DockerBackend, DockerSettings
        from harness.system.backends.docker.compose import load_compose

        compose = None if settings.compose is None else load_compose(settings.compose)
        docker = DockerSettings(base_image=settings.base_image, compose=compose, log_dir=log_dir)
        return DockerBackend(docker)
    raise UsageError(f"resolve backend {name!r} to process, docker or url before opening it")
