"""What a certification produced: certificate.json (goal, each check's verdict with the numbers
that decided it, the recommended provisioned concurrency, the environment, the spec's SHA-256)
and certificate.html, one self-contained page, verdict first, with the capacity search and the
concurrency sweep drawn by :mod:`harness.report.charts` (style and hover script inlined)."""

from __future__ import annotations

import html
import json
import math
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.certify.checks import CheckResult
from harness.certify.spec import ReadinessSpec
from harness.report.assets import HOVER_SCRIPT, STYLE
from harness.report.charts import Band, Chart, Point, Rule, Series, render_chart
from harness.report.junit import Case, write_junit
from harness.report.spans import as_list, as_map, as_number
from harness.verdict.results import harness_version

__all__ = ["Certificate", "render_certificate_html", "write_certificate"]


@dataclass(frozen=True, slots=True)
class Certificate:
    spec: ReadinessSpec
    checks: list[CheckResult]
    backend: str
    started_at: str
    duration_s: float

    @property
    def ready(self) -> bool:
        return all(check.passed is not False for check in self.checks)

    def recommendation(self) -> dict[str, Any]:
        """Provisioned concurrency: at least target x mean latency (Little's law on the
        baseline), at most what carries twice the target (a surge) at the concurrency sweep's
        throughput per unit of concurrency."""
        found = {check.name: check.numbers for check in self.checks}
        sweep = found.get("concurrency", {})
        minimum = sweep.get("required_concurrency")
        knee, knee_rps = sweep.get("knee_concurrency"), sweep.get("knee_throughput_rps")
        maximum = None
        if knee and knee_rps:
            maximum = math.ceil(2 * self.spec.goal.target_qps / (knee_rps / knee))
        return {
            "min_provisioned_concurrency": minimum,
            "max_provisioned_concurrency": maximum,
            "capacity_rps": found.get("capacity", {}).get("capacity_rps"),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "name": self.spec.name,
            "spec": {"source": self.spec.source, "sha256": self.spec.sha256},
            "goal": self.spec.goal.to_json(),
            "profile": self.spec.profile.name,
            "checks": [check.to_json() for check in self.checks],
            "recommendation": self.recommendation(),
            "environment": {
                "backend": self.backend,
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "harness_version": harness_version(),
            },
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 1),
        }


def write_certificate(
    certificate: Certificate, out_dir: Path, junit: Path | None = None
) -> list[Path]:
    """certificate.json and certificate.html in ``out_dir``; JUnit XML at ``junit`` if asked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = certificate.to_json()
    written = [out_dir / "certificate.json", out_dir / "certificate.html"]
    written[0].write_text(json.dumps(data, indent=2, default=str) + "\n")
    written[1].write_text(render_certificate_html(data))
    if junit is not None:
        write_junit(
            junit, f"certify {certificate.spec.name}", _cases(certificate), certificate.duration_s
        )
        written.append(junit)
    return written


def _cases(certificate: Certificate) -> list[Case]:
    cases = []
    for check in certificate.checks:
        failure = None if check.passed is not False else check.summary
        cases.append(Case("certify", check.name, failure))
        for budget in check.budgets:
            budget_failure = None
            if not budget["passed"]:
                budget_failure = (
                    f"expected {budget['expression']} over {budget['phase']}, "
                    f"observed {budget['observed']} {budget['note']}".rstrip()
                )
            name = f"{budget['scenario']}: {budget['name']} [{budget['phase']}]"
            cases.append(Case(f"certify.{check.name}", name, budget_failure))
    return cases


# Okabe and Ito's palette, as the run report draws it.
_BLUE, _GREEN, _VERMILLION, _BLACK = "#0072B2", "#009E73", "#D55E00", "#000000"
# What certificate.html adds to the report's style sheet: the verdicts' colours.
_PAGE_STYLE = """
.pass,.READY{color:var(--pass)}.fail,.NOT{color:var(--fail)}
"""


def render_certificate_html(data: dict[str, Any]) -> str:
    """certificate.html for certificate.json's ``data``."""
    verdict = "READY" if data["ready"] else "NOT READY"
    rows = "".join(
        f'<tr><td>{html.escape(c["name"])}</td><td class="{c["verdict"]}">{c["verdict"]}</td>'
        f"<td>{html.escape(c['summary'])}</td></tr>"
        for c in data["checks"]
    )
    details = "".join(_check_html(c, data["goal"]) for c in data["checks"])
    goal = ", ".join(f"{k} {v}" for k, v in data["goal"].items() if v is not None)
    recommended = ", ".join(f"{k} {v}" for k, v in data["recommendation"].items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(data["name"])}: {verdict}</title><style>{STYLE}{_PAGE_STYLE}</style></head>
