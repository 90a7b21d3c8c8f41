"""certificate.html from a certificate built in the test: the capacity search and the
concurrency sweep drawn as charts with units, markers, the goal and what was found, in one
page that fetches nothing. A real certification's page is in the integration tier's
test_certify."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from harness.certify.certificate import render_certificate_html
from harness.report.assets import HOVER_SCRIPT, STYLE
from harness.report.charts import LEFT, PLOT_H, PLOT_W, TOP

# The capacity search as run_capacity records it: sorted by rate, the last one broke the goal.
CAPACITY_CURVE = [
    {"rate": 25.0, "p50_ms": 20.0, "p99_ms": 40.0, "holds": True},
    {"rate": 50.0, "p50_ms": 22.0, "p99_ms": 60.0, "holds": True},
    {"rate": 75.0, "p50_ms": 30.0, "p99_ms": 110.0, "holds": True},
    {"rate": 87.5, "p50_ms": 45.0, "p99_ms": 180.0, "holds": True},
    {"rate": 100.0, "p50_ms": 90.0, "p99_ms": 260.0, "holds": False},
]
CONCURRENCY_CURVE = [
    {"concurrency": 1, "throughput_rps": 9.5, "p50_ms": 100.0, "p99_ms": 110.0},
    {"concurrency": 2, "throughput_rps": 19.0, "p50_ms": 101.0, "p99_ms": 115.0},
    {"concurrency": 4, "throughput_rps": 37.0, "p50_ms": 104.0, "p99_ms": 130.0},
    {"concurrency": 8, "throughput_rps": 39.0, "p50_ms": 190.0, "p99_ms": 240.0},
]


def _certificate() -> dict[str, Any]:
    """A certificate.json in Certificate.to_json's shape, with both curves."""
    goal = {"target_qps": 80.0, "p99_ms": 200.0, "p50_ms": None, "error_rate": 0.01,
            "degraded_error_rate": 0.05, "recovery_s": 10.0, "cold_start_s": None}  # fmt: skip
    return {
        "ready": False,
        "name": "checkout",
        "spec": {"source": "readiness.yaml", "sha256": "ab" * 32},
        "goal": goal,
        "profile": "fast",
        "checks": [
            {"name": "baseline", "verdict": "pass", "summary": "at 8 req/s: p99 40.0 ms",
             "numbers": {"rate": 8.0}, "curve": [], "budgets": []},
            {"name": "capacity", "verdict": "pass", "summary": "87.5 req/s",
             "numbers": {"capacity_rps": 87.5, "first_failing_rps": 100.0, "target_qps": 80.0},
             "curve": CAPACITY_CURVE, "budgets": []},
            {"name": "concurrency", "verdict": "fail", "summary": "knee at 4",
             "numbers": {"knee_concurrency": 4, "knee_throughput_rps": 39.0,
                         "required_concurrency": 9, "baseline_mean_ms": 105.0,
                         "provisioned_concurrency": 4},
             "curve": CONCURRENCY_CURVE, "budgets": []},
        ],
        "recommendation": {"min_provisioned_concurrency": 9, "max_provisioned_concurrency": 17,
                           "capacity_rps": 87.5},
        "environment": {"backend": "process", "python": "3.11.7", "platform": "Linux",
                        "cpus": 2, "harness_version": "0.1.0"},
        "started_at": "2026-01-01T00:00:00+00:00",
        "duration_s": 95.5,
    }  # fmt: skip


def _figure(page: str, key: str) -> str:
    assert f'<figure class="chart" id="chart-{key}">' in page, f"no chart {key}"
    return page.split(f'id="chart-{key}"', 1)[1].split("</figure>", 1)[0]


def _path_points(figure: str, name: str, unit: str) -> list[tuple[float, float]]:
    found = re.search(
        rf'<path class="line" d="M([^"M]+)"[^>]*><title>{name} \({re.escape(unit)}\)</title>',
        figure,
    )
    assert found, f"no single unbroken line for {name}"
    return [(float(x), float(y)) for x, y in re.findall(r"([\d.]+),([\d.]+)", found.group(1))]


