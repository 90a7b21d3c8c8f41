"""What a backend is asked to run, and what it hands back.

A backend knows how to start one service and wait for it; which services there are and how
they are wired is the wiring's business (harness.system.wiring), written once for all backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

from harness.system.readiness import HttpReady

__all__ = [
    "Backend",
    "Command",
    "Harness",
    "Image",
    "Program",
    "Remote",
    "RunningService",
    "Service",
    "Toxiproxy",
]


@dataclass(frozen=True, slots=True)
class Toxiproxy:
    """The Toxiproxy server with these arguments."""

    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Harness:
    """A `serving-chaos` subcommand (the reference endpoint or a stub)."""

    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    """A user's own server started as a process."""

    argv: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Image:
    """A user's own server started as a container; ``args`` follow its entrypoint."""

    image: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Remote:
    """A server that is already running: nothing to start, only to wait for."""

    url: str


Program = Toxiproxy | Harness | Command | Image | Remote


@dataclass(frozen=True, slots=True)
class Service:
    """One service to start: its name, what runs, extra environment, and when it is ready."""

    name: str
    program: Program
    ready: HttpReady
    env: dict[str, str] = field(default_factory=dict)


class RunningService(Protocol):
    """A started service: readiness looks at it, faults act on it (the verbs of a docker
    container: pause, kill, stop, start, update), the watchdog asks whether it still runs."""

    name: str

    def exit_code(self) -> int | None: ...

    def health(self) -> str | None: ...

    def logs(self, lines: int = 40) -> str: ...

    def alive(self) -> bool: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def status(self) -> str: ...

    @property
    def attrs(self) -> dict[str, Any]: ...

    def reload(self) -> None: ...

    def pause(self) -> None: ...

    def unpause(self) -> None: ...

    def kill(self, signal: str = "SIGKILL") -> None: ...

    def stop(self, timeout: int = 5) -> None: ...

    def start(self) -> None: ...

    def update(self, **changes: int) -> None: ...


class Backend(Protocol):
    """Starts services one at a time; stops every one of them when its block ends."""

    name: str

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def start(self, service: Service) -> RunningService: ...