<body>
<h1>{html.escape(data["name"])}: <span class="{verdict.split()[0]}">{verdict}</span></h1>
<p>goal: {html.escape(goal)}; profile {html.escape(data["profile"])}; backend
{html.escape(data["environment"]["backend"])}; spec {html.escape(data["spec"]["source"])}
(sha256 {data["spec"]["sha256"][:16]}...); {data["started_at"]}, {data["duration_s"]} s</p>
<p>recommended: {html.escape(recommended)}</p>
<table class="text"><thead><tr><th>check</th><th>verdict</th><th>why</th></tr></thead>
<tbody>{rows}</tbody></table>{details}
<script>{HOVER_SCRIPT}</script>
</body></html>
"""


def _check_html(check: dict[str, Any], goal: dict[str, Any]) -> str:
    numbers = html.escape(json.dumps(check["numbers"], default=str))
    charts = "".join(render_chart(chart) for chart in _curve_charts(check, goal))
    return f"<h2>{html.escape(check['name'])}</h2><p><code>{numbers}</code></p>{charts}"


def _curve_charts(check: dict[str, Any], goal: dict[str, Any]) -> list[Chart]:
    """The charts of a check's curve: latency by offered rate for the capacity search,
    throughput and latency by concurrency for the sweep; none for a check without a curve,
    nor one of a curve with nothing measured to draw."""
    curve = [as_map(point) for point in as_list(check.get("curve"))]
    numbers = as_map(check.get("numbers"))
    charts: list[Chart] = []
    if curve and "rate" in curve[0]:
        charts = [_capacity_chart(curve, numbers, goal)]
    elif curve and "concurrency" in curve[0]:
        charts = _concurrency_charts(curve, numbers, goal)
    return [chart for chart in charts if chart.series]


def _points(curve: list[Mapping[str, Any]], x_key: str, y_key: str) -> tuple[Point, ...]:
    found = ((as_number(p.get(x_key)), as_number(p.get(y_key))) for p in curve)
    return tuple((x, y) for x, y in found if x is not None)


def _x_range(points: tuple[Point, ...]) -> tuple[float, float]:
    # A little room on the right, so the last point's marker is not cut by the frame.
    top = max((x for x, _ in points), default=0.0)
    return 0.0, top * 1.05 if top > 0 else 1.0


def _latency_series(curve: list[Mapping[str, Any]], x_key: str) -> tuple[Series, ...]:
    p99 = Series("p99", _VERMILLION, "ms", _points(curve, x_key, "p99_ms"), markers=True)
    p50 = Series("p50", _GREEN, "ms", _points(curve, x_key, "p50_ms"), dashed=True, markers=True)
    return tuple(one for one in (p99, p50) if one.values())


def _goal_rule(goal: dict[str, Any], x_range: tuple[float, float]) -> tuple[Rule, ...]:
    """The goal's p99 across the chart, always in view: the distance below it is the point."""
    p99 = as_number(goal.get("p99_ms"))
    if p99 is None:
        return ()
    return (Rule(f"goal p99 {p99:g} ms", p99, x_range[0], x_range[1], _BLACK, in_view=True),)


