"""The CLI as a user runs it: exit codes, messages, and no process left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import LOAD_RUNNING, CliRun, StartCli
from tests.procs import children_of, exists
from tests.waiting import eventually

pytestmark = pytest.mark.integration

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


def _write(tmp_path: Path, *, duration: float = 3, limit: float = 1000) -> Path:
    path = tmp_path / "short.yaml"
    path.write_text(SHORT % {"duration": duration, "limit": limit})
    return path


def test_run_passes_writes_results_and_leaves_no_child(tmp_path: Path, start_cli: StartCli) -> None:
    report = tmp_path / "out"
    scenario = str(_write(tmp_path))
    run = start_cli("run", scenario, "--report-dir", str(report), "--backend", "process")
    children: set[int] = set()

    def ended() -> bool:
        # Every child the run has while it runs, so none can escape the check that follows.
        children.update(children_of(run.proc.pid))
        return run.proc.poll() is not None

    # Reading /proc is not free: every 50 ms leaves the machine to the run it watches.
    eventually(ended, 120, what="the run to end", poll_s=0.05)
    assert run.proc.returncode == 0, run.stdout() + run.stderr()
    assert len(children) >= 3, children  # toxiproxy, stub, endpoint
    assert not [pid for pid in children if exists(pid)]
    data = json.loads((report / "results.json").read_text())
    assert data["passed"] is True
    assert data["summary"]["requests"] == 60
    assert [f["name"] for f in data["faults"]] == ["slow"]
    assert (report / "report.html").read_text().startswith("<!doctype html>")


def test_violated_budget_exits_1_with_the_verdict_table(tmp_path: Path) -> None:
    scenario = str(_write(tmp_path, limit=10))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            scenario,
            "--report-dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL" in run.stdout
    assert "p50_ms < 10" in run.stdout
    assert json.loads((tmp_path / "out" / "results.json").read_text())["passed"] is False


def _start_run(start_cli: StartCli, tmp_path: Path, backend: str) -> CliRun:
    """A 30 s run on ``backend``, long enough to be interrupted in the middle."""
    scenario = str(_write(tmp_path, duration=30))
    return start_cli("run", scenario, "--report-dir", str(tmp_path / "out"), "--backend", backend)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_stops_every_child(
    tmp_path: Path, start_cli: StartCli, sig: signal.Signals
) -> None:
    run = _start_run(start_cli, tmp_path, "process")
    run.wait_for(LOAD_RUNNING, 60)
    children = children_of(run.proc.pid)
    assert len(children) >= 3, children  # toxiproxy, stub, endpoint
    run.proc.send_signal(sig)
    code = run.proc.wait(30)
    assert code == 130, run.stdout() + run.stderr()
    assert "interrupted" in run.stderr()
    assert not [pid for pid in children if exists(pid)]


def test_sigint_mid_run_on_docker_leaves_no_labelled_container(
    tmp_path: Path, start_cli: StartCli
) -> None:
    from harness.system.backends.docker import connect, unavailable_reason
    from harness.system.backends.docker.labels import run_containers

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"docker backend unavailable: {reason}")
    client = connect()
    before = {c.id for c in run_containers(client)}
    run = _start_run(start_cli, tmp_path, "docker")
    # Generous: the first run on a host may build the serving image.
    run.wait_for(LOAD_RUNNING, 180)
    started = {c.id for c in run_containers(client)} - before
    assert len(started) >= 3, started  # toxiproxy, stub, endpoint
    run.proc.send_signal(signal.SIGINT)
    code = run.proc.wait(60)
    assert code == 130, run.stdout() + run.stderr()
    assert not started & {c.id for c in run_containers(client)}
    assert not children_of(run.proc.pid)
    client.close()
