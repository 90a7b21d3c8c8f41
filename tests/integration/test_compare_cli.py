"""`serving-chaos compare` on two real runs of one scenario on the process backend, as a user
runs it: the same build twice is within tolerance (exit 0); the same run with its p99 made
half as long again is a regression (exit 1)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

# A fixed 100 ms of service time sets the latency, so run-to-run noise (a few ms on a busy
# machine) is small against it. The generator may be up to 100 ms late (p99) before the run
# counts as invalid: this test is about comparing, not about the generator's punctuality.
SCENARIO = """\
name: compare-steady
endpoint: {concurrency: 8, service_time_ms: 100}
load: {rate: 20, duration_s: 3, timeout_s: 5, max_lag_ms: 100}
budgets:
  - error_rate < 0.01
  - p99_ms < 2000
"""
# Two runs of one build on a shared two-core machine: what a CI user would allow them.
TOLERANCE = "25%"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Report folders of two runs of the same scenario, one after the other."""
    root = tmp_path_factory.mktemp("compare")
    scenario = root / "steady.yaml"
    scenario.write_text(SCENARIO)
    folders = []
    for name in ("before", "after"):
        folder = root / name
        ran = _cli("run", str(scenario), "--backend", "process", "--report-dir", str(folder))
        assert ran.returncode == 0, ran.stdout + ran.stderr
        folders.append(folder)
    return folders[0], folders[1]


def test_two_runs_of_the_same_build_are_within_tolerance(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    before, after = two_runs
    out = tmp_path / "compare"

    ran = _cli(
        "compare", str(before), str(after), "--tolerance", TOLERANCE, "--report-dir", str(out)
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "NO REGRESSION: compare-steady" in ran.stdout
    written = json.loads((out / "compare.json").read_text())
    assert written["regressions"] == []
    p99 = written["phases"]["overall"]["p99_ms"]
    # Both runs measured, both around the 100 ms of service time.
    assert 100 <= p99["baseline"] < 500
    assert 100 <= p99["candidate"] < 500
    assert abs(p99["relative"]) <= 0.25
    assert [b["outcome"] for b in written["budgets"]] == ["pass", "pass"]
    html = (out / "compare.html").read_text()
    # Both runs drawn: a line with points for each, named in its hover title.
    for run in ("baseline", "candidate"):
        assert re.search(rf'<path class="line" d="M[^"]+"[^>]*><title>{run} \(ms\)', html), run


def test_the_same_run_with_a_longer_p99_is_a_regression(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    after = two_runs[1]
    data: dict[str, Any] = json.loads((after / "results.json").read_text())
    p99 = data["phases"]["overall"]["p99_ms"]
    data["phases"]["overall"]["p99_ms"] = p99 * 1.5
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(data))
    out = tmp_path / "compare"

    ran = _cli("compare", str(after), str(slower), "--report-dir", str(out))

    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "REGRESSED: compare-steady" in ran.stdout
    assert "regressed: p99_ms [overall]" in ran.stdout
    assert "(+50.0%)" in ran.stdout
    written = json.loads((out / "compare.json").read_text())
    assert written["phases"]["overall"]["p99_ms"]["relative"] == pytest.approx(0.5)
    assert [r.split(":")[0] for r in written["regressions"]] == ["p99_ms [overall]"]
