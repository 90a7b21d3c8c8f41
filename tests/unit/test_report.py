"""Reports: the terminal verdict explains itself; report.html and results.json are complete."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

from rich.console import Console

from faults import FaultWindow
from harness.loadgen.recorder import Recorder
from harness.report import print_verdict, render_html, render_text, write_reports
from harness.run.phases import PhaseClock
from harness.scenario.budgets import Budget
from harness.verdict.phases import phase_stats
from harness.verdict.results import RunResult, judge

WINDOW = FaultWindow(
    name="slow",
    target="feature-store",
    description="latency(latency=150) on feature-store downstream",
    planned_start_s=4.0,
    planned_end_s=8.0,
    actual_start_s=4.003,
    actual_end_s=8.004,
)
BUDGETS = (
    Budget.parse("error_rate < 0.01"),
    Budget.parse("p99_ms < 100", phase="during:slow"),
)


def _result(scenario: str = "feature-store-latency") -> RunResult:
    """Twelve seconds, 10 ms except 200 ms from t=5 to t=7 (inside the fault)."""
    clock = PhaseClock(["slow"])
    clock.started("slow", 4.003)
    clock.ended("slow", 8.004)
    recorder = Recorder(clock)
    for second in range(12):
        ms = 200.0 if 5 <= second <= 7 else 10.0
        for n in range(4):
            t = second + n / 4
            recorder.offered(t)
            recorder.completed(t, t, t + ms / 1000, status=200, failure=None)
    phases = phase_stats(recorder, 12.0)
    return RunResult(
        scenario=scenario,
        backend="process",
        budgets=judge(BUDGETS, phases),
        phases=phases,
        buckets=recorder.seconds(),
        faults=[WINDOW],
        generator={"dropped": 0},
        started_at="2024-01-01T00:00:00+00:00",
        duration_s=12.0,
    )


def _observed(result: RunResult, index: int) -> float:
    observed = result.budgets[index].observed
    assert observed is not None
    return observed


def test_render_text_has_title_rows_and_explanation() -> None:
    result = _result()
    p99 = _observed(result, 1)

    text = render_text(result, width=200)

    assert "feature-store-latency [process]: FAIL" in text
    assert re.search(r"error_rate < 0\.01 +│ overall +│ +0 +│ +< 0\.01 +│ pass", text)
    assert re.search(rf"p99_ms < 100 +│ during:slow +│ +{p99:,.1f} +│ +< 100 +│ FAIL", text)
    assert (
        f"p99_ms < 100 [during:slow]: expected p99_ms < 100, observed {p99:,.1f}; "
        "first broken at t=5s"
    ) in text


def test_render_text_when_passing_has_no_explanation() -> None:
    result = _result()
    passing = dataclasses.replace(result, budgets=result.budgets[:1])

    text = render_text(passing, width=200)

    assert "[process]: PASS" in text
    assert "expected" not in text
    assert "FAIL" not in text


def test_render_text_explains_invalid_run_and_unmeasured_phase() -> None:
    base = _result()
    budgets = judge((Budget.parse("p99_ms < 100", phase="during:missing"),), base.phases)
    result = dataclasses.replace(
        base, budgets=budgets, valid=False, notes=["generator dropped 3 scheduled requests"]
    )

    text = render_text(result, width=200)

    assert "invalid run: generator dropped 3 scheduled requests" in text
    assert (
        "p99_ms < 100 [during:missing]: expected p99_ms < 100, "
        "observed no requests completed in phase during:missing"
    ) in text


def test_print_verdict_prints_lines_literally() -> None:
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)

    print_verdict(_result(), console)

    text = console.export_text()
    assert "p99_ms < 100 [during:slow]: expected p99_ms < 100" in text
    assert "requests 48  errors 0 (0.00%)" in text


def _section(document: str, heading: str) -> str:
    after = document.split(f"<h2>{heading}</h2>", 1)[1]
    return after.split("</table>", 1)[0]


def test_render_html_has_name_verdict_and_a_row_per_second() -> None:
    result = _result(scenario="latency <spike> & co")

    document = render_html(result.to_json())

    assert document.startswith("<!doctype html>")
    assert "<title>latency &lt;spike&gt; &amp; co: FAIL</title>" in document
    assert '<h1>latency &lt;spike&gt; &amp; co <span class="FAIL">FAIL</span></h1>' in document
    assert "<spike>" not in document
    timeline = _section(document, "Timeline")
    assert timeline.count("<tr>") == 1 + 12
    assert "<tr><td>5</td><td>4</td><td>4</td><td>0</td>" in timeline
    budgets = _section(document, "Budgets")
    assert budgets.count("<tr>") == 1 + 2
    assert "<td>FAIL</td>" in budgets
    assert "<td>slow</td>" in _section(document, "Faults")
    assert "<svg" in document
    assert document.rstrip().endswith("</html>")


def test_render_html_passing_verdict() -> None:
    data = _result().to_json()
    data["passed"] = True

    assert '<span class="PASS">PASS</span>' in render_html(data)


def test_write_reports_round_trips(tmp_path: Path) -> None:
    result = _result()

    results_path, report_path = write_reports(result, tmp_path / "nested" / "out")

    assert results_path == tmp_path / "nested" / "out" / "results.json"
    data = json.loads(results_path.read_text())
    assert data == result.to_json()
    assert data["passed"] is False
    assert len(data["timeline"]) == 12
    assert report_path.read_text() == render_html(result.to_json())
