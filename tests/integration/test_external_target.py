"""Toxiproxy in front of an endpoint the harness did not start (here: one this test starts)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import TopologyError
from harness.run.runner import run_scenario
from harness.scenario import parse_scenario
from harness.system.backends.children import ChildProcess
from harness.system.ports import free_port
from harness.system.readiness import HttpReady

pytestmark = pytest.mark.integration


@pytest.fixture
def own_endpoint(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "harness.cli", "endpoint", "--port", str(port)]
    child = ChildProcess("user-endpoint", argv)
    child.start(tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        HttpReady(f"{url}/health").wait(child)
        yield url
    finally:
        child.stop()


def test_a_latency_toxic_in_front_of_a_users_endpoint_shows_in_its_phase(own_endpoint: str) -> None:
    scenario = parse_scenario(
        f"name: byo\ntarget: {{url: '{own_endpoint}', metrics_path: /metrics}}\n"
        "load: {rate: 20, duration_s: 3}\nfaults:\n"
        "  - {name: slow, type: latency, target: endpoint, start_s: 1, duration_s: 1,\n"
        "     attributes: {latency: 80}}\n"
        "budgets: ['error_rate == 0']\n"
    )
    result = run_scenario(scenario)

    assert result.backend == "url"
    assert result.passed, result.budgets
    assert (result.phases["during:slow"].value("p50_ms") or 0) >= 80
    assert (result.phases["baseline"].value("p50_ms") or 1000) < 80
    assert result.phases["overall"].tally.queue_depth == 0  # the user's /metrics was scraped


def test_an_unreachable_target_is_a_clear_error_before_anything_starts(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    text = f"name: nowhere\ntarget: {{url: '{url}'}}\nload: {{rate: 5, duration_s: 1}}\n"
    with pytest.raises(TopologyError, match="does not answer"):
        run_scenario(parse_scenario(text))
    path = tmp_path / "nowhere.yaml"
    path.write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(path), "--backend", "process"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 3
    assert f"{url}/health" in run.stderr
    assert "Traceback" not in run.stderr
