"""Container faults: a freeze, a crash and restart, squeezed CPU or memory, a stopped service.

Each fault acts on the container of one service of a docker topology. ``control`` is anything
that maps a service name to its docker container
(``harness.system.backends.docker.DockerStack`` does).

A failed engine call surfaces as a TopologyError naming the fault, the service and the cause; the
docker client's own timeout (set where it is created) bounds each call.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import TopologyError

__all__ = ["ContainerControl", "Crash", "Pause", "ResourceLimit", "Stop"]

_CPU_PERIOD_US = 100_000
# The engine cannot lift a memory limit once set, so "unlimited" is restored as a limit far
# above any test machine's memory.
_NO_MEMORY_LIMIT = 1 << 40


class ContainerControl(Protocol):
    def container(self, service: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Pause:
    """The service freezes (cgroup freezer): connections stay open, nothing is answered."""

    target: str

    def apply(self, control: ContainerControl, name: str) -> None:
        with _engine(name, self.target, "pause it"):
            control.container(self.target).pause()

    def revert(self, control: ContainerControl, name: str) -> None:
        with _engine(name, self.target, "unpause it"):
            control.container(self.target).unpause()

    def describe(self) -> str:
        return f"{self.target} paused"


@dataclass(frozen=True, slots=True)
class Crash:
    """The service is killed (SIGKILL by default) and started again, cold, when the fault ends."""

    target: str
    signal: str = "SIGKILL"

    def apply(self, control: ContainerControl, name: str) -> None:
        with _engine(name, self.target, f"kill it with {self.signal}"):
            control.container(self.target).kill(signal=self.signal)

    def revert(self, control: ContainerControl, name: str) -> None:
        with _engine(name, self.target, "restart it"):
            container = control.container(self.target)
            container.reload()
            if container.status != "running":
                container.start()

    def describe(self) -> str:
        return f"{self.target} killed ({self.signal}), restarted at the end"


@dataclass(frozen=True, slots=True)
class Stop:
    """The service shuts down gracefully (SIGTERM, then SIGKILL after ``grace_s``)."""

    target: str
    grace_s: int = 5

    def apply(self, control: ContainerControl, name: str) -> None:
        with _engine(name, self.target, "stop it"):
            control.container(self.target).stop(timeout=self.grace_s)

    def revert(self, control: ContainerControl, name: str) -> None:
        with _engine(name, self.target, "start it again"):
            control.container(self.target).start()

    def describe(self) -> str:
        return f"{self.target} stopped"


@dataclass(frozen=True, slots=True)
class ResourceLimit:
    """CPU (in cores) and/or memory limits changed on the running container (docker update)."""

    target: str
    cpus: float | None = None
    memory_bytes: int | None = None
    # The limits the fault replaced, by fault name, so revert restores exactly those.
    _saved: dict[str, dict[str, int]] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    def __post_init__(self) -> None:
        if self.cpus is None and self.memory_bytes is None:
            raise ValueError("expected cpus or memory_bytes but got neither")
        if self.cpus is not None and not self.cpus > 0:
            raise ValueError(f"expected cpus > 0 but got cpus={self.cpus!r}")
        # Below this the engine refuses the update (and the service would not run anyway).
        if self.memory_bytes is not None and self.memory_bytes < 6 << 20:
            raise ValueError(f"expected memory_bytes >= 6 MiB but got {self.memory_bytes!r}")

    def apply(self, control: ContainerControl, name: str) -> None:
        with _engine(name, self.target, "read its limits"):
            container = control.container(self.target)
            container.reload()
            host = container.attrs.get("HostConfig")
        if not isinstance(host, dict):
            raise TopologyError(
                f"fault {name!r} on service {self.target!r}: could not read its limits "
                f"(caused by no HostConfig in the container's attributes)"
            )
        self._saved[name] = {
            "cpu_quota": int(host.get("CpuQuota") or -1),
            "cpu_period": int(host.get("CpuPeriod") or _CPU_PERIOD_US),
            "mem_limit": int(host.get("Memory") or 0),
            "memswap_limit": int(host.get("MemorySwap") or 0),
        }
        changes: dict[str, int] = {}
        if self.cpus is not None:
            changes["cpu_period"] = _CPU_PERIOD_US
            changes["cpu_quota"] = int(self.cpus * _CPU_PERIOD_US)
        if self.memory_bytes is not None:
            # Swap equal to memory: the limit really bounds the service, it cannot page out.
            changes["mem_limit"] = changes["memswap_limit"] = self.memory_bytes
        with _engine(name, self.target, f"set its limits ({self.describe()})"):
            container.update(**changes)

    def revert(self, control: ContainerControl, name: str) -> None:
        saved = self._saved.pop(name, None)
        if saved is None:
            return
        changes: dict[str, int] = {}
        if self.cpus is not None:
            changes["cpu_period"] = saved["cpu_period"]
            changes["cpu_quota"] = saved["cpu_quota"]
        if self.memory_bytes is not None:
            memory = saved["mem_limit"] or _NO_MEMORY_LIMIT
            changes["mem_limit"] = memory
            changes["memswap_limit"] = saved["memswap_limit"] or 2 * memory
        with _engine(name, self.target, "restore its limits"):
            control.container(self.target).update(**changes)

    def describe(self) -> str:
        parts = []
        if self.cpus is not None:
            parts.append(f"cpus={self.cpus:g}")
        if self.memory_bytes is not None:
            parts.append(f"memory={self.memory_bytes // (1 << 20)}MiB")
        return f"{self.target} limited to {', '.join(parts)}"


@contextmanager
def _engine(fault: str, service: str, action: str) -> Iterator[None]:
    """Turn a failed engine call into a TopologyError; a TopologyError (what the process
    backend's stand-ins raise) already says what went wrong and passes unchanged."""
    try:
        yield
    except _engine_errors() as exc:
        cause = f"{type(exc).__name__}: {exc}"
        raise TopologyError(
            f"fault {fault!r} on service {service!r}: could not {action} (caused by {cause})"
        ) from exc


def _engine_errors() -> tuple[type[BaseException], ...]:
    # An engine exception can only exist once its module is loaded, so look rather than import:
    # docker stays unloaded on the process backend, even while a Ctrl-C passes through here.
    # OSError also covers requests' exceptions (timeouts, refused connections, docker's APIError).
    found: list[type[BaseException]] = [OSError]
    for module, name in (("docker.errors", "DockerException"), ("urllib3.exceptions", "HTTPError")):
        loaded = sys.modules.get(module)
        if loaded is not None:
            found.append(getattr(loaded, name))
    return tuple(found)
