"""A service that dies during a run: the harness's own (Toxiproxy) ends the run as invalid with
exit 3 and partial reports; one of the system under test is a finding and the run goes on."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.report import explain_failures
from harness.run.runner import run_on
from harness.scenario import LoadSpec, Scenario
from harness.system import Topology
from tests.cli import LOAD_ANSWERED, StartCli
from tests.procs import children_of, exists
from tests.waiting import eventually

pytestmark = pytest.mark.integration

LONG = """\
name: long
load: {rate: 20, duration_s: 20, timeout_s: 2, max_lag_ms: 100}
budgets:
  - error_rate < 0.5
"""


def _toxiproxy_child(parent: int) -> int | None:
    for pid in children_of(parent):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"toxiproxy-server" in cmdline:
            return pid
    return None


def test_toxiproxy_dying_mid_run_exits_3_with_partial_reports_and_no_leftovers(
    tmp_path: Path, start_cli: StartCli
) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG)
    report = tmp_path / "out"
    run = start_cli("run", str(scenario), "--backend", "process", "--report-dir", str(report))
    # The instrument (Toxiproxy) goes away mid-run, once requests have been measured.
    run.wait_for(LOAD_ANSWERED, 60)
    children = children_of(run.proc.pid)
    victim = _toxiproxy_child(run.proc.pid)
    assert victim is not None, children
    started = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    code = run.proc.wait(30)
    ended_after_s = time.monotonic() - started
    out, err = run.stdout(), run.stderr()
    assert code == 3, out + err
    assert "toxiproxy" in err, err
    assert "invalid" in err, err
    assert "Traceback" not in err
    # Ended at once, not after the remaining ~17 s of load.
    assert ended_after_s < 10, ended_after_s
    results = json.loads((report / "results.json").read_text())
    assert results["valid"] is False
    assert results["passed"] is False
    assert any("toxiproxy" in note for note in results["notes"])
    assert results["summary"]["requests"] > 0
    assert (report / "report.html").is_file()
    eventually(lambda: not any(exists(pid) for pid in children), 10, what="no child left running")


def test_an_endpoint_that_dies_without_a_fault_is_a_finding_and_the_run_goes_on(
    chaos_topology: Topology,
) -> None:
    # Killing a container makes the Docker engine busy for a moment on a small machine; the
    # generator's lag bound is loosened so that only the death itself is under test.
    scenario = Scenario(
        name="unexplained", load=LoadSpec(rate=20, duration_s=4, timeout_s=1, max_lag_ms=500)
    )
    endpoint = chaos_topology.container("endpoint")

    def kill_endpoint() -> None:
        time.sleep(1.5)
        endpoint.kill()

    killer = threading.Thread(target=kill_endpoint)
    killer.start()
    try:
        result = run_on(chaos_topology, scenario)
    finally:
        killer.join()
        # Leave the session topology as it was: the next test's reset would restart it anyway.
        chaos_topology.reset()
    assert "endpoint" in result.deaths
    assert 1.0 <= result.deaths["endpoint"] <= 3.5, result.deaths
    assert result.valid, result.notes
    assert result.phases["overall"].errors > 0
    assert result.duration_s >= 3.5
    assert result.to_json()["deaths"] == result.deaths
    assert any("endpoint died at" in line for line in explain_failures(result))
