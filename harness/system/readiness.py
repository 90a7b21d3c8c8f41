"""One readiness protocol for every service, process or container: a strategy object with a
timeout and a poll interval that waits until the service answers HTTP (and, where a compose
healthcheck is configured, until the engine reports it healthy), and on failure raises with
the service's last log lines."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from harness.errors import TopologyError
from harness.system.loopback import DIRECT

__all__ = ["HttpReady", "Watched", "answers"]


class Watched(Protocol):
    """What readiness needs to know of a started service."""

    name: str

    def exit_code(self) -> int | None:
        """The exit code once the service has exited; None while it runs."""
        ...

    def health(self) -> str | None:
        """The engine's healthcheck status (starting, healthy, unhealthy), None without one."""
        ...

    def logs(self, lines: int = 40) -> str: ...


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether ``url`` answers a GET with 2xx right now."""
    try:
        with DIRECT.open(url, timeout=timeout_s) as response:
            return 200 <= int(response.status) < 300
    except (OSError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class HttpReady:
    """Ready when ``url`` answers 2xx and the service's healthcheck, if any, says healthy."""

    url: str
    timeout_s: float = 20.0
    interval_s: float = 0.05

    def probe(self) -> bool:
        return answers(self.url)

    def wait(self, service: Watched) -> None:
        """Block until ready; raise with the service's last log lines if it exits, turns
        unhealthy or times out."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            health = service.health()
            if health in (None, "healthy") and self.probe():
                return
            code = service.exit_code()
            if code is not None:
                raise TopologyError(
                    f"{service.name} exited with code {code} before {self.url} answered",
                    logs=service.logs(),
                )
            if health == "unhealthy":
                raise TopologyError(
                    f"{service.name}: its healthcheck reports unhealthy", logs=service.logs()
                )
            if time.monotonic() >= deadline:
                state = "" if health is None else f" (healthcheck: {health})"
                raise TopologyError(
                    f"{service.name} did not answer {self.url} within {self.timeout_s:.1f}s{state}",
                    logs=service.logs(),
                )
            time.sleep(self.interval_s)