def _capacity_band(numbers: Mapping[str, Any], end: float) -> tuple[Band, ...]:
    """The capacity found: from the highest rate that held to the lowest that broke, where
    the true limit lies (a line at the highest that held when nothing broke)."""
    held = as_number(numbers.get("capacity_rps"))
    broke = as_number(numbers.get("first_failing_rps"))
    if held is None:
        return ()
    target = as_number(numbers.get("target_qps"))
    aim = "" if target is None else f"; target {target:g} req/s"
    if broke is None:
        title = f"held the goal at every rate tried, up to {held:g} req/s{aim}"
        return (Band(f"capacity \u2265 {held:g} req/s", held, min(held, end), title),)
    name = f"capacity {held:g} req/s" if held > 0 else "no rate tried held"
    title = f"held the goal at {held:g} req/s, broke it at {broke:g} req/s{aim}"
    return (Band(name, held, broke, title),)


def _capacity_chart(
    curve: list[Mapping[str, Any]], numbers: Mapping[str, Any], goal: dict[str, Any]
) -> Chart:
    series = _latency_series(curve, "rate")
    x_range = _x_range(_points(curve, "rate", "rate"))
    labels = tuple(
        (x, f"{x:g} req/s: {'held' if point.get('holds') else 'broke'} the goal")
        for point in curve
        if (x := as_number(point.get("rate"))) is not None
    )
    return Chart(
        key="capacity-latency",
        title="Latency by offered rate, each rate the capacity search tried",
        x_title="offered rate (req/s)",
        y_title="latency (ms)",
        series=series,
        x_range=x_range,
        bands=_capacity_band(numbers, x_range[1]),
        rules=_goal_rule(goal, x_range),
        hover_labels=labels,
        time_axis=False,
        band_label="capacity found",
        rule_label="goal",
        note="Each point is one run at a constant rate; the shaded stretch is where the "
        "capacity lies, between the highest rate that held the goal and the lowest that broke it.",
    )


def _knee_band(numbers: Mapping[str, Any]) -> tuple[Band, ...]:
    knee = as_number(numbers.get("knee_concurrency"))
    if knee is None:
        return ()
    best = as_number(numbers.get("knee_throughput_rps"))
    carried = "" if best is None else f", {best:.1f} req/s at most"
    title = f"throughput stops growing past {knee:g} concurrent requests{carried}"
    return (Band(f"knee {knee:g}", knee, knee, title),)


def _concurrency_charts(
    curve: list[Mapping[str, Any]], numbers: Mapping[str, Any], goal: dict[str, Any]
) -> list[Chart]:
    x_range = _x_range(_points(curve, "concurrency", "concurrency"))
    labels = tuple(
        (x, f"{x:g} concurrent requests")
        for point in curve
        if (x := as_number(point.get("concurrency"))) is not None
    )
    carried = _points(curve, "concurrency", "throughput_rps")
    throughput = Series("throughput", _BLUE, "req/s", carried, markers=True)
    target = as_number(goal.get("target_qps"))
    aim = (
        Rule(f"target {target:g} req/s", target, *x_range, _BLACK, in_view=True) if target else None
    )
    by_throughput = Chart(
        key="concurrency-throughput",
        title="Throughput by concurrency",
        x_title="concurrent requests (closed loop)",
        y_title="throughput (req/s)",
        series=(throughput,) if throughput.values() else (),
        x_range=x_range,
        bands=_knee_band(numbers),
        rules=() if aim is None else (aim,),
        hover_labels=labels,
        time_axis=False,
        band_label="knee",
        rule_label="goal",
        note="Each point is a closed loop of that many users, each sending its next request "
        "when the last is answered; the knee is where throughput stops growing.",
    )
    by_latency = replace(
        by_throughput,
        key="concurrency-latency",
        title="Latency by concurrency",
        y_title="latency (ms)",
        series=_latency_series(curve, "concurrency"),
        rules=_goal_rule(goal, x_range),
        note="",
    )
    return [by_throughput, by_latency]