def _hover(figure: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', figure)
    assert found
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _y(value: float, top: float) -> float:
    return TOP + PLOT_H - value / top * PLOT_H


def _x(value: float, end: float) -> float:
    return LEFT + value / end * PLOT_W


def test_the_capacity_curve_is_a_chart_of_latency_by_rate_with_the_goal_and_the_capacity() -> None:
    figure = _figure(render_certificate_html(_certificate()), "capacity-latency")

    # The x axis runs to 5 % past the highest rate tried, so its marker is not cut: 0..105.
    # The y axis reaches the highest p99 (260 ms) with headroom, on round steps: 0..300.
    p99 = _path_points(figure, "p99", "ms")
    assert len(p99) == len(CAPACITY_CURVE)
    for (x, y), point in zip(p99, CAPACITY_CURVE, strict=True):
        assert x == pytest.approx(_x(point["rate"], 105.0), abs=0.05)
        assert y == pytest.approx(_y(point["p99_ms"], 300.0), abs=0.05)
    assert len(_path_points(figure, "p50", "ms")) == len(CAPACITY_CURVE)
    assert re.search(r'stroke-dasharray="6 4"><title>p50 \(ms\)</title>', figure)
    assert figure.count("<circle ") == 2 * len(CAPACITY_CURVE)
    assert '<text class="axis-title" x=' in figure
    assert ">offered rate (req/s)</text>" in figure
    assert ">latency (ms)</text>" in figure
    ticks = re.findall(r'<text x="[\d.]+" y="272" text-anchor="middle">([\d.]+)<', figure)
    assert ticks == ["0", "20", "40", "60", "80", "100"]
    # The goal's p99 as a rule across the whole chart, at 200 of 300 ms.
    rule = re.search(
        r'<g class="rule"><title>goal p99 200 ms</title><line x1="([\d.]+)" x2="([\d.]+)" '
        r'y1="([\d.]+)"',
        figure,
    )
    assert rule, "no goal rule"
    assert float(rule.group(1)) == LEFT
    assert float(rule.group(2)) == pytest.approx(LEFT + PLOT_W, abs=0.05)
    assert float(rule.group(3)) == pytest.approx(_y(200.0, 300.0), abs=0.05)
    # The capacity lies between the highest rate that held and the lowest that broke.
    band = re.search(
        r'<g class="band"><title>([^<]+)</title><rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"'
        r".*?>([^<]+)</text></g>",
        figure,
    )
    assert band, "no capacity band"
    assert band.group(1) == "held the goal at 87.5 req/s, broke it at 100 req/s; target 80 req/s"
    assert float(band.group(2)) == pytest.approx(_x(87.5, 105.0), abs=0.05)
    assert float(band.group(3)) == pytest.approx(12.5 / 105.0 * PLOT_W, abs=0.05)
    assert band.group(4) == "capacity 87.5 req/s"
    assert "</span>capacity found</li>" in figure
    assert "</span>goal</li>" in figure
    assert "fault window" not in figure
    # Hover names each rate tried, and whether it held.
    hover = _hover(figure)
    assert hover["x"] == [25.0, 50.0, 75.0, 87.5, 100.0]
    assert hover["names"][-1] == [100.0, "100 req/s: broke the goal"]
    assert hover["names"][0] == [25.0, "25 req/s: held the goal"]


def test_the_concurrency_sweep_is_throughput_and_latency_by_concurrency_with_the_knee() -> None:
    page = render_certificate_html(_certificate())
    throughput = _figure(page, "concurrency-throughput")
    latency = _figure(page, "concurrency-latency")

    carried = _path_points(throughput, "throughput", "req/s")
    assert len(carried) == len(CONCURRENCY_CURVE)
    # 39 req/s highest, the 80 req/s target kept in view: 80 x 1.04 on steps of 20, 0..100.
    assert carried[-1][1] == pytest.approx(_y(39.0, 100.0), abs=0.05)
    assert re.search(r'<g class="rule"><title>target 80 req/s</title>', throughput)
    assert ">throughput (req/s)</text>" in throughput
    assert ">concurrent requests (closed loop)</text>" in throughput
    assert len(_path_points(latency, "p99", "ms")) == len(CONCURRENCY_CURVE)
    assert ">latency (ms)</text>" in latency
    assert '<g class="rule"><title>goal p99 200 ms</title>' in latency
    for figure in (throughput, latency):
        knee = re.search(r'<g class="band"><title>([^<]+)</title><rect x="([\d.]+)"', figure)
        assert knee, "no knee"
        assert knee.group(1) == (
            "throughput stops growing past 4 concurrent requests, 39.0 req/s at most"
        )
        assert float(knee.group(2)) == pytest.approx(_x(4.0, 8.4), abs=0.05)
        assert ">knee 4</text>" in figure
        assert _hover(figure)["names"][2] == [4.0, "4 concurrent requests"]


def test_the_page_is_one_file_that_fetches_nothing_and_carries_the_hover_script() -> None:
    page = render_certificate_html(_certificate())

    assert page.startswith("<!doctype html>")
    assert '<span class="NOT">NOT READY</span>' in page
    assert STYLE in page
    assert page.count(HOVER_SCRIPT) == 1
    assert page.count('<figure class="chart"') == 3  # the baseline has no curve
    assert not re.search(r"\b(src|href)\s*=", page, re.IGNORECASE)
    assert "http://" not in page
    assert "https://" not in page
    assert "<polyline" not in page


def test_a_curve_with_nothing_measured_and_a_search_that_never_broke() -> None:
    data = _certificate()
    capacity = data["checks"][1]
    silent = copy.deepcopy(data)
    for point in silent["checks"][1]["curve"]:
        point["p50_ms"] = point["p99_ms"] = None
    assert 'id="chart-capacity-latency"' not in render_certificate_html(silent)

    capacity["curve"] = CAPACITY_CURVE[:4]
    capacity["numbers"] = {"capacity_rps": 87.5, "first_failing_rps": None, "target_qps": 80.0}
    figure = _figure(render_certificate_html(data), "capacity-latency")
    band = re.search(r'<g class="band"><title>([^<]+)</title><rect x="([\d.]+)"', figure)
    assert band
    assert band.group(1) == "held the goal at every rate tried, up to 87.5 req/s; target 80 req/s"
    assert float(band.group(2)) == pytest.approx(_x(87.5, 87.5 * 1.05), abs=0.05)
    assert "capacity \u2265 87.5 req/s</text>" in figure
