"""Declared dependencies end to end: a server nobody here configured specially, its two external
APIs stubbed as routes, HTTP faults on a stub and on the client's hop, on both backends; and a
real API recorded through a proxy dependency, then replayed offline."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

from harness.run.runner import run_scenario
from harness.scenario import load_scenario, parse_scenario
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady
from harness.verdict.results import RunResult

pytestmark = pytest.mark.integration

SHIPPED = (
    Path(__file__).resolve().parents[2] / "suites" / "scenarios" / "own_server_dependencies.yaml"
)


def _verdicts(result: RunResult) -> list[str]:
    """Why a run did not pass: its notes and each broken budget with what was observed."""
    broken = [
        f"{r.budget.expression} [{r.budget.phase}]: observed {r.observed} {r.note}".rstrip()
        for r in result.budgets
        if not r.passed
    ]
    return result.notes + broken


def test_shipped_multi_dependency_scenario_passes_with_each_fault_where_it_was_aimed() -> None:
    # On the process backend; suites/test_scenarios.py runs the same scenario on docker.
    result = run_scenario(load_scenario(SHIPPED), backend="process")

    assert result.backend == "process"
    assert result.passed, _verdicts(result)
    features = result.dependencies["features-api"]
    enrichment = result.dependencies["enrichment-api"]
    # Two records per request, one lookup each, for every request the fault layer let through.
    assert 1.0 <= features["calls_per_request"] <= 2.0
    assert set(features["statuses"]) == {"200"}
    # The rate limit answered 429 to the server, which scored without enrichment meanwhile.
    assert enrichment["statuses"].get("429", 0) > 10
    assert enrichment["faults_injected"]["rate_limit"] == enrichment["statuses"]["429"]
    # The burst of 503s came from the client's hop, not from the server.
    hop = result.endpoint_hop
    assert hop is not None
    assert hop["statuses"]["503"] == hop["faults_injected"]["abort"] > 10
    assert result.phases["during:endpoint-503-burst"].errors_by_class().keys() == {"503"}


def test_a_real_api_recorded_through_a_proxy_is_replayed_with_its_latency(
    tmp_path: Path,
) -> None:
    # The "real" API: a feature store on loopback that takes about 30 ms per call.
    port = free_port()
    api = f"http://{LOOPBACK}:{port}"
    child = ChildProcess(
        "real-api",
        [sys.executable, "-m", "harness.cli", "stub", "--host", LOOPBACK, "--port", str(port)],
    )
    recording = tmp_path / "feature-store.json"
    load = "load: {rate: 20, duration_s: 3, keyspace: 30, timeout_s: 5}\n"
    with running(child, HttpReady(f"{api}/health", timeout_s=20), tmp_path):
        _put_delay(api, 30)
        recorded = run_scenario(
            parse_scenario(
                "name: record\n"
                "dependencies:\n"
                f"  feature-store: {{kind: proxy, upstream: '{api}', record: '{recording}'}}\n"
                + load
            ),
            backend="process",
        )
    assert recorded.phases["overall"].errors == 0
    saved = json.loads(recording.read_text())
    exchanges = saved["exchanges"]
    assert len(exchanges) == recorded.dependencies["feature-store"]["calls"] >= 50
    recorded_median = statistics.median(e["latency_ms"] for e in exchanges)
    assert recorded_median >= 30

    # Offline: the same calls answered from the recording, the real API gone.
    replayed = run_scenario(
        parse_scenario(
            "name: replay\n"
            f"dependencies:\n  feature-store: {{kind: replay, file: '{recording}'}}\n" + load
        ),
        backend="process",
    )
    seen = replayed.dependencies["feature-store"]
    assert replayed.phases["overall"].errors == 0
    assert seen["unmatched"] == 0
    assert set(seen["statuses"]) == {"200"}
    recorded_p50 = recorded.phases["overall"].value("p50_ms") or 0.0
    replayed_p50 = replayed.phases["overall"].value("p50_ms") or 0.0
    assert replayed_p50 == pytest.approx(recorded_p50, rel=0.2)


def _put_delay(url: str, ms: float) -> None:
    import urllib.request

    body = json.dumps({"faults": [{"kind": "delay", "latency": ms}]}).encode()
    request = urllib.request.Request(
        f"{url}/_chaos/faults/slow", data=body, method="PUT",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as response:
        assert response.status == 200
