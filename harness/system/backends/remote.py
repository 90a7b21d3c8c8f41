"""A service the harness did not start and cannot touch: it only waits for it and watches it."""

from __future__ import annotations

from typing import Any

from harness.errors import TopologyError
from harness.system.backends.base import Remote, Service
from harness.system.readiness import answers

__all__ = ["RemoteService", "reach"]


class RemoteService:
    """An already running server at ``url``: no logs, no process, no fault verbs."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    def exit_code(self) -> int | None:
        return None

    def health(self) -> str | None:
        return None

    def logs(self, lines: int = 40) -> str:
        return ""

    def alive(self) -> bool:
        return True

    @property
    def pid(self) -> int | None:
        return None

    @property
    def status(self) -> str:
        return "running" if answers(self.url) else "unreachable"

    @property
    def attrs(self) -> dict[str, Any]:
        raise self._untouchable()

    def reload(self) -> None:
        return None

    def pause(self) -> None:
        raise self._untouchable()

    def unpause(self) -> None:
        raise self._untouchable()

    def kill(self, signal: str = "SIGKILL") -> None:
        raise self._untouchable()

    def stop(self, timeout: int = 5) -> None:
        raise self._untouchable()

    def start(self) -> None:
        raise self._untouchable()

    def update(self, **changes: int) -> None:
        raise self._untouchable()

    def _untouchable(self) -> TopologyError:
        return TopologyError(
            f"{self.name} at {self.url} runs elsewhere; the harness cannot touch it"
        )


def reach(service: Service) -> RemoteService:
    """The already running server ``service`` names, once it answers its health check."""
    if not isinstance(service.program, Remote):
        raise TopologyError(f"{service.name} is not an already running server")
    if not service.ready.probe():
        raise TopologyError(
            f"the target endpoint does not answer {service.ready.url}; start it, or fix "
            "target.url / target.health_path in the scenario"
        )
    return RemoteService(service.name, service.program.url)
