"""`serving-chaos compare` on results built in the test: what counts as a regression (beyond
the tolerance, above the absolute floors, a budget that broke), what it writes, and the input
it refuses with exit 2. Two real runs compared are in the integration tier's
test_compare_cli."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.errors import UsageError
from harness.report.assets import HOVER_SCRIPT, STYLE
from harness.report.charts import LEFT, PLOT_H, PLOT_W, TOP
from harness.report.compare import (
    PHASE_METRICS,
    Tolerance,
    compare_runs,
    judge_metric,
    load_run,
    parse_tolerance,
)
from harness.report.compare_html import p99_chart, render_compare_html
from tests.cli import Cli, CliResult

METRIC = {metric.key: metric for metric in PHASE_METRICS}


def _phase(p99: float = 20.0, *, error_rate: float = 0.0, rps: float = 40.0) -> dict[str, Any]:
    return {
        "requests": 400,
        "errors": round(400 * error_rate),
        "error_rate": error_rate,
        "p50_ms": 10.0,
        "p90_ms": 15.0,
        "p99_ms": p99,
        "max_ms": p99 + 5,
        "throughput_rps": rps,
        "max_queue_depth": 0.0,
        "seconds": 10.0,
        "errors_by_class": {},
    }


def _results(scenario: str = "steady", **phase: Any) -> dict[str, Any]:
    """A results.json in RunResult.to_json's shape: two phases, two budgets, a timeline."""
    overall = _phase(**phase)
    return {
        "scenario": scenario,
        "backend": "process",
        "load_shape": "open-loop constant 40/s",
        "started_at": "2026-01-01T00:00:00+00:00",
        "duration_s": 10.0,
        "passed": True,
        "valid": True,
        "notes": [],
        "budgets": [
            {"name": "p99_ms < 100", "phase": "overall", "expression": "p99_ms < 100",
             "metric": "p99_ms", "op": "<", "limit": 100, "observed": overall["p99_ms"],
             "passed": overall["p99_ms"] < 100, "note": ""},
            {"name": "error_rate < 0.01", "phase": "during:slow", "expression":
             "error_rate < 0.01", "metric": "error_rate", "op": "<", "limit": 0.01,
             "observed": 0.0, "passed": True, "note": ""},
        ],
        "summary": overall,
        "phases": {"overall": overall, "during:slow": _phase(30.0)},
        "timeline": [
            {"t": t, "p99_ms": overall["p99_ms"] + t, "completed": 40} for t in range(10)
        ],
        "faults": [{"name": "slow", "actual_start_s": 3.0, "actual_end_s": 6.0}],
        "generator": {},
    }  # fmt: skip


def _save(path: Path, data: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(data))
    return path


def _compare(
    cli: Cli, tmp_path: Path, base: dict[str, Any], cand: dict[str, Any], *flags: str
) -> tuple[CliResult, dict[str, Any] | None]:
    """``compare`` of the two saved runs, with what it wrote to compare.json."""
    baseline = _save(tmp_path / "base", base)
    candidate = _save(tmp_path / "cand", cand)
    out = tmp_path / "out"
    ran = cli("compare", str(baseline), str(candidate), "--report-dir", str(out), *flags)
    written = json.loads((out / "compare.json").read_text()) if ran.code != 2 else None
    return ran, written


