"""The report's charts, made from results.json: latency percentiles per second with the latency
budgets over their phases, offered vs completed rate, responses per second by class, queue
depth with in-flight and provisioned concurrency, dependency calls by status, latency
distribution per phase, and the generator's own scheduling lag.

Every time chart shades and names the fault windows. A chart whose data a results.json does not
hold (an older file, a run with no requests) is an :class:`Absent` that says why instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.report.charts import Band, Chart, Point, Rule, Series
from harness.report.spans import as_list, as_map, as_number, phase_spans, run_seconds

__all__ = ["Absent", "figures"]

# Okabe and Ito's palette: told apart with every common colour-vision deficiency, and in print.
BLUE, ORANGE, GREEN, VERMILLION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
PURPLE, SKY, YELLOW, BLACK, GREY = "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#777777"
CYCLE = (BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY, BLACK, GREY)

TIME = "seconds from the start (s)"
_LATENCY = {"p50_ms": ("p50", GREEN), "p90_ms": ("p90", BLUE), "p99_ms": ("p99", VERMILLION),
            "max_ms": ("max", PURPLE)}  # fmt: skip
_PERCENTILE_BUDGET = re.compile(r"^p\d{1,2}(\.\d+)?_ms$")
_ENDPOINT_COUNTERS = {"upstream_retries": "endpoint upstream retries",
                      "cache_hits": "endpoint cache hits", "cache_misses": "endpoint cache misses",
                      "rejected": "endpoint rejected"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Absent:
    """A chart this run's data cannot draw, and why."""

    key: str
    title: str
    reason: str


Figure = Chart | Absent


