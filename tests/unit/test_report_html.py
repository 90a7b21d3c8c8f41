"""report.html's charts and cards, read from constructed results.json data: what each chart
draws and where, the budget cards, the size and self-containedness of a ten-minute run's page,
and pages of old, empty or damaged results that must still render."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from harness.report import render_html
from harness.report.charts import LEFT, PLOT_W, TIME_STEPS, nice_ticks
from harness.report.spans import first_second_over, phase_spans
from harness.run.phases import PhaseClock

PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100]
SLOW_START, SLOW_END = 200.004, 320.01
MB = 1024 * 1024


def _row(t: int) -> dict[str, Any]:
    """One second of a 200 req/s run whose p99 goes to 480 ms while the feature store is slow,
    with 429s, 503s and timeouts in the slow window."""
    slow = SLOW_START <= t < SLOW_END
    p99 = 480.123 if slow else 42.5 + (t % 7) * 0.131
    statuses = {"200": 190, "429": 5, "503": 3} if slow else {"200": 200}
    failures = {"timeout": 2} if slow else {}
    return {
        "t": t,
        "offered": 200,
        "completed": 200,
        "errors": 10 if slow else 0,
        "statuses": statuses,
        "failures": failures,
        "p50_ms": round(p99 / 3, 3),
        "p90_ms": round(p99 / 1.5, 3),
        "p99_ms": p99,
        "max_ms": p99 * 2,
        "service_p50_ms": round(p99 / 3.5, 3),
        "queue_depth": 4 if slow else 0,
        "inflight": 9 if slow else 3,
        "lag_p99_ms": 0.412 + (t % 5) * 0.01,
    }


def _phase(requests: int, p99: float, seconds: float) -> dict[str, Any]:
    return {
        "requests": requests,
        "errors": 0,
        "error_rate": 0.0,
        "p50_ms": p99 / 3,
        "p90_ms": p99 / 1.5,
        "p99_ms": p99,
        "max_ms": p99 * 2,
        "throughput_rps": 200.0,
        "max_queue_depth": 0,
        "seconds": seconds,
        "errors_by_class": {},
        "distribution": [[p, round(p99 * (0.3 + p / 120), 3)] for p in PERCENTILES],
    }


def _budget(expression: str, phase: str, observed: float | None, passed: bool) -> dict[str, Any]:
    metric, op, limit = expression.split()
    return {
        "name": expression,
        "phase": phase,
        "expression": expression,
        "metric": metric,
        "op": op,
        "limit": float(limit),
        "observed": observed,
        "passed": passed,
        "note": None,
    }


def _run(seconds: int = 600) -> dict[str, Any]:
    """A results.json as a run of ``seconds`` with one feature-store slowdown writes it."""
    timeline = [_row(t) for t in range(seconds)]
    return {
        "scenario": "feature-store-latency",
        "backend": "process",
        "load_shape": "open-loop constant 200/s",
        "started_at": "2026-11-30T00:00:00+00:00",
        "duration_s": seconds + 0.412,
        "passed": False,
        "valid": True,
        "notes": [],
        "deaths": {},
        "dependencies": {"feature-store": {"calls": 1000, "statuses": {"200": 1000}}},
        "endpoint_hop": None,
        "client": None,
        "resources": None,
        "aborted": None,
        "budgets": [
            _budget("error_rate < 0.01", "overall", 0.0125, False),
            _budget("p99_ms < 400", "during:slow", 480.1, False),
            _budget("p50_ms < 50", "baseline", 14.2, True),
            _budget("p99_ms < 5000", "recovery", 43.0, True),
            _budget("dep.feature-store.calls < 5000", "overall", 1000.0, True),
        ],
        "summary": _phase(seconds * 200, 60.0, float(seconds)),
        "phases": {
            "overall": _phase(seconds * 200, 60.0, float(seconds)),
            "baseline": _phase(40000, 43.0, SLOW_START),
            "during:slow": _phase(24000, 480.1, SLOW_END - SLOW_START),
            "recovery": _phase(56000, 43.0, seconds - SLOW_END),
        },
        "timeline": timeline,
        "faults": [
            {
                "name": "slow",
                "target": "feature-store",
                "description": "latency(latency=150) on feature-store downstream",
                "planned_start_s": 200.0,
                "planned_end_s": 320.0,
                "actual_start_s": SLOW_START,
                "actual_end_s": SLOW_END,
            }
        ],
        "generator": {"scheduled": 120000, "sent": 120000, "dropped": 0, "lag_p99_ms": 0.45},
        "series": {
            "provisioned": [[t, 4 if t < 210 else 8] for t in range(seconds)],
            "provisioned_target": [[t, 4 if t < 205 else 8] for t in range(seconds)],
            "endpoint": {
                "upstream_retries": [[t, 3 if 200 <= t < 320 else 0] for t in range(seconds)],
                "cache_hits": [[t, 120] for t in range(seconds)],
                "cache_misses": [[t, 80] for t in range(seconds)],
            },
            "dependencies": {
                "feature-store": [
                    {"t": t, "statuses": {"200": 78, "503": 2} if 200 <= t < 320 else {"200": 80}}
                    for t in range(seconds)
                ]
            },
            "scrape_failures": {},
        },
        "environment": {"harness": "0.1.0", "python": "3.11.7", "toxiproxy": "2.12.0"},
    }  # fmt: skip


def _chart_data(document: str, key: str) -> dict[str, Any]:
    figure = document.split(f'<figure class="chart" id="chart-{key}">', 1)[1]
    figure = figure.split("</figure>", 1)[0]
    found = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', figure)
    assert found, f"chart {key} has no data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _figure(document: str, key: str) -> str:
    return document.split(f'id="chart-{key}"', 1)[1].split("</figure>", 1)[0]


def _series_named(chart: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in chart["series"] if s["n"] == name]
    assert len(found) == 1, name
    return found[0]


def _x(t: float, end: float) -> float:
    return LEFT + t / end * PLOT_W


@pytest.fixture(scope="module")
def long_run() -> tuple[dict[str, Any], str]:
    data = _run()
    return data, render_html(data)


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 87) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0, 0.3) == [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    assert nice_ticks(0, 480.123) == [0, 100, 200, 300, 400, 500]
    assert nice_ticks(0, 600, target=10, steps=TIME_STEPS) == list(range(0, 601, 60))
    assert nice_ticks(0, 12.4, target=10, steps=TIME_STEPS) == list(range(0, 15, 2))
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1]


def test_a_ten_minute_report_is_one_small_file_that_fetches_nothing(
    long_run: tuple[dict[str, Any], str],
) -> None:
    _, document = long_run

    size = len(document.encode())
    assert size < 1.5 * MB, f"{size / MB:.2f} MB"
    assert not re.search(r"\b(src|href)\s*=", document, re.IGNORECASE)
    assert "http://" not in document
    assert "https://" not in document
    assert "@import" not in document
    assert "url(http" not in document
    # One timeline row per second, kept in a collapsed table.
    timeline = document.split("<h2>Timeline</h2>", 1)[1].split("</table>", 1)[0]
    assert timeline.count("<tr>") == 1 + 600


def test_every_chart_is_drawn_with_axes_units_ticks_legend_and_data(
    long_run: tuple[dict[str, Any], str],
) -> None:
    _, document = long_run
    titles = {
        "latency": "latency (ms)",
        "rate": "requests per second (req/s)",
        "responses": "responses per second (resp/s)",
        "concurrency": "requests or units (count)",
        "dependencies": "calls or events per second (1/s)",
        "distribution": "latency (ms)",
        "lag": "scheduling lag p99 (ms)",
    }
    for key, y_title in titles.items():
        figure = _figure(document, key)
        assert f">{y_title}</text>" in figure, key
        if key != "distribution":
            assert ">seconds from the start (s)</text>" in figure, key
            # Time ticks every minute over the ten minutes.
            assert '<text x="72" y="272" text-anchor="middle">0</text>' in figure, key
            assert ">600</text>" in figure, key
            assert ">300</text>" in figure, key
        paths = re.findall(r'<path class="(?:line|area)" d="([^"]+)"', figure)
        assert paths, key
        assert all(len(re.findall(r"[\d.]+,[\d.]+", d)) >= 1 for d in paths), key
        assert '<ul class="legend"><li>' in figure, key
    assert document.count('<figure class="chart"') == len(titles)


def test_latency_chart_draws_each_percentile_and_the_budgets_over_their_phases(
    long_run: tuple[dict[str, Any], str],
) -> None:
    data, document = long_run
    chart = _chart_data(document, "latency")
    figure = _figure(document, "latency")
    end = 600.0  # the run's length as its phases saw it, not the 600.412 s it took

    assert chart["x0"] == 0
    assert chart["x1"] == end
    assert [s["n"] for s in chart["series"]] == ["p50", "p90", "p99", "max"]
    assert _series_named(chart, "p99")["y"] == [row["p99_ms"] for row in data["timeline"]]
    assert chart["x"][:3] == [0.5, 1.5, 2.5]
    # p99 < 400 over the fault's actual window, drawn at 400 on a 0-1000 axis.
    rule = re.search(r"<title>p99 &lt; 400 ms \(during:slow\)</title><line ([^>]+)>", figure)
    assert rule, figure[:2000]
    attributes = dict(re.findall(r'(\w+)="([^"]+)"', rule.group(1)))
    assert float(attributes["x1"]) == pytest.approx(_x(SLOW_START, end), abs=0.1)
    assert float(attributes["x2"]) == pytest.approx(_x(SLOW_END, end), abs=0.1)
    assert float(attributes["y1"]) == pytest.approx(26 + 228 * (1 - 400 / 1000), abs=0.1)
    # A baseline budget spans the start to the fault; one far above the data is named, not drawn.
    assert "<title>p50 &lt; 50 ms (baseline)</title><line" in figure
    assert "\u2191 p99 &lt; 5000 ms (recovery), above the scale" in figure
    # The fault window is shaded where it was applied, and named.
    band = re.search(r'<g class="band"><title>([^<]+)</title><rect x="([\d.]+)"', figure)
    assert band
    assert band.group(1).startswith("slow: latency(latency=150)")
    assert "planned 200-320 s, applied 200.004-320.01 s" in band.group(1)
    assert float(band.group(2)) == pytest.approx(_x(SLOW_START, end), abs=0.1)


def test_responses_are_stacked_by_class_with_every_failure_class(
    long_run: tuple[dict[str, Any], str],
) -> None:
    _, document = long_run
    chart = _chart_data(document, "responses")

    names = [s["n"] for s in chart["series"]]
    assert names == ["OK (2xx)", "429 too many requests", "5xx", "failed: timeout"]
    at = chart["x"].index(250)
    assert [s["y"][at] for s in chart["series"]] == [190, 5, 3, 2]
    assert [s["y"][10] for s in chart["series"]] == [200, 0, 0, 0]
    assert document.count('<path class="area"') == 4


def test_concurrency_shows_the_autoscaler_as_steps(long_run: tuple[dict[str, Any], str]) -> None:
    _, document = long_run
    chart = _chart_data(document, "concurrency")
    figure = _figure(document, "concurrency")

    names = [s["n"] for s in chart["series"]]
    assert names == ["queue depth", "in flight", "provisioned concurrency", "autoscaler target"]
    provisioned = _series_named(chart, "provisioned concurrency")
    assert provisioned["s"] == 1
    assert provisioned["y"][209:211] == [4, 8]
    path = re.findall(r'<path class="line" d="([^"]+)" stroke="#009E73"', figure)[0]
    assert "H" in path
    assert "V" in path


def test_dependency_chart_has_calls_by_status_retries_and_cache(
    long_run: tuple[dict[str, Any], str],
) -> None:
    _, document = long_run
    chart = _chart_data(document, "dependencies")

    assert [s["n"] for s in chart["series"]] == [
        "feature-store 200",
        "feature-store 503",
        "endpoint upstream retries",
        "endpoint cache hits",
        "endpoint cache misses",
    ]
    assert _series_named(chart, "feature-store 503")["y"][199:201] == [0, 2]


def test_distribution_overlays_each_phase_on_a_scale_of_nines(
    long_run: tuple[dict[str, Any], str],
) -> None:
    data, document = long_run
    chart = _chart_data(document, "distribution")

    assert [s["n"] for s in chart["series"]] == ["baseline", "during:slow", "recovery"]
    slow = _series_named(chart, "during:slow")
    assert slow["y"] == [ms for _, ms in data["phases"]["during:slow"]["distribution"]]
    assert chart["x"][7:] == [2.0, 3.0, 4.0, 5.0]  # p99, p99.9, p99.99, max
    assert [label == "p99.9" for x, label in chart["names"] if x == 3.0] == [True]


def test_distribution_falls_back_to_the_phase_summary() -> None:
    data = _run(30)
    for phase in data["phases"].values():
        del phase["distribution"]

    document = render_html(data)

    chart = _chart_data(document, "distribution")
    baseline = _series_named(chart, "baseline")
    assert baseline["y"] == pytest.approx([43.0 / 3, 43.0 / 1.5, 43.0, 86.0], abs=1e-3)
    assert "show p50, p90, p99 and max" in _figure(document, "distribution")


def test_lag_chart_draws_the_bound_or_says_it_was_not_recorded() -> None:
    data = _run(30)
    data["generator"]["max_lag_ms"] = 10.0
    figure = _figure(render_html(data), "lag")
    assert "<title>bound 10 ms</title><line" in figure

    for row in data["timeline"]:
        del row["lag_p99_ms"]
    document = render_html(data)
    assert '<figure class="chart" id="chart-lag">' not in document
    assert (
        "Not drawn: the generator&#x27;s scheduling lag per second was not recorded in this "
        "run; over the whole run its lag p99 was 0.45 ms."
    ) in document


def test_budget_cards_say_phase_limit_observed_and_first_second_over(
    long_run: tuple[dict[str, Any], str],
) -> None:
    _, document = long_run
    cards = re.findall(r'<div class="card[^"]*">(.*?)</div>', document)

    assert len(cards) == 5
    slow = next(card for card in cards if "p99_ms &lt; 400" in card)
    assert '<p class="phase">phase <b>during:slow</b></p>' in slow
    assert "<dt>limit</dt><dd>&lt; 400 ms</dd>" in slow
    assert "<dt>observed</dt><dd>480.1 ms</dd>" in slow
    assert "<dt>first second over</dt><dd>t=201 s</dd>" in slow  # the first whole second
    errors = next(card for card in cards if "error_rate" in card)
    assert "<dd>0.0125 (1.25 %)</dd>" in errors
    assert "<dt>first second over</dt><dd>t=201 s</dd>" in errors
    held = next(card for card in cards if "p50_ms" in card)
    assert "<dt>first second over</dt><dd>-</dd>" in held
    calls = next(card for card in cards if "dep.feature-store" in card)
    assert "<dt>first second over</dt><dd>-</dd>" in calls


def test_first_second_over_uses_edge_seconds_only_for_short_phases() -> None:
    budget = _budget("p99_ms < 100", "during:blip", None, False)
    rows = [{"t": t, "p99_ms": 150.0 if t == 3 else 10.0} for t in range(6)]

    assert first_second_over(budget, rows, {"during:blip": (3.2, 3.7)}) == 3
    assert first_second_over(budget, rows, {"during:blip": (2.5, 5.0)}) == 3
    assert first_second_over(budget, rows, {"during:blip": (3.5, 6.0)}) is None
    assert first_second_over(budget, rows, {}) is None


@pytest.mark.parametrize(
    ("starts", "ends", "names"),
    [
        ({"a": 4.003}, {"a": 8.004}, ["a"]),
        ({"a": 2.0, "b": 5.0}, {"a": 6.0}, ["a", "b"]),
        ({"a": 2.0}, {}, ["a", "b"]),
    ],
)
def test_phase_spans_mirror_the_phase_clock(
    starts: dict[str, float], ends: dict[str, float], names: list[str]
) -> None:
    clock = PhaseClock(names)
    for name, t in starts.items():
        clock.started(name, t)
    for name, t in ends.items():
        clock.ended(name, t)
    data = {
        "duration_s": 12.3,
        "phases": {name: {"seconds": 1.0} for name in clock.phase_names()}
        | {"overall": {"seconds": 12.0}},
        "faults": [
            {"name": name, "actual_start_s": t, "actual_end_s": ends.get(name)}
            for name, t in starts.items()
        ],
    }

    assert phase_spans(data) == clock.spans(12.0)


def test_an_invalid_run_says_so_on_top_with_its_notes() -> None:
    data = _run(20)
    data["valid"] = False
    data["notes"] = ["generator fell behind its schedule: lag p99 31.0 ms > 10 ms"]

    document = render_html(data)

    assert '<span class="FAIL">FAIL</span> <span class="INVALID">INVALID</span></h1>' in document
    assert "<li>invalid run: generator fell behind its schedule: lag p99 31.0 ms" in document


def test_names_cannot_break_out_of_the_page() -> None:
    data = _run(20)
    data["faults"][0]["name"] = "<b>slow</b>"
    hostile = "</script><script>alert(1)</script>"
    data["series"]["dependencies"] = {hostile: [{"t": 1, "statuses": {"200": 3}}]}

    document = render_html(data)

    assert "<b>slow</b>" not in document
    assert "alert(1)</script>" not in document
    chart = _chart_data(document, "dependencies")
    assert chart["series"][0]["n"].startswith("</script><script>alert(1)")


def _old_results() -> dict[str, Any]:
    """A results.json from before the charts' keys: no series, environment, distributions,
    lag, budget metrics or phase spans."""
    data = _run(12)
    for key in ("series", "environment", "endpoint_hop", "client", "resources", "aborted"):
        del data[key]
    for phase in data["phases"].values():
        del phase["distribution"]
    for row in data["timeline"]:
        for key in ("lag_p99_ms", "max_ms", "statuses", "failures", "inflight"):
            del row[key]
    for budget in data["budgets"]:
        for key in ("metric", "op", "limit", "note"):
            del budget[key]
    return data


def _no_requests() -> dict[str, Any]:
    data = _run(5)
    none = dict.fromkeys(("p50_ms", "p90_ms", "p99_ms", "max_ms", "service_p50_ms"))
    data["timeline"] = [
        {**_row(t), **none, "completed": 0, "errors": 0, "statuses": {}, "failures": {},
         "queue_depth": None, "inflight": None, "lag_p99_ms": None}
        for t in range(5)
    ]  # fmt: skip
    for phase in data["phases"].values():
        phase.update(requests=0, distribution=[], **dict.fromkeys(("p50_ms", "p90_ms", "p99_ms")))
        phase["max_ms"] = None
    data["summary"] = data["phases"]["overall"]
    data["series"] = {"provisioned": [], "provisioned_target": [], "endpoint": {}}
    for budget in data["budgets"]:
        budget["observed"] = None
    return data


def test_old_results_render_with_what_they_have() -> None:
    document = render_html(_old_results())

    assert document.startswith("<!doctype html>")
    assert document.rstrip().endswith("</html>")
    assert '<figure class="chart" id="chart-latency">' in document
    assert '<figure class="chart" id="chart-responses">' not in document
    assert "Not drawn: the generator&#x27;s scheduling lag per second was not recorded" in document
    latency = _chart_data(document, "latency")
    assert [s["n"] for s in latency["series"]] == ["p50", "p90", "p99"]
    assert [s["n"] for s in _chart_data(document, "concurrency")["series"]] == ["queue depth"]


def test_a_run_with_no_requests_renders_and_says_what_is_missing() -> None:
    document = render_html(_no_requests())

    assert "Not drawn: no request completed, so no latency." in document
    assert "Not drawn: no phase had requests." in document
    assert '<figure class="chart" id="chart-rate">' in document
    assert "<dt>observed</dt><dd>not measured</dd>" in document


@pytest.mark.parametrize("build", [_run, _old_results, _no_requests])
def test_any_key_missing_or_none_still_renders(build: Any) -> None:
    base = build() if build is not _run else _run(8)
    for key in list(base):
        for broken in (None, "damaged"):
            data = copy.deepcopy(base)
            data[key] = broken
            assert render_html(data).startswith("<!doctype html>"), (key, broken)
            del data[key]
            assert render_html(data).startswith("<!doctype html>"), key
    assert '<h1>run <span class="FAIL">FAIL</span></h1>' in render_html({})


def test_none_inside_rows_series_and_faults_still_renders() -> None:
    data = _run(10)
    data["timeline"][3] = dict.fromkeys(data["timeline"][3])
    data["timeline"].append(None)
    data["faults"].append({"name": None, "actual_start_s": None})
    data["faults"].append({"name": "open", "actual_start_s": 6.0, "actual_end_s": None})
    data["series"]["provisioned"] = [[1, None], None, [2], ["x", 3]]
    data["series"]["dependencies"] = {"store": [None, {"t": None}, {"t": 2, "statuses": None}]}
    data["phases"]["baseline"]["distribution"] = [[None, 3], [50], "x"]
    data["budgets"].append(None)

    document = render_html(data)

    # The fault that never ended is shaded to the end of the run.
    figure = _figure(document, "latency")
    assert "applied 6-the end s" in figure
    assert re.search(r'<g class="band"><title>open: [^<]+</title><rect x="[\d.]+" y="26" ', figure)
