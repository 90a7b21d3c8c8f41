"""The shipped incidents: each replay reproduces its incident on the endpoint configured as it
was, and passes, without reproducing it, on a resilient configuration.

Each incident's runs go through the CLI as a user would run them, side by side (they are light:
under 300 req/s each), and every assertion reads what the user gets: the exit code, results.json
and report.html.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from suites.incidents.make_sources import INCIDENTS, make_copy

# Each incident runs its two configurations side by side already: with another test on the
# same 2 cores a resilient configuration can miss its budget.
pytestmark = pytest.mark.exclusive

HERE = Path(__file__).parent / "incidents"
RUN_TIMEOUT_S = 150


def _run_side_by_side(scenarios: dict[str, Path], out: Path) -> dict[str, tuple[int, Any, str]]:
    """Run each scenario with the CLI at once: name -> (exit code, results.json, report.html)."""
    started = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "run",
                str(path),
                "--backend",
                "process",
                "--report-dir",
                str(out / name),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, path in scenarios.items()
    }
    finished = {}
    try:
        for name, process in started.items():
            output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
            results = out / name / "results.json"
            assert results.is_file(), f"{name} wrote no results.json:\n{output}"
            report = (out / name / "report.html").read_text(encoding="utf-8")
            finished[name] = (process.returncode, json.loads(results.read_text()), report)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return finished


def _reproduced(results: Any) -> bool:
    found = results["incident"]
    assert found is not None, "the run did not compare itself with its source"
    assert found["seconds"], "the run compared no second with its source"
    return bool(found["reproduced"])


def _check(name: str, runs: dict[str, tuple[int, Any, str]]) -> None:
    code, results, report = runs["default"]
    assert code == 1, f"{name}: the incident's own configuration should break its budgets"
    assert _reproduced(results), results["incident"]["summary"]
    assert results["incident"]["rule"]["recall"] >= 0.7
    assert 'id="chart-incident-error-rate"' in report
    assert "reproduced</span>" in report

    code, results, report = runs["resilient"]
    assert code == 0, f"{name}: the resilient configuration should hold its budgets: " + str(
        [b for b in results["budgets"] if not b["passed"]]
    )
    assert not _reproduced(results), results["incident"]["summary"]
    # None of the incident's broken seconds has a broken replay second near it (a busy machine
    # may still blip a second elsewhere, which the verdict counts against reproducing).
    assert results["incident"]["rule"]["recall"] == 0.0
    assert "not reproduced</span>" in report


def test_a_retry_storm_after_a_surge(tmp_path: Path) -> None:
    folder = HERE / "retry_storm"
    runs = _run_side_by_side(
        {"default": folder / "default.yaml", "resilient": folder / "resilient.yaml"}, tmp_path
    )
    _check("retry_storm", runs)
    # Why: the endpoint throttled the storm; the resilient client never needed to retry.
    default, resilient = runs["default"][1], runs["resilient"][1]
    assert default["phases"]["overall"]["errors_by_class"].get("429", 0) > 100
    assert resilient["client"]["measures"]["retry_amplification"] < 1.5


def _without_faults(scenario: Path, out: Path) -> Path:
    """The scenario with its faults removed, its files found where the original's are."""
    doc = yaml.safe_load(scenario.read_text())
    doc["name"] += "-no-fault"
    doc.pop("faults")
    load = doc["load"]
    load["arrivals"]["file"] = str(scenario.parent / load["arrivals"]["file"])
    load["body_file"] = str(scenario.parent / load["body_file"])
    doc["incident"]["signature"] = str(scenario.parent / doc["incident"]["signature"])
    path = out / "no_fault.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_feature_store_slowdown_at_a_cache_expiry(tmp_path: Path) -> None:
    folder = HERE / "feature_store_slowdown"
    runs = _run_side_by_side(
        {
            "default": folder / "default.yaml",
            "resilient": folder / "resilient.yaml",
            "no_fault": _without_faults(folder / "default.yaml", tmp_path),
        },
        tmp_path,
    )
    _check("feature_store_slowdown", runs)
    # Why: with the cache every lookup after the warm-up is a hit; the slow store is never met.
    assert runs["resilient"][1]["dependencies"]["feature-store"]["calls_per_request"] < 0.1
    # The same traffic without the slowdown does not reproduce the incident: the traffic alone
    # did not cause it.
    code, results, _ = runs["no_fault"]
    assert not _reproduced(results), results["incident"]["summary"]
    assert code == 0


def test_a_scale_up_lagging_a_launch_surge(tmp_path: Path) -> None:
    folder = HERE / "launch_surge"
    runs = _run_side_by_side(
        {"default": folder / "default.yaml", "resilient": folder / "resilient.yaml"}, tmp_path
    )
    _check("launch_surge", runs)
    # Why: the scaler added units only after the throttling had begun.
    provisioned = [p[1] for p in runs["default"][1]["series"]["provisioned"]]
    assert provisioned[0] == 2
    assert max(provisioned) > 2


@pytest.fixture(scope="module")
def fresh_sources() -> Iterator[Path]:
    """What make_sources.py writes, once for the three checks below."""
    fresh = make_copy()
    try:
        yield fresh
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


@pytest.mark.parametrize("incident", [i.folder for i in INCIDENTS])
def test_the_committed_sources_are_what_the_script_writes(
    fresh_sources: Path, incident: str
) -> None:
    comparison = filecmp.dircmp(fresh_sources / incident, HERE / incident)
    ours = {p.name for p in (HERE / incident).iterdir()}
    written = {p.name for p in (fresh_sources / incident).iterdir()}
    assert written <= ours, f"not committed: {sorted(written - ours)}"
    assert comparison.diff_files == [], f"differ from the script's output: {comparison}"
    imported = filecmp.dircmp(fresh_sources / incident / "imported", HERE / incident / "imported")
    assert imported.diff_files == []
    assert imported.left_only == []
