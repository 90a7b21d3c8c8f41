"""`serving-chaos` in tests: run in-process for its answers to bad input (the unit tier's
``cli`` fixture), or as a child that really starts services (the integration tier's
``start_cli``)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from harness.cli import main
from tests.waiting import eventually


@dataclass(frozen=True, slots=True)
class CliResult:
    """How an in-process ``main(argv)`` ended: its exit code and what it wrote."""

    code: int
    out: str
    err: str


class Cli(Protocol):
    """The unit tier's ``cli`` fixture: ``cli("run", "bad.yaml")``."""

    def __call__(self, *argv: str) -> CliResult: ...


def run_main(capture: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    """``main(argv)`` as ``python -m harness.cli`` would run it, with what it wrote."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        # argparse refuses bad flags by exiting, with its usage message on stderr.
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capture.readouterr()
    return CliResult(code, out, err)


# Progress lines of `serving-chaos run`, one a second once the load runs (so every service is
# up): "t=  1.0/30s  waiting for responses", then "t=  2.0/30s  rate 20/s  p99 ..." for a
# second in which answers came back.
LOAD_RUNNING = re.compile(r"^t=\s*[\d.]+/")
LOAD_ANSWERED = re.compile(r"^t=.*\brate [1-9]\d*/s")


@dataclass(frozen=True, slots=True)
class CliRun:
    """A ``python -m harness.cli`` child writing its output to files, which a test reads while
    the child runs."""

    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for(self, progress: re.Pattern[str], timeout_s: float) -> str:
        """Wait until a line of stderr matches ``progress`` (``LOAD_RUNNING``: mid-run, so a
        signal or a fault lands while the load runs; ``LOAD_ANSWERED``: requests have been
        measured too), and return it. Fails at once if the run ends first."""

        def seen() -> str:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"the run ended (exit {self.proc.returncode}) before {progress.pattern!r}:\n"
                    f"{self.stderr()}"
                )
            return next((line for line in self.stderr().splitlines() if progress.match(line)), "")

        return eventually(seen, timeout_s, what=f"a stderr line matching {progress.pattern!r}")


class StartCli(Protocol):
    """The integration tier's ``start_cli`` fixture: ``start_cli("run", path, ...)``."""

    def __call__(self, *args: str) -> CliRun: ...
