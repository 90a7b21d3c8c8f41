"""Child processes with an owner: started in their own session, tied to our life, always reaped."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.errors import TopologyError
from harness.system.readiness import HttpReady

__all__ = ["ChildProcess", "ProcessService", "running"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the harness is SIGKILLed, the kernel sends
    # SIGTERM to the child, so nothing outlives a run that could not tear down.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# The kernel ties the death signal to the thread that forked, not to the process: a child
# started from a short-lived thread (a restart run with asyncio.to_thread) would be killed the
# moment that thread ends. Other threads fork from this one, which lives as long as we do.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serving-chaos-spawner")


def _spawn(argv: list[str], log: IO[bytes], env: dict[str, str]) -> subprocess.Popen[bytes]:
    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    if threading.current_thread() is threading.main_thread():
        return popen()
    return _SPAWNER.submit(popen).result()


@dataclass(slots=True)
class ChildProcess:
    """A named child process whose output goes to a log file we can quote on failure."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise TopologyError(f"{self.name} was never started")
        return self.popen.pid

    def start(self, log_dir: Path | None = None) -> None:
        directory = log_dir or Path(tempfile.gettempdir())
        directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / f"{self.name}.log"
        # Append: a restarted service keeps the log of its previous life.
        self._log = self.log_path.open("ab")
        env = {**os.environ, **(self.env or {})}
        try:
            self.popen = _spawn(list(self.argv), self._log, env)
        except OSError as exc:
            self._log.close()
            raise TopologyError(f"could not start {self.name} ({self.argv[0]}): {exc}") from exc

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def health(self) -> str | None:
        return None

    def logs(self, lines: int = 40) -> str:
        return self.tail(lines)

    def tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the child's whole process group, then SIGKILL what is left after ``grace_s``."""
        if self.popen is not None and self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            # A paused (SIGSTOP) service only acts on SIGTERM once it runs again.
            self._signal_group(signal.SIGCONT)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=grace_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the child's whole process group, if it is still there."""
        self._signal_group(sig)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)


@contextmanager
def running(
    child: ChildProcess, ready: HttpReady, log_dir: Path | None = None
) -> Iterator[ChildProcess]:
    """``child`` started and answering ``ready`` for the block; stopped when the block ends,
    however it ends, also when it never became ready."""
    try:
        child.start(log_dir)
        ready.wait(child)
        yield child
    finally:
        child.stop()


class ProcessService:
    """A child process behind the verbs container faults use on a docker container, so pause,
    crash and stop scenarios run on the process backend too. Resource limits need cgroups and
    are refused with a clear error."""

    def __init__(self, child: ChildProcess, log_dir: Path) -> None:
        self.name = child.name
        self._child = child
        self._log_dir = log_dir
        self._paused = False

    def exit_code(self) -> int | None:
        return self._child.exit_code()

    def health(self) -> str | None:
        return None

    def logs(self, lines: int = 40) -> str:
        return self._child.tail(lines)

    def alive(self) -> bool:
        return self._child.alive()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child.popen is not None else None

    @property
    def status(self) -> str:
        if not self._child.alive():
            return "exited"
        return "paused" if self._paused else "running"

    def reload(self) -> None:
        return None

    def pause(self) -> None:
        self._child.send_signal(signal.SIGSTOP)
        self._paused = True

    def unpause(self) -> None:
        self._child.send_signal(signal.SIGCONT)
        self._paused = False

    def kill(self, signal: str = "SIGKILL") -> None:
        self._child.send_signal(_signal_named(signal))
        if self._child.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.popen.wait(timeout=5)

    def stop(self, timeout: int = 5) -> None:
        self._child.stop(grace_s=timeout)

    def start(self) -> None:
        if not self._child.alive():
            self._child.start(self._log_dir)
            self._paused = False

    @property
    def attrs(self) -> dict[str, Any]:
        raise TopologyError(_NO_LIMITS)

    def update(self, **changes: int) -> None:
        raise TopologyError(_NO_LIMITS)


_NO_LIMITS = "CPU and memory limits need the docker backend (--backend docker)"


def _signal_named(name: str) -> signal.Signals:
    try:
        return signal.Signals[name]
    except KeyError as exc:
        raise TopologyError(f"expected a signal name such as SIGKILL but got {name!r}") from exc