def test_p99_fifty_percent_worse_is_a_regression_exit_1(cli: Cli, tmp_path: Path) -> None:
    ran, written = _compare(cli, tmp_path, _results(p99=20.0), _results(p99=30.0))

    assert ran.code == 1, ran.out + ran.err
    assert "REGRESSED" in ran.out
    assert "p99_ms [overall]: 20.0 -> 30.0 ms (+50.0%)" in ran.out
    assert written is not None
    p99 = written["phases"]["overall"]["p99_ms"]
    assert p99 == {
        "baseline": 20.0, "candidate": 30.0, "difference": 10.0, "relative": 0.5,
        "regressed": True, "note": "",
    }  # fmt: skip
    # max_ms moved by the same 10 ms on 25 ms: +40 %, also beyond 10 %.
    assert written["phases"]["overall"]["max_ms"]["regressed"] is True
    assert written["phases"]["overall"]["p50_ms"]["regressed"] is False
    assert written["regressions"] == [
        "p99_ms [overall]: 20.0 -> 30.0 ms (+50.0%)",
        "max_ms [overall]: 25.0 -> 35.0 ms (+40.0%)",
    ]
    assert written["verdict"] == "REGRESSED"
    html = (tmp_path / "out" / "compare.html").read_text()
    assert html.startswith("<!doctype html>")
    assert "p99_ms [overall]: 20.0 -&gt; 30.0 ms (+50.0%)" in html


def test_within_tolerance_exit_0_and_a_wider_tolerance_absorbs_more(
    cli: Cli, tmp_path: Path
) -> None:
    ran, written = _compare(cli, tmp_path, _results(p99=20.0), _results(p99=21.5))
    assert ran.code == 0, ran.out + ran.err
    assert "NO REGRESSION" in ran.out
    assert written is not None
    assert written["regressed"] is False
    assert written["phases"]["overall"]["p99_ms"]["relative"] == 0.075

    wide, _ = _compare(cli, tmp_path, _results(p99=20.0), _results(p99=30.0), "--tolerance", "60%")
    assert wide.code == 0, wide.out + wide.err


@pytest.mark.parametrize(
    ("metric", "before", "after", "regressed"),
    [
        ("error_rate", 0.0, 0.0005, False),  # under the 0.001 floor: not "+inf %"
        ("error_rate", 0.0, 0.002, True),
        ("error_rate", 0.02, 0.0215, False),  # +7.5 % of the baseline
        ("p50_ms", 2.0, 2.6, False),  # +30 %, but under the 1 ms floor
        ("p50_ms", 2.0, 3.5, True),
        ("p99_ms", 100.0, 110.0, False),  # exactly the tolerance is within it
        ("p99_ms", 100.0, 110.5, True),
        ("p99_ms", 100.0, 50.0, False),  # faster is not worse
        ("throughput_rps", 40.0, 30.0, True),  # less throughput is worse
        ("throughput_rps", 40.0, 50.0, False),
        ("throughput_rps", 5.0, 4.2, False),  # -16 %, but under the 1 req/s floor
    ],
)
def test_what_counts_as_worse(metric: str, before: float, after: float, regressed: bool) -> None:
    delta = judge_metric("overall", METRIC[metric], before, after, Tolerance(relative=0.1))
    assert delta.regressed is regressed
    assert delta.difference == pytest.approx(after - before)


def test_a_zero_baseline_has_no_relative_change() -> None:
    delta = judge_metric("overall", METRIC["error_rate"], 0.0, 0.002, Tolerance())
    assert delta.relative is None
    assert delta.describe() == "error_rate [overall]: 0 -> 0.002"


def test_a_budget_that_broke_is_a_regression_whatever_the_tolerance(
    cli: Cli, tmp_path: Path
) -> None:
    # p99 120 ms breaks `p99_ms < 100`; a 1000 % tolerance forgives the figure, not the budget.
    ran, written = _compare(
        cli, tmp_path, _results(p99=95.0), _results(p99=120.0), "--tolerance", "1000%"
    )

    assert ran.code == 1, ran.out + ran.err
    assert written is not None
    budget = written["budgets"][0]
    assert budget["outcome"] == "pass -> FAIL"
    assert budget["regressed"] is True
    assert budget["difference"] == 25.0
    assert written["phases"]["overall"]["p99_ms"]["regressed"] is False
    assert "budget p99_ms < 100 [overall]: held in the baseline (95.0), broken in the " in ran.out


