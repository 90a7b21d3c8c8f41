"""The CLI as a user runs it: exit codes, messages, and no process left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.procs import children_of, exists

pytestmark = pytest.mark.integration

T = TypeVar("T")

# These tests are about lifecycle and verdicts, not the generator's punctuality on a busy
# machine: a generator up to 100 ms late (p99) does not invalidate their runs.
SHORT = """\
name: short
endpoint: {concurrency: 4}
load: {rate: 20, duration_s: %(duration)s, timeout_s: 5, max_lag_ms: 100}
faults:
  - {name: slow, type: latency, target: feature-store, start_s: 1, duration_s: 1,
     attributes: {latency: 50}}
budgets:
  - error_rate < 0.01
  - expect: p50_ms < %(limit)s
    phase: during:slow
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def _write(tmp_path: Path, *, duration: float = 3, limit: float = 1000) -> Path:
    path = tmp_path / "short.yaml"
    path.write_text(SHORT % {"duration": duration, "limit": limit})
    return path


def test_run_passes_writes_results_and_leaves_no_child(tmp_path: Path) -> None:
    report = tmp_path / "out"
    proc = subprocess.Popen(
        _cli("run", str(_write(tmp_path)), "--report-dir", str(report), "--backend", "process"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children: set[int] = set()
    while proc.poll() is None:
        children |= children_of(proc.pid)
        time.sleep(0.05)
    out, err = proc.communicate()
    assert proc.returncode == 0, out + err
    assert len(children) >= 3, children  # toxiproxy, stub, endpoint
    assert not [pid for pid in children if exists(pid)]
    data = json.loads((report / "results.json").read_text())
    assert data["passed"] is True
    assert data["summary"]["requests"] == 60
    assert [f["name"] for f in data["faults"]] == ["slow"]
    assert (report / "report.html").read_text().startswith("<!doctype html>")


def test_violated_budget_exits_1_with_the_verdict_table(tmp_path: Path) -> None:
    run = subprocess.run(
        _cli("run", str(_write(tmp_path, limit=10)), "--report-dir", str(tmp_path / "out")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL" in run.stdout
    assert "p50_ms < 10" in run.stdout
    assert json.loads((tmp_path / "out" / "results.json").read_text())["passed"] is False


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("name: x\nload: {rate: -5, duration_s: 3}\n", "load.rate"),
        ("name: x\nload: {rate: 5, duration_s: 3}\nbudgets: ['p99 < 3']\n", "budgets[0]"),
        ("name: x\nload: {rate: 5, duration_s: 3}\nfaults: [{name: f, type: latency, "
         "target: nowhere, start_s: 0, duration_s: 1}]\n", "faults[0].target"),
    ],
)  # fmt: skip
def test_malformed_scenario_exits_2_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    run = subprocess.run(
        _cli("run", str(path)), capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert field in run.stderr
    assert str(path) in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_file_and_bad_backend_exit_2(tmp_path: Path) -> None:
    missing = subprocess.run(
        _cli("run", str(tmp_path / "nope.yaml")), capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert "nope.yaml" in missing.stderr
    assert "Traceback" not in missing.stderr
    backend = subprocess.run(
        _cli("run", str(_write(tmp_path)), "--backend", "kubernetes"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert backend.returncode == 2
    assert "kubernetes" in backend.stderr


def _start_run(tmp_path: Path, backend: str) -> subprocess.Popen[str]:
    """A 30 s run on ``backend``, long enough to be interrupted in the middle."""
    scenario = str(_write(tmp_path, duration=30))
    return subprocess.Popen(
        _cli("run", scenario, "--report-dir", str(tmp_path / "out"), "--backend", backend),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _collect_until(
    proc: subprocess.Popen[str], found: Callable[[], set[T]], timeout_s: float
) -> set[T]:
    """Poll ``found`` until it names the three services, the run ends, or time is up."""
    deadline = time.monotonic() + timeout_s
    seen: set[T] = set()
    while len(seen) < 3 and time.monotonic() < deadline and proc.poll() is None:
        seen |= found()
        time.sleep(0.1)
    assert len(seen) >= 3, seen  # toxiproxy, stub, endpoint
    return seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_stops_every_child(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _start_run(tmp_path, "process")
    children = _collect_until(proc, lambda: children_of(proc.pid), timeout_s=30)
    time.sleep(2.0)  # the endpoint is up and load is flowing
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert not [pid for pid in children if exists(pid)]


def test_sigint_mid_run_on_docker_leaves_no_labelled_container(tmp_path: Path) -> None:
    from harness.system.backends.docker import connect, unavailable_reason
    from harness.system.backends.docker.labels import run_containers

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"docker backend unavailable: {reason}")
    client = connect()
    before = {c.id for c in run_containers(client)}
    proc = _start_run(tmp_path, "docker")
    started = _collect_until(
        proc, lambda: {c.id for c in run_containers(client)} - before, timeout_s=120
    )
    time.sleep(3.0)  # the endpoint answers and load is flowing
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert not started & {c.id for c in run_containers(client)}
    assert not children_of(proc.pid)
    client.close()
