"""The process backend: each service a child process on this machine, in its own session,
logging to a file, stopped when the backend's block ends however it ends."""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self

from harness.errors import TopologyError, UsageError
from harness.system.backends.base import (
    Command,
    Harness,
    Image,
    Program,
    Remote,
    RunningService,
    Service,
    Toxiproxy,
)
from harness.system.backends.children import ChildProcess, ProcessService, running
from harness.system.backends.remote import reach

__all__ = ["ProcessBackend"]


class ProcessBackend:
    """Starts services as child processes; ``toxiproxy`` is the toxiproxy-server binary.

    Logs go to ``log_dir``, or to a temporary folder removed at the end.
    """

    def __init__(self, toxiproxy: Path, *, log_dir: Path | None = None, name: str = "process"):
        self.name = name
        self.log_dir = log_dir
        self._toxiproxy = toxiproxy
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="serving-chaos-"))
            self._stack.callback(shutil.rmtree, self.log_dir, True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def start(self, service: Service) -> RunningService:
        if isinstance(service.program, Remote):
            return reach(service)
        if self.log_dir is None:
            raise TopologyError("start services inside the backend's `with` block")
        argv = self._argv(service.program)
        child = ChildProcess(service.name, argv, env=service.env or None)
        self._stack.enter_context(running(child, service.ready, self.log_dir))
        return ProcessService(child, self.log_dir)

    def _argv(self, program: Program) -> list[str]:
        if isinstance(program, Toxiproxy):
            return [str(self._toxiproxy), *program.args]
        if isinstance(program, Harness):
            return [sys.executable, "-m", "harness.cli", *program.args]
        if isinstance(program, Command):
            return list(program.argv)
        if isinstance(program, Image):
            raise UsageError("a target image needs the docker backend (--backend docker)")
        raise UsageError(f"the process backend cannot start {program!r}")