def test_still_failing_and_fixed_budgets_are_not_regressions(tmp_path: Path) -> None:
    failing = _results(p99=150.0)
    fixed = compare_runs(
        load_run(_save(tmp_path / "a", failing)),
        load_run(_save(tmp_path / "b", _results(p99=90.0))),
        Tolerance(),
    )
    still = compare_runs(
        load_run(_save(tmp_path / "c", failing)),
        load_run(_save(tmp_path / "d", _results(p99=160.0))),
        Tolerance(),
    )

    assert fixed.budgets[0].outcome == "fixed"
    assert not fixed.regressed
    assert still.budgets[0].outcome == "still failing"
    assert not still.budgets[0].regressed


def test_phases_and_budgets_in_one_run_only_are_listed_not_judged(tmp_path: Path) -> None:
    extra = _results()
    extra["phases"]["recovery"] = _phase(500.0)
    extra["budgets"].append(dict(extra["budgets"][0], phase="recovery", passed=False))
    comparison = compare_runs(
        load_run(_save(tmp_path / "a", _results())),
        load_run(_save(tmp_path / "b", extra)),
        Tolerance(),
    )

    recovery = [delta for delta in comparison.phases if delta.phase == "recovery"]
    assert len(recovery) == len(PHASE_METRICS)
    assert all(not d.regressed and d.note == "phase not in the baseline run" for d in recovery)
    assert comparison.budgets[-1].outcome == "only in candidate"
    assert not comparison.regressed


def test_an_invalid_run_makes_the_comparison_invalid_exit_1(cli: Cli, tmp_path: Path) -> None:
    invalid = _results()
    invalid["valid"] = False
    invalid["notes"] = ["the generator fell behind: p99 lag 250 ms > max_lag_ms 100"]

    ran, written = _compare(cli, tmp_path, _results(), invalid)

    assert ran.code == 1, ran.out + ran.err
    assert written is not None
    assert written["verdict"] == "INVALID"
    assert "the candidate run is invalid" in ran.out
    assert "p99 lag 250 ms" in ran.out


def test_different_scenarios_are_refused_without_force(cli: Cli, tmp_path: Path) -> None:
    ran, _ = _compare(cli, tmp_path, _results("steady"), _results("surge"))

    assert ran.code == 2
    assert (
        "baseline ran scenario steady, candidate ran surge: these are not the same scenario; "
        "pass --force to compare anyway" in ran.err
    )
    assert "Traceback" not in ran.err
    assert not (tmp_path / "out").exists()

    forced, written = _compare(cli, tmp_path, _results("steady"), _results("surge"), "--force")
    assert forced.code == 0, forced.out + forced.err
    assert written is not None
    assert written["forced"] is True
    assert "different scenarios compared (--force): steady and surge" in written["notes"]


@pytest.mark.parametrize(
    ("text", "fraction"), [("10%", 0.1), ("0.1", 0.1), (" 25 % ", 0.25), ("150%", 1.5), ("0", 0)]
)
def test_tolerance_as_percent_or_fraction(text: str, fraction: float) -> None:
    assert parse_tolerance(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["ten", "-5%", "10", "nan", "inf%", "", "%"])
def test_bad_tolerance_exits_2_saying_what_is_accepted(cli: Cli, tmp_path: Path, text: str) -> None:
    ran, _ = _compare(cli, tmp_path, _results(), _results(), f"--tolerance={text}")

    assert ran.code == 2
    assert f"tolerance={text!r}" in ran.err
    assert "expected a percentage such as 10% or a fraction from 0 to 1" in ran.err
    assert "Traceback" not in ran.err