def _timeline(data: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    rows = []
    for row in as_list(data.get("timeline")):
        found = as_map(row)
        t = as_number(found.get("t"))
        if t is not None:
            rows.append((int(t), found))
    return sorted(rows, key=lambda pair: pair[0])


def _x_range(data: Mapping[str, Any]) -> tuple[float, float]:
    end = max((t + 1 for t, _ in _timeline(data)), default=0.0)
    return 0.0, max(run_seconds(data), float(end), 1.0)


def _bands(data: Mapping[str, Any], end: float) -> tuple[Band, ...]:
    bands = []
    for fault in as_list(data.get("faults")):
        found = as_map(fault)
        start = as_number(found.get("actual_start_s"))
        if start is None:
            continue
        stop = as_number(found.get("actual_end_s"))
        name = str(found.get("name", "fault"))
        planned = (as_number(found.get("planned_start_s")), as_number(found.get("planned_end_s")))
        applied = f"applied {start:g}-{'the end' if stop is None else f'{stop:g}'} s"
        if planned[0] is not None and planned[1] is not None:
            applied = f"planned {planned[0]:g}-{planned[1]:g} s, {applied}"
        what = found.get("description")
        title = f"{name}: {what}; {applied}" if what else f"{name}: {applied}"
        bands.append(Band(name, start, end if stop is None else stop, title))
    return tuple(bands)


def _per_second(rows: Sequence[tuple[int, Mapping[str, Any]]], key: str) -> tuple[Point, ...]:
    """One value per second, drawn mid-second so it lines up with the fault windows."""
    return tuple((t + 0.5, as_number(row.get(key))) for t, row in rows)


def _shown(series: Sequence[Series]) -> tuple[Series, ...]:
    return tuple(one for one in series if one.values())


def _fmt(value: float) -> str:
    return f"{value:g}"


def latency_chart(data: Mapping[str, Any]) -> Figure:
    rows = _timeline(data)
    x_range = _x_range(data)
    series = _shown(
        [
            Series(name, color, "ms", _per_second(rows, key))
            for key, (name, color) in _LATENCY.items()
        ]
    )
    if not series:
        return Absent("latency", "Latency per second", "no request completed, so no latency")
    spans = phase_spans(data)
    rules = []
    for budget in as_list(data.get("budgets")):
        found = as_map(budget)
        metric = str(found.get("metric") or "").removeprefix("client.")
        limit = as_number(found.get("limit"))
        span = spans.get(str(found.get("phase")))
        if limit is None or span is None:
            continue
        if metric != "max_ms" and not _PERCENTILE_BUDGET.match(metric):
            continue
        color = _LATENCY.get(metric, ("", GREY))[1]
        name, op, phase = metric.removesuffix("_ms"), found.get("op"), found.get("phase")
        label = f"{name} {op} {_fmt(limit)} ms ({phase})"
        rules.append(Rule(label, limit, span[0], span[1], color))
    return Chart(
        key="latency",
        title="Latency per second, from each request's intended start",
        x_title=TIME,
        y_title="latency (ms)",
        series=series,
        x_range=x_range,
        bands=_bands(data, x_range[1]),
        rules=tuple(rules),
        note="Dashed lines are the latency budgets, each over the phase it is judged on.",
    )


def rate_chart(data: Mapping[str, Any]) -> Figure:
    rows = _timeline(data)
    if not rows:
        return Absent("rate", "Offered and completed rate", "the timeline is empty")
    x_range = _x_range(data)
    series = (
        Series("offered (scheduled)", BLUE, "req/s", _per_second(rows, "offered"), dashed=True),
        Series("completed (answered or failed)", ORANGE, "req/s", _per_second(rows, "completed")),
    )
    return Chart(
        key="rate",
        title="Offered vs completed rate",
        x_title=TIME,
        y_title="requests per second (req/s)",
        series=series,
        x_range=x_range,
        bands=_bands(data, x_range[1]),
        note="Requests counted in the second they were scheduled to start.",
    )


def _status_class(status: str) -> str:
    if status == "429":
        return "429 too many requests"
    if status[:1] == "2":
        return "OK (2xx)"
    if status[:1] == "4":
        return "4xx (other)"
    if status[:1] == "5":
        return "5xx"
    return "other status"


_CLASS_COLORS = {"OK (2xx)": GREEN, "other status": SKY, "4xx (other)": ORANGE,
                 "429 too many requests": PURPLE, "5xx": VERMILLION}  # fmt: skip
_FAILURE_COLORS = (BLUE, BLACK, GREY, YELLOW, SKY)


def _response_counts(rows: Sequence[tuple[int, Mapping[str, Any]]]) -> dict[int, dict[str, float]]:
    counts: dict[int, dict[str, float]] = {}
    for t, row in rows:
        second = counts.setdefault(t, {})
        for status, n in as_map(row.get("statuses")).items():
            name = _status_class(str(status))
            second[name] = second.get(name, 0.0) + (as_number(n) or 0.0)
        for failure, n in as_map(row.get("failures")).items():
            name = f"failed: {failure}"
            second[name] = second.get(name, 0.0) + (as_number(n) or 0.0)
    return counts


def responses_chart(data: Mapping[str, Any]) -> Figure:
    counts = _response_counts(_timeline(data))
    seen = {name for second in counts.values() for name, n in second.items() if n}
    if not seen:
        return Absent("responses", "Responses per second", "no request completed")
    order = [name for name in _CLASS_COLORS if name in seen]
    failures = sorted(name for name in seen if name.startswith("failed: "))
    colors = {**_CLASS_COLORS}
    for i, name in enumerate(failures):
        colors[name] = _FAILURE_COLORS[i % len(_FAILURE_COLORS)]
    # Every second from the first to the last, so the stacked layers have no holes.
    seconds = range(min(counts), max(counts) + 1)
    series = tuple(
        Series(
            name,
            colors[name],
            "resp/s",
            tuple((float(t), counts.get(t, {}).get(name, 0.0)) for t in seconds),
            step=True,
        )
        for name in order + failures
    )
    x_range = _x_range(data)
    return Chart(
        key="responses",
        title="Responses per second, by status class and failure class",
        x_title=TIME,
        y_title="responses per second (resp/s)",
        series=series,
        x_range=x_range,
        bands=_bands(data, x_range[1]),
        stacked=True,
        note="Stacked: OK at the bottom, then status classes, then requests that got no answer.",
    )


def _pairs(value: object) -> tuple[Point, ...]:
    points = []
    for pair in as_list(value):
        both = as_list(pair)
        if len(both) >= 2:
            t = as_number(both[0])
            if t is not None:
                points.append((t, as_number(both[1])))
    return tuple(sorted(points, key=lambda p: p[0]))


def _gauge(rows: Sequence[tuple[int, Mapping[str, Any]]], key: str) -> tuple[Point, ...]:
    """A gauge's reading per second, held from the second's start to the next."""
    return tuple((float(t), as_number(row.get(key))) for t, row in rows)


def concurrency_chart(data: Mapping[str, Any]) -> Figure:
    rows = _timeline(data)
    series_data = as_map(data.get("series"))
    series = _shown(
        [
            Series("queue depth", VERMILLION, "requests",
                   _gauge(rows, "queue_depth"), step=True),
            Series("in flight", BLUE, "requests",
                   _gauge(rows, "inflight"), step=True),
            Series("provisioned concurrency", GREEN, "units",
                   _pairs(series_data.get("provisioned")), step=True),
            Series("autoscaler target", BLACK, "units",
                   _pairs(series_data.get("provisioned_target")), step=True, dashed=True),
        ]
    )  # fmt: skip
    if not series:
        return Absent(
            "concurrency",
            "Queue depth, in flight and provisioned concurrency",
            "the endpoint exposed no queue depth, in-flight or provisioned-concurrency gauges",
        )
    x_range = _x_range(data)
    return Chart(
        key="concurrency",
        title="Queue depth, in flight and provisioned concurrency",
        x_title=TIME,
        y_title="requests or units (count)",
        series=series,
        x_range=x_range,
        bands=_bands(data, x_range[1]),
        note="Each second's highest reading of the endpoint's gauges, held as steps.",
    )


def _dependency_series(data: Mapping[str, Any]) -> list[Series]:
    series = []
    found = as_map(as_map(data.get("series")).get("dependencies"))
    for name, points in found.items():
        seconds = []
        for point in as_list(points):
            entry = as_map(point)
            t = as_number(entry.get("t"))
            if t is not None:
                seconds.append((t, as_map(entry.get("statuses"))))
        statuses = sorted({str(s) for _, counted in seconds for s in counted})
        for status in statuses:
            values = tuple(
                (t + 0.5, as_number(counted.get(status)) or 0.0) for t, counted in seconds
            )
            series.append(Series(f"{name} {status}", GREY, "calls/s", values))
    endpoint = as_map(as_map(data.get("series")).get("endpoint"))
    for key, label in _ENDPOINT_COUNTERS.items():
        points = tuple((t + 0.5, y) for t, y in _pairs(endpoint.get(key)))
        series.append(Series(label, GREY, "per s", points, dashed=True))
    shown = [one for one in series if any(v for v in one.values())]
    return [
        Series(one.name, CYCLE[i % len(CYCLE)], one.unit, one.points, dashed=one.dashed)
        for i, one in enumerate(shown)
    ]


def dependencies_chart(data: Mapping[str, Any]) -> Figure:
    series = _dependency_series(data)
    if not series:
        return Absent(
            "dependencies",
            "Dependency calls per second",
            "no per-second dependency calls, retries or cache counts were recorded",
        )
    x_range = _x_range(data)
    return Chart(
        key="dependencies",
        title="Dependency calls per second by status, with the endpoint's retries and cache",
        x_title=TIME,
        y_title="calls or events per second (1/s)",
        series=tuple(series),
        x_range=x_range,
        bands=_bands(data, x_range[1]),
        note="Dependency calls as each stub counted them; dashed lines are the endpoint's own "
        "counters.",
    )


def _nines(percentile: float, top: float) -> float:
    """Where a percentile sits on a scale of nines: p90 at 1, p99 at 2, p99.9 at 3; max at top."""
    if percentile >= 100:
        return top
    return -math.log10(1 - percentile / 100)


def _distributions(data: Mapping[str, Any]) -> tuple[dict[str, list[tuple[float, float]]], bool]:
    """Each phase's (percentile, ms) curve, and whether any came from a summary's four points."""
    phases = as_map(data.get("phases"))
    names = [n for n in phases if n != "overall"] or [n for n in phases if n == "overall"]
    order = sorted(names, key=lambda n: (n != "baseline", n == "recovery"))
    curves: dict[str, list[tuple[float, float]]] = {}
    summarized = False
    for name in order:
        phase = as_map(phases.get(name))
        curve = []
        for pair in as_list(phase.get("distribution")):
            both = as_list(pair)
            if len(both) >= 2:
                p, ms = as_number(both[0]), as_number(both[1])
                if p is not None and ms is not None and 0 <= p <= 100:
                    curve.append((p, ms))
        if not curve:
            four = ((50.0, "p50_ms"), (90.0, "p90_ms"), (99.0, "p99_ms"), (100.0, "max_ms"))
            curve = [(p, ms) for p, key in four if (ms := as_number(phase.get(key))) is not None]
            summarized = summarized or bool(curve)
        if curve:
            curves[str(name)] = sorted(curve)
    return curves, summarized


def _phase_color(name: str, fault_index: int) -> str:
    if name == "baseline":
        return BLUE
    if name == "recovery":
        return GREEN
    if name == "overall":
        return BLACK
    return (VERMILLION, PURPLE, ORANGE, SKY, GREY)[fault_index % 5]


def _percentile_label(p: float) -> str:
    return "max" if p >= 100 else f"p{p:g}"


def distribution_chart(data: Mapping[str, Any]) -> Figure:
    curves, summarized = _distributions(data)
    if not curves:
        return Absent("distribution", "Latency distribution per phase", "no phase had requests")
    finite = [_nines(p, 0.0) for curve in curves.values() for p, _ in curve if p < 100]
    top = float(max(4, math.ceil(max(finite, default=0.0) - 1e-9)) + 1)
    ticks = [(0.0, "p0"), (_nines(50, top), "p50")]
    ticks += [(float(n), _percentile_label(100 - 100 / 10**n)) for n in range(1, int(top))]
    ticks.append((top, "max"))
    series = []
    faults = 0
    for name, curve in curves.items():
        color = _phase_color(name, faults)
        faults += name.startswith("during:")
        points = tuple((_nines(p, top), ms) for p, ms in curve)
        series.append(Series(name, color, "ms", points, markers=True))
    labels = {_nines(p, top): _percentile_label(p) for curve in curves.values() for p, _ in curve}
    note = "Each phase's latency at each percentile; the x axis spreads the tail by nines."
    if summarized:
        note += " Phases without a full distribution in results.json show p50, p90, p99 and max."
    return Chart(
        key="distribution",
        title="Latency distribution per phase",
        x_title="percentile (scale of nines: p90, p99, p99.9 equally spaced)",
        y_title="latency (ms)",
        series=tuple(series),
        x_range=(0.0, top),
        ticks=tuple(ticks),
        hover_labels=tuple(sorted(labels.items())),
        time_axis=False,
        note=note,
    )


def lag_chart(data: Mapping[str, Any]) -> Figure:
    rows = _timeline(data)
    points = _per_second(rows, "lag_p99_ms")
    generator = as_map(data.get("generator"))
    if not any(y is not None for _, y in points):
        whole = as_number(generator.get("lag_p99_ms"))
        said = f"; over the whole run its lag p99 was {whole:g} ms" if whole is not None else ""
        return Absent(
            "lag",
            "Generator scheduling lag",
            f"the generator's scheduling lag per second was not recorded in this run{said}",
        )
    x_range = _x_range(data)
    bound = as_number(generator.get("max_lag_ms"))
    if bound is None:
        bound = as_number(as_map(data.get("load")).get("max_lag_ms"))
    rules = (
        ()
        if bound is None
        else (Rule(f"bound {bound:g} ms", bound, *x_range, VERMILLION, in_view=True),)
    )
    return Chart(
        key="lag",
        title="Generator scheduling lag: how late requests left against their schedule",
        x_title=TIME,
        y_title="scheduling lag p99 (ms)",
        series=(Series("lag p99", BLUE, "ms", points),),
        x_range=x_range,
        bands=_bands(data, x_range[1]),
        rules=rules,
        note="Above the bound the load itself was late and the run is invalid; below it the "
        "latencies above are the endpoint's.",
    )


def figures(data: Mapping[str, Any]) -> list[Figure]:
    """Every chart of the report, in the order the page shows them."""
    return [
        latency_chart(data),
        rate_chart(data),
        responses_chart(data),
        concurrency_chart(data),
        dependencies_chart(data),
        distribution_chart(data),
        lag_chart(data),
    ]
