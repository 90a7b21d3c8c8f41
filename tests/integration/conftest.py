"""Fixtures of the integration tier: the reference endpoint and the stub served in-process on
loopback, and the CLI run as a user runs it. The default topology behind Toxiproxy comes from
the plugin's ``chaos_topology`` and ``chaos_proxies``."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from harness.servers.endpoint import EndpointConfig
from harness.servers.endpoint import make_app as make_endpoint_app
from harness.servers.stub import StubConfig
from harness.servers.stub import make_app as make_stub_app
from tests.cli import CliRun, StartCli
from tests.serving import Client, ServeEndpoint, ServeStub


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[Client]:
    # TestServer binds 127.0.0.1 on a port the kernel picks, in the running event loop.
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
def serve_endpoint() -> ServeEndpoint:
    """The reference endpoint's app, configured by ``config`` (defaults otherwise)."""

    @asynccontextmanager
    async def serve(config: EndpointConfig | None = None) -> AsyncIterator[Client]:
        async with _serve(make_endpoint_app(config or EndpointConfig())) as client:
            yield client

    return serve


@pytest.fixture
def serve_stub() -> ServeStub:
    """The feature-store stub's app, with HTTP faults switched on when some are given."""

    @asynccontextmanager
    async def serve(
        config: StubConfig | None = None, *, faults: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[Client]:
        async with _serve(make_stub_app(config or StubConfig())) as stub:
            if faults:
                body = {"faults": faults}
                async with stub.put("/_chaos/faults/test", json=body) as resp:
                    assert resp.status == 200, await resp.text()
            yield stub

    return serve


def _as_from_a_terminal() -> None:
    # A suite started in the background (nohup, `cmd &`) hands its children SIGINT ignored,
    # and Python then leaves it ignored: the CLI is started as a terminal would start it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def start_cli(tmp_path: Path) -> Iterator[StartCli]:
    """``start_cli("run", path, ...)`` starts ``python -m harness.cli`` as a child whose output
    goes to files, so a test can read it while the run goes on; whatever still runs at the end
    of the test is stopped, so a failed assertion leaves no run behind."""
    started: list[CliRun] = []

    def start(*args: str) -> CliRun:
        index = len(started)
        out, err = tmp_path / f"cli-{index}.out", tmp_path / f"cli-{index}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", *args],
                stdout=stdout,
                stderr=stderr,
                preexec_fn=_as_from_a_terminal,
            )
        run = CliRun(proc, out, err)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.proc.poll() is not None:
            continue
        # SIGTERM first: the CLI then tears its services down, which a kill would leave to
        # the children's own death signal.
        run.proc.terminate()
        try:
            run.proc.wait(30)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait(30)