def test_missing_folder_and_folder_without_results_exit_2(cli: Cli, tmp_path: Path) -> None:
    present = _save(tmp_path / "present", _results())
    missing = cli("compare", str(tmp_path / "nowhere"), str(present))
    assert missing.code == 2
    assert f"{tmp_path / 'nowhere'}: no such folder or file" in missing.err

    empty = tmp_path / "empty"
    empty.mkdir()
    bare = cli("compare", str(present), str(empty))
    assert bare.code == 2
    assert f"{empty}: no results.json in this folder" in bare.err
    assert "Traceback" not in missing.err + bare.err


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"scenario": "steady", "phases": {', "not valid JSON: Expecting"),
        ("[1, 2]", 'the document: expected an object but got "list"'),
        ('{"scenario": "steady", "budgets": []}', "phases: expected this key"),
        ('{"scenario": "steady", "budgets": [], "phases": []}', "phases: expected an object"),
        ('{"scenario": "s", "budgets": [], "phases": {"overall": {"p99_ms": "fast"}}}',
         'phases.overall.p99_ms: expected a number or null but got "fast"'),
        ('{"scenario": "s", "budgets": [{"phase": "overall"}], "phases": {}}',
         "budgets[0].name: expected a string but got null"),
    ],
)  # fmt: skip
def test_unreadable_results_exit_2_naming_the_file(
    cli: Cli, tmp_path: Path, text: str, says: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    good = _save(tmp_path / "good", _results())

    ran = cli("compare", str(good), str(bad))

    assert ran.code == 2
    assert f"{bad}: " in ran.err
    assert says in ran.err
    assert "Traceback" not in ran.err


def test_a_results_file_is_accepted_as_well_as_its_folder(cli: Cli, tmp_path: Path) -> None:
    folder = _save(tmp_path / "a", _results())
    file = _save(tmp_path / "b", _results()) / "results.json"

    ran = cli("compare", str(folder), str(file), "--report-dir", str(tmp_path / "out"))

    assert ran.code == 0, ran.out + ran.err
    written = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert written["candidate"]["path"] == str(file)
    assert written["baseline"]["path"] == str(folder / "results.json")


def test_an_unwritable_report_dir_exits_2(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    base, cand = _save(tmp_path / "a", _results()), _save(tmp_path / "b", _results())

    ran = cli("compare", str(base), str(cand), "--report-dir", str(blocker / "sub"))

    assert ran.code == 2
    assert "--report-dir: cannot write" in ran.err
    assert str(blocker) in ran.err


def _chart_data(figure: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', figure)
    assert found, "the chart embeds no hover data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _lines(figure: str) -> dict[str, list[list[tuple[float, float]]]]:
    """Each drawn line's runs of (x, y) points in the drawing, by series name."""
    drawn = re.findall(r'<path class="line" d="([^"]+)"[^>]*><title>(\w+) \(ms\)</title>', figure)
    return {
        name: [
            [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", run)]
            for run in path.split("M")[1:]
        ]
        for path, name in drawn
    }


def test_chart_draws_both_runs_on_one_axis_with_faults(tmp_path: Path) -> None:
    base = _results(p99=20.0)
    cand = _results(p99=40.0)
    cand["timeline"] = cand["timeline"][:5] + cand["timeline"][7:]  # seconds 5, 6 unanswered
    baseline = load_run(_save(tmp_path / "a", base))
    candidate = load_run(_save(tmp_path / "b", cand))

    figure = p99_chart(baseline, candidate)

    lines = _lines(figure)
    assert [len(run) for run in lines["baseline"]] == [10]
    assert [len(run) for run in lines["candidate"]] == [5, 3]  # the gap breaks the line
    # Ten seconds on the x axis, each p99 mid-second; the y axis reaches the highest p99 drawn
    # (49 ms) with a little headroom, on round steps: 0..60 by 10.
    y_ticks = re.findall(r'<text x="[\d.]+" y="[\d.]+" dy="4" text-anchor="end">([\d.]+)<', figure)
    assert [float(t) for t in y_ticks] == [0, 10, 20, 30, 40, 50, 60]
    first_x, first_y = lines["baseline"][0][0]
    assert first_x == pytest.approx(LEFT + 0.5 / 10 * PLOT_W, abs=0.05)
    assert first_y == pytest.approx(TOP + PLOT_H - 20 / 60 * PLOT_H, abs=0.05)
    last_x, last_y = lines["candidate"][1][-1]
    assert last_x == pytest.approx(LEFT + 9.5 / 10 * PLOT_W, abs=0.05)
    assert last_y == pytest.approx(TOP + PLOT_H - 49 / 60 * PLOT_H, abs=0.05)
    assert '<text class="axis-title"' in figure
    assert ">seconds from the intended start (s)</text>" in figure
    assert ">p99 latency (ms)</text>" in figure
    # Both runs applied slow over 3-6 s: one band, named once, both windows in its title.
    band = re.findall(r'<g class="band"><title>([^<]+)</title><rect x="([\d.]+)"', figure)
    assert band == [("slow: baseline 3-6 s, candidate 3-6 s", f"{LEFT + 0.3 * PLOT_W:.1f}")]
    assert re.search(r'<g class="band">.*?>slow</text></g>', figure)
    hover = _chart_data(figure)
    named = {series["n"]: series for series in hover["series"]}
    assert named["baseline"]["y"] == [20.0 + t for t in range(10)]
    assert named["candidate"]["x"] == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 7.5, 8.5, 9.5]
    assert named["candidate"]["y"] == [40, 41, 42, 43, 44, None, 47, 48, 49]
    assert {series["u"] for series in hover["series"]} == {"ms"}

    page = render_compare_html(compare_runs(baseline, candidate, Tolerance()))
    assert figure in page
    assert HOVER_SCRIPT in page
    assert STYLE in page
    assert not re.search(r"\b(src|href)\s*=", page, re.IGNORECASE)
    assert "http://" not in page
    assert "https://" not in page


def test_faults_apart_are_named_with_their_run_and_an_open_one_runs_to_the_end(
    tmp_path: Path,
) -> None:
    cand = _results()
    cand["faults"] = [
        {"name": "slow", "actual_start_s": 7.0, "actual_end_s": 8.0},
        {"name": "down", "actual_start_s": 8.5, "actual_end_s": None},
    ]
    baseline = load_run(_save(tmp_path / "a", _results()))
    candidate = load_run(_save(tmp_path / "b", cand))

    figure = p99_chart(baseline, candidate)

    titles = re.findall(r'<g class="band"><title>([^<]+)</title>', figure)
    assert titles == [
        "baseline slow: 3-6 s",
        "candidate slow: 7-8 s",
        "candidate down: 8.5-the end s",
    ]
    widths = re.findall(r'<g class="band"><title>[^<]+</title><rect [^>]*width="([\d.]+)"', figure)
    assert float(widths[2]) == pytest.approx(1.5 / 10 * PLOT_W, abs=0.05)
    assert ">candidate: slow</text>" in figure


def test_a_chart_with_no_seconds_says_so(tmp_path: Path) -> None:
    empty = _results()
    empty["timeline"] = []
    baseline = load_run(_save(tmp_path / "a", empty))
    candidate = load_run(_save(tmp_path / "b", copy.deepcopy(empty)))

    assert p99_chart(baseline, candidate) == "<p>Neither run has per-second latencies to draw.</p>"
    one_sided = p99_chart(baseline, load_run(_save(tmp_path / "c", _results())))
    assert set(_lines(one_sided)) == {"candidate"}
    assert "The baseline run has no per-second latencies to draw." in one_sided


def test_loaded_run_keeps_the_figures_compared(tmp_path: Path) -> None:
    data = _results(p99=22.5)
    run = load_run(_save(tmp_path / "a", copy.deepcopy(data)))

    assert run.scenario == "steady"
    assert run.phases["overall"]["p99_ms"] == 22.5
    assert run.phases["during:slow"]["p99_ms"] == 30.0
    assert run.faults == (("slow", 3.0, 6.0),)
    assert run.p99_series[0] == (0.0, 22.5)
    with pytest.raises(UsageError, match="no such folder or file"):
        load_run(tmp_path / "missing")
