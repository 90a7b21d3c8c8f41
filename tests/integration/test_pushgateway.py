"""`serving-chaos run --pushgateway URL --prometheus-textfile FILE` as a user runs it, against a
Pushgateway stand-in on 127.0.0.1 that records what it is sent: the pushed body and the textfile
parse with prometheus_client's parser and hold the run's figures; a Pushgateway that cannot be
reached is a warning naming it, and the verdict's exit code stands."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.report.metrics_export import ExportError, push_metrics, run_registry

pytestmark = pytest.mark.integration

SCENARIO = """\
name: pushed-run
endpoint: {concurrency: 4}
load: {rate: 20, duration_s: 3, timeout_s: 5, max_lag_ms: 100}
budgets:
  - error_rate < 0.01
  - p99_ms < 2000
"""


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    body: bytes


@dataclass
class StandIn:
    """A Pushgateway stand-in: answers ``status`` to every push and keeps each request."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def pushgateway() -> Iterator[StandIn]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    stand_in = StandIn(f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            stand_in.received.append(Received(self.command, self.path, self.rfile.read(length)))
            self.send_response(stand_in.status)
            self.end_headers()
            if stand_in.status >= 400:
                self.wfile.write(b"pushed metrics are invalid or inconsistent")

        do_PUT = do_POST = _record

        def log_message(self, format: str, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _run(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    scenario = tmp_path / "pushed.yaml"
    scenario.write_text(SCENARIO)
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--backend", "process",
         "--report-dir", str(tmp_path / "out"), *flags],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_run_pushes_and_writes_its_metrics(tmp_path: Path, pushgateway: StandIn) -> None:
    textfile = tmp_path / "chaos.prom"

    ran = _run(tmp_path, "--pushgateway", pushgateway.url, "--prometheus-textfile", str(textfile))

    assert ran.returncode == 0, ran.stdout + ran.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    [push] = pushgateway.received
    assert push.method == "PUT"
    assert push.path == "/metrics/job/serving_chaos/scenario/pushed-run"
    assert f"pushed metrics to {pushgateway.url}{push.path}" in ran.stdout
    assert f"wrote metrics to {textfile}" in ran.stdout
    for text in (push.body.decode(), textfile.read_text()):
        values = _values(text)
        scenario = (("scenario", "pushed-run"),)
        assert values[("serving_chaos_run_passed", scenario)] == 1
        overall = (("phase", "overall"), *scenario)
        assert values[("serving_chaos_phase_requests", overall)] == results["summary"]["requests"]
        p99 = values[("serving_chaos_phase_latency_seconds", (*overall[:1], ("quantile", "0.99"),
                                                              *scenario))]  # fmt: skip
        assert p99 == pytest.approx(results["summary"]["p99_ms"] / 1000)
    assert results["summary"]["requests"] == 60


def test_an_unreachable_pushgateway_is_a_warning_and_the_verdict_stands(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    ran = _run(tmp_path, "--pushgateway", url)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "PASS" in ran.stdout
    assert (
        f"serving-chaos: warning: could not push metrics to the Pushgateway at {url} "
        "(caused by ConnectionRefusedError" in ran.stderr
    )
    assert "the verdict and exit code above stand" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert json.loads((tmp_path / "out" / "results.json").read_text())["passed"] is True


def test_a_push_the_pushgateway_refuses_says_what_it_answered(pushgateway: StandIn) -> None:
    pushgateway.status = 400
    data = {"scenario": "a/b", "passed": True, "budgets": [], "phases": {}}

    with pytest.raises(ExportError) as caught:
        push_metrics(run_registry(data), pushgateway.url, {"scenario": "a/b"})

    message = str(caught.value)
    assert f"the Pushgateway at {pushgateway.url} refused the metrics: HTTP 400" in message
    assert "pushed metrics are invalid or inconsistent" in message
    # A "/" in the grouping key is sent base64-encoded, as the Pushgateway expects.
    [push] = pushgateway.received
    assert push.path == "/metrics/job/serving_chaos/scenario@base64/YS9i"
