"""Fixtures of the unit tier. Nothing here starts a server or a process: what needs one
belongs to tests/integration."""

from __future__ import annotations

import pytest

from tests.cli import Cli, run_main


@pytest.fixture
def cli(capfd: pytest.CaptureFixture[str]) -> Cli:
    """``cli("run", "bad.yaml")``: ``serving-chaos`` run in-process for arguments it refuses
    before starting anything; the exit code and the output, read at the file descriptors so
    nothing written below Python's streams is missed."""
    return lambda *argv: run_main(capfd, *argv)
