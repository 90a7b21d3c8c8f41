"""Certification of the reference endpoint with known settings: the capacity search finds the
rate its units and service time imply, the concurrency sweep's knee is its provisioned
concurrency, a kill is recovered from in about the time the endpoint takes to start; an
under-provisioned endpoint is not ready, and the certificate says which check and number."""

from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.certify import certify, load_readiness, write_certificate
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady
from tests.cli import StartCli

# The capacity search and the concurrency sweep find what the endpoint carries: another test
# sharing the machine would change the answer.
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

# 4 units of 40 ms: at most 100 req/s, a little less with the model's own time and the
# feature lookup (no cache: every call pays for it, as in the baseline).
SIZED = "endpoint: {concurrency: 4, service_time_ms: 40, max_queue: 64}\n"


def _startup_s(tmp_path: Path) -> float:
    """How long the reference endpoint takes from its start to its first healthy answer."""
    port = free_port()
    child = ChildProcess(
        "endpoint",
        [sys.executable, "-m", "harness.cli", "endpoint", "--host", LOOPBACK, "--port", str(port)],
    )
    started = time.monotonic()
    with running(child, HttpReady(f"http://{LOOPBACK}:{port}/health", timeout_s=20), tmp_path):
        return time.monotonic() - started


def test_the_reference_endpoint_certifies_with_the_numbers_its_settings_imply(
    tmp_path: Path,
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "name: sized\n" + SIZED + "goal: {target_qps: 50, p99_ms: 300, error_rate: 0.01,\n"
        "       degraded_error_rate: 0.6}\n"
    )
    spec = load_readiness(spec_file)
    certificate = certify(spec, backend="process")
    written = write_certificate(certificate, tmp_path / "out", tmp_path / "junit.xml")
    checks = {check.name: check for check in certificate.checks}

    assert list(checks) == [
        "baseline",
        "capacity",
        "concurrency",
        "surge",
        "dependencies",
        "restart",
        "cold_start",
    ]
    # Its units never go: nothing to start cold.
    assert checks["cold_start"].passed is None
    capacity = checks["capacity"].numbers["capacity_rps"]
    # What 4 units of 40 ms (plus the model's own time and the feature lookup) carry at most:
    # the closed-loop sweep's peak throughput. The open-loop search finds that rate within its
    # bisection step and the p99 goal's margin.
    carried = checks["concurrency"].numbers["knee_throughput_rps"]
    assert 75 <= carried <= 100
    assert capacity == pytest.approx(carried, rel=0.15)
    assert checks["capacity"].passed
    assert [point["rate"] for point in checks["capacity"].curve] == sorted(
        point["rate"] for point in checks["capacity"].curve
    )
    concurrency = checks["concurrency"].numbers
    assert concurrency["knee_concurrency"] == concurrency["provisioned_concurrency"] == 4
    # Little's law on the baseline: 50 req/s x ~45 ms.
    assert concurrency["required_concurrency"] == 3
    restart = checks["restart"].numbers["recovery_time_s"]
    assert restart is not None
    assert abs(restart - _startup_s(tmp_path)) <= 1.0
    surge = checks["surge"].numbers
    assert surge["x4"]["429"] > 0
    assert surge["x4"]["5xx"] == 0

    data = json.loads(written[0].read_text())
    assert data["spec"]["sha256"] == spec.sha256
    assert data["recommendation"]["min_provisioned_concurrency"] == 3
    assert {c["name"] for c in data["checks"]} == set(checks)
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    names = [case.get("name") for case in suite.iter("testcase")]
    assert set(checks) <= set(names)
    assert "READY" in written[1].read_text()


def test_an_under_provisioned_endpoint_is_not_ready_and_says_why(
    tmp_path: Path, start_cli: StartCli
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "name: small\nendpoint: {concurrency: 1, service_time_ms: 40}\n"
        "goal: {target_qps: 50, p99_ms: 300}\nchecks: [capacity]\n"
    )
    run = start_cli("certify", str(spec_file), "--backend", "process", "--report-dir",
                    str(tmp_path / "out"))  # fmt: skip
    assert run.proc.wait(timeout=180) == 1, run.stderr()
    data = json.loads((tmp_path / "out" / "certificate.json").read_text())
    assert data["ready"] is False
    (check,) = data["checks"]
    assert check["name"] == "capacity"
    assert check["verdict"] == "fail"
    # One unit of 40 ms carries 25 req/s at most.
    assert check["numbers"]["capacity_rps"] == pytest.approx(25, rel=0.3)
    assert "small: NOT READY" in run.stdout()
    assert "capacity" in run.stdout()


def test_a_cold_start_is_timed_after_the_endpoint_scales_to_zero(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "name: scales-to-zero\n"
        "endpoint: {concurrency: 2, min_concurrency: 0, cold_start_s: 1.5,\n"
        "           scale_to_zero_idle_s: 1, scale_stable_window_s: 1,\n"
        "           scale_panic_window_s: 0.5, scale_reaction_delay_s: 0.5}\n"
        "goal: {target_qps: 10, p99_ms: 3000, cold_start_s: 4}\n"
        "checks: [cold_start]\n"
    )
    certificate = certify(load_readiness(spec_file), backend="process")
    (check,) = certificate.checks
    assert check.passed, check.summary
    # Scaled to zero, the first call waits for a unit to load: about cold_start_s.
    assert 1.5 <= check.numbers["first_answer_s"] <= 1.5 + 1.0
    assert check.numbers["status"] == 200
    assert check.numbers["scaled_to_zero"] is True
